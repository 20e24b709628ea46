import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postInvocations, readJsonLines, startModelServer } from '../helpers/model-server.ts';
import { renderText, SAMPLE_LINES, type TextImage, toModelInput } from '../helpers/text-images.ts';

/** One start of the real server with the cache in `cacheDir`: how it loaded each graph, and what it read. */
async function startAndRead(cacheDir: string, images: readonly TextImage[]) {
  const server = await startModelServer({
    env: { NIGHTSHIFT_MODEL_CACHE_DIR: cacheDir, SAGEMAKER_MODEL_SERVER_WORKERS: '1' },
    startTimeoutMs: 60_000,
  });
  try {
    await server.ready();
    const loaded = server.logs.find((entry) => entry.message === 'OCR model loaded');
    const response = await postInvocations(server.url, images.map(toModelInput));
    return { graphCache: loaded?.graphCache, outputs: await readJsonLines(response) };
  } finally {
    await server.stop();
  }
}

/**
 * The model server with NIGHTSHIFT_MODEL_CACHE_DIR: the first start rewrites the PP-OCR graphs and stores them,
 * later starts read them, and a damaged entry is rebuilt. The predictions never change.
 */
describe('model server: rewritten graph cache', () => {
  let cacheDir: string;
  let images: TextImage[];

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'nightshift-model-cache-'));
    images = await Promise.all(SAMPLE_LINES.slice(0, 4).map((line) => renderText([line])));
  });

  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('writes the graphs on a cold start, reads them on the next, rebuilds a corrupt one, and reads the same text', async () => {
    const cold = await startAndRead(cacheDir, images);
    const warm = await startAndRead(cacheDir, images);
    const entries = await readdir(cacheDir);
    const damaged = join(cacheDir, entries[0] as string);
    const bytes = await readFile(damaged);
    await writeFile(damaged, bytes.subarray(0, bytes.length - 1000));
    const repaired = await startAndRead(cacheDir, images);

    expect(Object.values(cold.graphCache as object)).toEqual(['written', 'written', 'written']);
    expect(Object.values(warm.graphCache as object)).toEqual(['hit', 'hit', 'hit']);
    expect(Object.values(repaired.graphCache as object).sort()).toEqual(['hit', 'hit', 'rebuilt']);
    expect(entries).toHaveLength(3);
    expect(warm.outputs).toEqual(cold.outputs);
    expect(repaired.outputs).toEqual(cold.outputs);
    expect(cold.outputs.map((output) => output.text)).toEqual(SAMPLE_LINES.slice(0, 4));
  });
});
