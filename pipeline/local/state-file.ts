import { readFile } from 'node:fs/promises';

/**
 * A JSON file the local runtime keeps in its state folder (lock, service, run sources, unrecorded failures, the
 * template cache): its parsed value, or undefined when it is missing or does not parse. Such files are written by
 * this runtime, so a damaged one is treated as absent and written again; callers check the shape they expect.
 */
export async function readStateFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
