import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelInput, ModelOutputSchema } from '../../shared/records.ts';
import { postInvocations, type RunningModelServer, readJsonLines, startModelServer } from '../helpers/model-server.ts';
import { meanColourClassifier } from '../helpers/tiny-onnx-model.ts';

const INPUT = { width: 8, height: 8 };
const CONFIG = {
  type: 'classifier',
  name: 'mean-colour',
  version: '2025.06',
  model: 'model.onnx',
  labels: 'labels.txt',
  input: { ...INPUT, mean: [0, 0, 0], std: [1, 1, 1], layout: 'NCHW' },
  topK: 2,
};

async function plainImage(colour: { r: number; g: number; b: number }, format: 'png' | 'jpeg'): Promise<ModelInput> {
  const image = sharp({ create: { width: 40, height: 30, channels: 3, background: colour } });
  const bytes = await (format === 'png' ? image.png() : image.jpeg()).toBuffer();
  return { image: bytes.toString('base64'), format, width: 40, height: 30 };
}

/**
 * The classifier handler behind the same server, with a model directory the test builds: a tiny ONNX model
 * (mean colour per channel, written by hand), a labels file and `nightshift-model.json`.
 */
describe('model server: a plain ONNX image classifier', () => {
  let directory: string;
  let server: RunningModelServer;
  let pingWhileLoading: { status: number; body: string };

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'nightshift-classifier-'));
    await writeFile(join(directory, 'labels.txt'), 'red\ngreen\nblue\n');
    await writeFile(join(directory, 'nightshift-model.json'), JSON.stringify(CONFIG));
    // The model file is a named pipe: the server cannot finish loading until the test writes the model into it,
    // so /ping is asked while the model is certainly still loading, with no timing involved.
    execFileSync('mkfifo', [join(directory, 'model.onnx')]);
    server = await startModelServer({
      modelDir: directory,
      // Room for the 7 requests the concurrency test queues behind the one predicted (the default queue is 1).
      env: {
        SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '1',
        SAGEMAKER_MAX_PAYLOAD_IN_MB: '2',
        NIGHTSHIFT_MAX_QUEUED_REQUESTS: '8',
      },
    });
    const ping = await fetch(`${server.url}/ping`);
    pingWhileLoading = { status: ping.status, body: await ping.text() };
    await writeFile(join(directory, 'model.onnx'), meanColourClassifier(INPUT));
    await server.ready();
  });

  afterAll(async () => {
    await server?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('answers /ping with 503 while the model loads and 200 with an empty body once it is loaded', async () => {
    const after = await fetch(`${server.url}/ping`);

    expect(pingWhileLoading.status).toBe(503);
    expect(pingWhileLoading.body).toContain('loading');
    expect(after.status).toBe(200);
    expect(await after.text()).toBe('');
  });

  it('labels red, green and blue images by their colour, best first, with softmax scores', async () => {
    const records = await Promise.all([
      plainImage({ r: 255, g: 0, b: 0 }, 'png'),
      plainImage({ r: 0, g: 255, b: 0 }, 'jpeg'),
      plainImage({ r: 0, g: 0, b: 255 }, 'png'),
    ]);

    const response = await postInvocations(server.url, records);

    expect(response.status).toBe(200);
    const outputs = (await readJsonLines(response)).map((output) => ModelOutputSchema.parse(output));
    expect(outputs.map((output) => output.labels?.[0]?.label)).toEqual(['red', 'green', 'blue']);
    for (const output of outputs) {
      const [best, second] = output.labels ?? [];
      expect(output.labels).toHaveLength(2);
      expect(best?.score).toBeGreaterThan(0.99);
      expect(second?.score).toBeLessThan(0.01);
    }
  });

  it('names the configured model and version on every line, error lines included', async () => {
    const records = [
      await plainImage({ r: 200, g: 10, b: 10 }, 'png'),
      { image: 'AAAA', format: 'png', width: 1, height: 1 },
    ];

    const outputs = await readJsonLines(await postInvocations(server.url, records));

    expect(outputs).toEqual([
      expect.objectContaining({ model: { name: 'mean-colour', version: '2025.06' } }),
      expect.objectContaining({
        model: { name: 'mean-colour', version: '2025.06' },
        error: expect.objectContaining({ code: 'UNDECODABLE_IMAGE' }),
      }),
    ]);
  });

  it('reports the concurrency and payload limits the job set in /execution-parameters', async () => {
    const response = await fetch(`${server.url}/execution-parameters`);

    expect(await response.json()).toEqual({
      MaxConcurrentTransforms: 1,
      BatchStrategy: 'MULTI_RECORD',
      MaxPayloadInMB: 2,
    });
  });

  it('predicts no more requests at once than SAGEMAKER_MAX_CONCURRENT_TRANSFORMS allows', async () => {
    const before = server.logs.length;
    const records = await Promise.all(
      Array.from({ length: 8 }, (_, index) => plainImage({ r: index * 30, g: 0, b: 255 - index * 30 }, 'png')),
    );

    const responses = await Promise.all(records.map((record) => postInvocations(server.url, [record, record])));

    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(200));
    await Promise.all(responses.map((response) => response.text()));
    const invocations = await server.logged('invocation', 8, before);
    expect(invocations).toHaveLength(8);
    for (const entry of invocations) expect(entry.inFlight).toBe(1);
  });

  it('refuses to start from a config with an unknown field, naming it, and exits with status 1', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'nightshift-broken-'));
    await writeFile(join(broken, 'nightshift-model.json'), JSON.stringify({ ...CONFIG, labelFile: 'labels.txt' }));
    try {
      const failing = await startModelServer({ modelDir: broken });

      const code = await failing.exited;

      expect(code).toBe(1);
      const failure = failing.logs.find((entry) => entry.message === 'the model could not be loaded');
      expect(JSON.stringify(failure)).toContain('unknown field(s) \\"labelFile\\"');
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
