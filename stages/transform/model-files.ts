import { createHash } from 'node:crypto';
import { isAbsolute, relative, resolve } from 'node:path';
import { InvalidInputError } from '../../shared/errors.ts';

/** The optional file in a model directory that says which handler serves it and how. */
export const MODEL_CONFIG_FILE = 'nightshift-model.json';

/**
 * The path of a file named in the model config: relative to the model directory and inside it (a config that
 * points elsewhere, e.g. `../../etc/passwd`, is refused by name).
 */
export function resolveModelFile(directory: string, name: string, field: string): string {
  const path = resolve(directory, name);
  const inside = relative(directory, path);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw new InvalidInputError(
      `${MODEL_CONFIG_FILE} field "${field}" (${name}) must name a file inside the model directory ${directory}`,
    );
  }
  return path;
}

/** A version that changes whenever a model file does: `sha256:` and the first 12 hex digits over the files. */
export function contentVersion(files: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(file);
  return `sha256:${hash.digest('hex').slice(0, 12)}`;
}
