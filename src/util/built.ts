// Where `npm ci` put a compiled module: build/Release/<name> in the package root, found from here
// whether running from src/ (tests through tsx) or dist/src/.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function findBuilt(file: string, from: string = import.meta.url): string | null {
  let dir = path.dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'build', 'Release', file);
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}
