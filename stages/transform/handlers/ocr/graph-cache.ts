/**
 * A disk cache of the rewritten PP-OCR graphs ({@link rewritePaddleGraph}), so that a model server start reads the
 * folded models instead of folding them again in every worker. The fold is the largest part of a worker's load:
 * about 1.1 s of CPU for the detector and recogniser on the 2-core dev machine, against 0.17 s for creating the
 * three ONNX Runtime sessions (stages/transform/README.md, "Model load").
 *
 * Safe by construction:
 * - the key is the SHA-256 of the original model bytes and of the rewrite's own source (paddle-graph.ts and
 *   protobuf-wire.ts), so a changed model or a changed rewrite never finds an old entry;
 * - each entry starts with the SHA-256 of its payload; an entry that does not match (truncated, corrupted) is
 *   rebuilt and replaced, never served;
 * - entries are written to a temporary file in the same directory and renamed into place, so concurrent model
 *   servers (or workers) writing the same key never leave a half-written file: the last rename wins, and every
 *   rename installs a whole, identical entry.
 *
 * Only our rewrite is cached, not ONNX Runtime's optimised model: session creation is a small share of the load,
 * and ORT documents optimised models saved at the `all` level as tied to the machine they were made on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../../../shared/errors.ts';
import type { Log } from '../../../../shared/logging.ts';
import { rewritePaddleGraph } from './paddle-graph.ts';

/** The first bytes of every entry: format tag, then the payload's SHA-256. */
const MAGIC = new TextEncoder().encode('NSGRAPH1');
const DIGEST_BYTES = 32;

let rewriteSourceHash: string | undefined;

/** SHA-256 over the rewrite's source files: a change to how graphs are rewritten changes every key. */
function rewriteVersion(): string {
  rewriteSourceHash ??= (() => {
    const hash = createHash('sha256');
    for (const file of ['./paddle-graph.ts', './protobuf-wire.ts']) {
      hash.update(readFileSync(fileURLToPath(new URL(file, import.meta.url))));
    }
    return hash.digest('hex');
  })();
  return rewriteSourceHash;
}

/** What {@link rewriteWithCache} did for one model, for the load log. */
export type GraphCacheOutcome = 'hit' | 'written' | 'rebuilt' | 'uncached';

export interface GraphCacheOptions {
  /** Where entries live; absent: rewrite without a cache. */
  readonly directory?: string;
  readonly log: Log;
}

/** The cache file for `original` under `directory`. */
export function graphCachePath(directory: string, original: Uint8Array): string {
  const key = createHash('sha256').update(original).update(rewriteVersion()).digest('hex');
  return join(directory, `${key}.onnx`);
}

/**
 * `rewritePaddleGraph(original)`, read from the cache when a valid entry is there, else computed and stored. A
 * cache that cannot be written (read-only disk, full disk) only costs the rewrite: the model still loads.
 */
export async function rewriteWithCache(
  original: Uint8Array,
  label: string,
  options: GraphCacheOptions,
): Promise<{ readonly model: Uint8Array; readonly outcome: GraphCacheOutcome }> {
  const { directory, log } = options;
  if (directory === undefined) return { model: rewritePaddleGraph(original), outcome: 'uncached' };
  const path = graphCachePath(directory, original);
  const cached = await readEntry(path);
  if (cached.kind === 'valid') return { model: cached.payload, outcome: 'hit' };
  if (cached.kind === 'invalid') log.warn('graph cache entry is corrupt; rebuilding it', { model: label, path });
  const model = rewritePaddleGraph(original);
  try {
    await writeEntry(path, model);
  } catch (error) {
    log.warn('graph cache entry could not be written; the model loads without it', {
      model: label,
      path,
      error: describeError(error).message,
    });
    return { model, outcome: 'uncached' };
  }
  return { model, outcome: cached.kind === 'invalid' ? 'rebuilt' : 'written' };
}

type Entry = { readonly kind: 'valid'; readonly payload: Uint8Array } | { readonly kind: 'missing' | 'invalid' };

async function readEntry(path: string): Promise<Entry> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    return { kind: 'missing' };
  }
  const header = MAGIC.length + DIGEST_BYTES;
  if (bytes.length < header || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return { kind: 'invalid' };
  const payload = bytes.subarray(header);
  const digest = createHash('sha256').update(payload).digest();
  if (!digest.equals(bytes.subarray(MAGIC.length, header))) return { kind: 'invalid' };
  return { kind: 'valid', payload };
}

async function writeEntry(path: string, payload: Uint8Array): Promise<void> {
  const directory = join(path, '..');
  await mkdir(directory, { recursive: true });
  const digest = createHash('sha256').update(payload).digest();
  // Same directory as the entry, so the rename stays on one file system and is atomic.
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, Buffer.concat([MAGIC, digest, payload]));
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
