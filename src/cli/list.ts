// `distill list models|methods|datasets`: what the registries hold (plugins' entries included),
// with descriptions, paper links and each method's options and defaults.
import { z } from 'zod';
import { modelEntries } from '../models/index.js';
import { methodEntries, methodEntry, type MethodEntry } from '../distillers/index.js';
import { datasetEntries } from '../data/registry.js';

export type ListKind = 'models' | 'methods' | 'datasets';

/** An option's type, constraints and default, from its zod schema. */
function describeOption(schema: z.ZodTypeAny): { type: string; default: unknown; note: string } {
  let s = schema;
  let def: unknown = undefined;
  let note = s.description ?? '';
  for (;;) {
    if (s instanceof z.ZodDefault) def = s._def.defaultValue();
    else if (!(s instanceof z.ZodOptional || s instanceof z.ZodNullable)) break;
    s = s._def.innerType;
    note ||= s.description ?? '';
  }
  let type = s._def.typeName.replace(/^Zod/, '').toLowerCase();
  if (s instanceof z.ZodNumber) {
    const checks = s._def.checks.map((c) =>
      c.kind === 'int'
        ? 'integer'
        : c.kind === 'min'
          ? `${c.inclusive ? '>=' : '>'} ${c.value}`
          : c.kind === 'max'
            ? `${c.inclusive ? '<=' : '<'} ${c.value}`
            : c.kind,
    );
    if (checks.length) type += ` (${checks.join(', ')})`;
  }
  if (s instanceof z.ZodEnum) type = `one of ${(s.options as string[]).join(' | ')}`;
  return { type, default: def, note };
}

function methodDetail(m: MethodEntry): string {
  const lines = [`${m.name}: ${m.description}`];
  if (m.paper) lines.push(`  paper: ${m.paper}`);
  const notes = [
    m.equalWidths ? 'student and teacher features of equal width' : '',
    m.deploysStudentAlone ? '' : 'deploys the student with its own modules and parts of the teacher (student.pt holds them)',
    m.strongView ? 'the second view strongly augmented (dataset.strongAugment)' : '',
    m.classPairs ? 'each batch with a same-class partner per sample' : '',
  ].filter(Boolean);
  lines.push(`  teacher: ${m.needsTeacher ? 'yes' : 'no'}; views: ${m.views}${notes.map((n) => `; ${n}`).join('')}`);
  const shape = Object.entries(m.options.shape as Record<string, z.ZodTypeAny>);
  lines.push(shape.length ? '  options:' : '  options: none');
  for (const [k, v] of shape) {
    const d = describeOption(v);
    lines.push(
      `    ${k}: ${d.type}, default ${d.default === undefined ? '(see note)' : JSON.stringify(d.default)}${d.note ? ` — ${d.note}` : ''}`,
    );
  }
  if (m.example) lines.push(`  example: ${m.example}`);
  return lines.join('\n');
}

export function listing(kind: ListKind, name?: string): string {
  if (kind === 'methods') {
    if (name) return methodDetail(methodEntry(name));
    return methodEntries().map(methodDetail).join('\n\n');
  }
  const entries = kind === 'models' ? modelEntries() : datasetEntries();
  const chosen = name ? entries.filter((e) => e.name === name) : entries;
  if (name && !chosen.length)
    throw new Error(`no ${kind.slice(0, -1)} '${name}'; available: ${entries.map((e) => e.name).join(', ')}`);
  const width = Math.max(...chosen.map((e) => e.name.length));
  return chosen.map((e) => `${e.name.padEnd(width)}  ${e.description}`).join('\n');
}
