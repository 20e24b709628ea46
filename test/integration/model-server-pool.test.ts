import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postInvocations, type RunningModelServer, readJsonLines, startModelServer } from '../helpers/model-server.ts';
import { renderText, SAMPLE_LINES, toModelInput } from '../helpers/text-images.ts';

/**
 * The model server with one inference worker, one request predicted at a time and no queue: a long request keeps
 * the only worker busy while the test checks what else the server still answers.
 */
describe('model server: inference off the event loop', () => {
  let server: RunningModelServer;

  beforeAll(async () => {
    server = await startModelServer({
      env: {
        SAGEMAKER_MODEL_SERVER_WORKERS: '1',
        SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '1',
        NIGHTSHIFT_MAX_QUEUED_REQUESTS: '0',
        LOG_LEVEL: 'DEBUG',
      },
    });
    await server.ready(60_000);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers /ping and refuses a request past the full queue with 503 while its only worker is busy', async () => {
    const images = await Promise.all(
      Array.from({ length: 16 }, (_, index) =>
        renderText(SAMPLE_LINES.slice(index % 12, (index % 12) + 6), { fontSize: 32, format: 'jpeg' }),
      ),
    );
    const before = server.logs.length;
    let slowDone = false;
    const slow = postInvocations(server.url, images.map(toModelInput)).then(async (response) => {
      slowDone = true;
      return { status: response.status, lines: await readJsonLines(response) };
    });
    await server.logged('invocation started', 1, before);

    const ping = await fetch(`${server.url}/ping`);
    const pingAnsweredFirst = !slowDone;
    const refused = await postInvocations(server.url, [toModelInput(images[0] as never)]);
    const refusedFirst = !slowDone;
    const finished = await slow;

    expect(ping.status).toBe(200);
    expect(pingAnsweredFirst).toBe(true);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { message: string }).message).toMatch(/busy.*retry/);
    expect(refusedFirst).toBe(true);
    expect(finished.status).toBe(200);
    expect(finished.lines).toHaveLength(16);
  });

  it('logs the pool it runs: one worker, sized from SAGEMAKER_MODEL_SERVER_WORKERS', () => {
    const ready = server.logs.find((entry) => entry.message === 'model server ready');

    expect(ready).toMatchObject({ workers: 1, MaxConcurrentTransforms: 1 });
  });

  it('answers a raw PNG body with one JSON prediction', async () => {
    const image = await renderText(['Gate B17'], { format: 'png' });

    const response = await fetch(`${server.url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'image/png' },
      body: new Uint8Array(image.bytes),
    });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toMatchObject({ model: { name: 'paddleocr-ppocrv4' }, text: 'Gate B17' });
  });

  it('answers a raw body that is not an image with 400 and the error a record would get', async () => {
    const response = await fetch(`${server.url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-image' },
      body: Buffer.from('not an image at all'),
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { code: 'UNDECODABLE_IMAGE', message: expect.stringMatching(/cannot be read as JPEG or PNG/) },
    });
  });
});
