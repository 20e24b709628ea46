import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ENGINE = join(ROOT, 'pipeline', 'local', 'engine');

/** The relative imports (`from './x.ts'`, `import('../y.ts')`) of a TypeScript file, resolved to paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
    resolve(dirname(file), m[1] ?? ''),
  );
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.includes('node_modules'))
    .map((name) => join(folder, name));
}

describe('the local engine is a component with a boundary', () => {
  it('imports nothing of ours from outside its folder (no shared/, stages/ or other pipeline/ code)', () => {
    const outside = sourceFiles(ENGINE).flatMap((file) =>
      relativeImports(file)
        .filter((target) => !target.startsWith(`${ENGINE}/`))
        .map((target) => `${relative(ROOT, file)} -> ${relative(ROOT, target)}`),
    );

    expect(outside).toEqual([]);
  });

  it('is used by the rest of the production code through index.ts only', () => {
    const production = ['pipeline', 'stages', 'shared', 'infra'].flatMap((folder) => sourceFiles(join(ROOT, folder)));
    const inside = production
      .filter((file) => !file.startsWith(`${ENGINE}/`))
      .flatMap((file) =>
        relativeImports(file)
          .filter((target) => target.startsWith(`${ENGINE}/`) && target !== join(ENGINE, 'index.ts'))
          .map((target) => `${relative(ROOT, file)} -> ${relative(ROOT, target)}`),
      );

    expect(inside).toEqual([]);
  });
});
