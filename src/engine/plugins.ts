// Plugins: ES modules whose default export is called with the distill-ts API, so that a user's
// models, methods and datasets register themselves and work from YAML and the CLI like
// built-in ones. The API is handed over (not imported by the plugin) so a plugin works wherever
// it lives, even where 'distill-ts' would resolve to another copy of the package.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  applyOverrides,
  configFrom,
  pluginPaths,
  readConfigFile,
  type ExperimentConfig,
  type ValidateOptions,
} from './config.js';
import { InputError } from './errors.js';

const loaded = new Map<string, Promise<void>>();

/** Loads each plugin once (by resolved path) and calls its default export with the API. */
export async function loadPlugins(files: string[], api?: object): Promise<void> {
  for (const file of files) {
    const resolved = path.resolve(file);
    let pending = loaded.get(resolved);
    if (!pending) {
      pending = loadOne(resolved, api);
      loaded.set(resolved, pending);
      pending.catch(() => loaded.delete(resolved));
    }
    await pending;
  }
}

async function loadOne(file: string, api?: object): Promise<void> {
  if (!existsSync(file)) throw new InputError(`plugin ${file} not found; check the path (relative to the config file)`);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw new InputError(`plugin ${file} failed to load: ${(err as Error).message}`, { cause: err });
  }
  if (typeof mod.default !== 'function')
    throw new InputError(
      `plugin ${file} must export a default function: export default (distill) => { distill.registerModel(...) }`,
    );
  // The package entry, loaded lazily: engine code sits below it.
  const distill = api ?? (await import('../index.js'));
  try {
    await (mod.default as (api: object) => unknown)(distill);
  } catch (err) {
    throw new InputError(`plugin ${file} failed while registering: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A config from its parsed YAML (or JSON) object, as read from `file`: overrides applied to a
 * copy, the plugins it names loaded (relative to the file's folder), then validated.
 */
export async function configFromObject(
  raw: Record<string, unknown>,
  file: string,
  overrides: string[] = [],
  options: ValidateOptions = {},
): Promise<ExperimentConfig> {
  const withOverrides = applyOverrides(structuredClone(raw), overrides);
  await loadPlugins(pluginPaths(withOverrides, file));
  return configFrom(withOverrides, file, options);
}

/** Reads a YAML config, loads the plugins it names (relative to its folder), then validates it. */
export function loadConfig(file: string, overrides: string[] = [], options: ValidateOptions = {}): Promise<ExperimentConfig> {
  return configFromObject(readConfigFile(file), file, overrides, options);
}
