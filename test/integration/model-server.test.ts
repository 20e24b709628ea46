import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelOutputSchema } from '../../shared/records.ts';
import { postInvocations, type RunningModelServer, readJsonLines, startModelServer } from '../helpers/model-server.ts';
import { renderText, SAMPLE_LINES, type TextImage, toModelInput } from '../helpers/text-images.ts';

/**
 * The OCR model server as SageMaker Batch Transform drives it: the real process, the bundled PP-OCRv4 models,
 * HTTP on a free port. One server for the whole file (the models take a few seconds to load).
 */
describe('model server: PP-OCRv4 over the SageMaker contract', () => {
  let server: RunningModelServer;

  beforeAll(async () => {
    server = await startModelServer({
      env: { SAGEMAKER_MAX_PAYLOAD_IN_MB: '1', NIGHTSHIFT_EXECUTION_PROVIDER: 'auto', SAGEMAKER_BATCH: 'true' },
    });
    await server.ready();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers /ping with 200 and an empty body once the model is loaded', async () => {
    const response = await fetch(`${server.url}/ping`);

    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
  });

  it('recommends execution parameters for this machine and keeps the payload limit the job set', async () => {
    const response = await fetch(`${server.url}/execution-parameters`);

    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      MaxConcurrentTransforms: expect.any(Number),
      BatchStrategy: 'MULTI_RECORD',
      MaxPayloadInMB: 1,
    });
    expect(body.MaxConcurrentTransforms).toBeGreaterThanOrEqual(1);
  });

  it('logs the execution provider it chose and that it runs as a batch transform', () => {
    const chosen = server.logs.find((entry) => entry.message === 'execution provider chosen');
    const listening = server.logs.find((entry) => entry.message === 'model server listening');

    expect(chosen).toMatchObject({ requested: 'auto', provider: expect.stringMatching(/^(cpu|cuda)$/) });
    expect(listening).toMatchObject({ batchTransform: true });
  });

  it('reads back at least 95% of rendered text lines exactly, one output line per record, in order', async () => {
    const images = await Promise.all(
      SAMPLE_LINES.map((line, index) => renderText([line], { format: index % 3 === 2 ? 'jpeg' : 'png' })),
    );

    const response = await postInvocations(server.url, images.map(toModelInput));

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/jsonlines');
    const outputs = await readJsonLines(response);
    expect(outputs).toHaveLength(SAMPLE_LINES.length);
    const exact = outputs.filter((output, index) => output.text === SAMPLE_LINES[index]).length;
    expect(exact, `exact lines: ${exact}/${SAMPLE_LINES.length}`).toBeGreaterThanOrEqual(
      Math.ceil(0.95 * SAMPLE_LINES.length),
    );
    for (const [index, output] of outputs.entries()) {
      const parsed = ModelOutputSchema.parse(output);
      expect(parsed.model).toEqual({
        name: 'paddleocr-ppocrv4',
        version: expect.stringMatching(/^sha256:[0-9a-f]{12}$/),
      });
      expect(parsed.error).toBeUndefined();
      expect(parsed.confidence).toBeGreaterThan(0.5);
      expectBoxesInside(parsed.lines ?? [], images[index] as TextImage);
    }
  });

  it('returns the rows of a multi-line image top to bottom, joined with newlines', async () => {
    const rows = ['Nightshift report', 'Processed 128 images', 'Rejected 3 files'];
    const image = await renderText(rows, { fontSize: 36 });

    const [output] = await readJsonLines(await postInvocations(server.url, [toModelInput(image)]));

    const parsed = ModelOutputSchema.parse(output);
    expect(parsed.text).toBe(rows.join('\n'));
    expect(parsed.lines?.map((line) => line.text)).toEqual(rows);
    const tops = (parsed.lines ?? []).map((line) => Math.min(...(line.box ?? []).map(([, y]) => y)));
    expect(tops).toEqual([...tops].sort((a, b) => a - b));
  });

  it('answers a blank image with empty text and no lines', async () => {
    const blank = await sharp({ create: { width: 320, height: 120, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();

    const [output] = await readJsonLines(
      await postInvocations(server.url, [{ image: blank.toString('base64'), format: 'png', width: 320, height: 120 }]),
    );

    expect(output).toMatchObject({ text: '', lines: [], model: { name: 'paddleocr-ppocrv4' } });
    expect(output?.confidence).toBeUndefined();
  });

  it('puts an error line in place of each record it cannot use and predicts the others', async () => {
    const first = await renderText(['Gate B17']);
    const second = await renderText(['Platform 9'], { format: 'jpeg' });
    const truncated = first.bytes.subarray(0, Math.floor(first.bytes.length / 2));
    const records = [
      toModelInput(first),
      { image: 'this is not base64!', format: 'png', width: 10, height: 10 },
      { image: Buffer.from('plain text, not an image').toString('base64'), format: 'jpeg', width: 10, height: 10 },
      toModelInput(second),
      { image: toModelInput(first).image, format: 'png', width: first.width },
      { ...toModelInput(first), width: first.width + 1 },
      { ...toModelInput(first), image: truncated.toString('base64') },
    ];

    const response = await postInvocations(server.url, records);

    expect(response.status).toBe(200);
    const outputs = (await readJsonLines(response)).map((output) => ModelOutputSchema.parse(output));
    expect(outputs.map((output) => output.error?.code ?? output.text)).toEqual([
      'Gate B17',
      'UNDECODABLE_IMAGE',
      'UNDECODABLE_IMAGE',
      'Platform 9',
      'INVALID_RECORD',
      'IMAGE_MISMATCH',
      'UNDECODABLE_IMAGE',
    ]);
    expect(outputs[4]?.error?.message).toContain('height');
    for (const output of outputs) expect(output.model?.name).toBe('paddleocr-ppocrv4');
  });

  it("splits one request into one batch per inference worker and keeps every line in its record's place", async () => {
    const texts = ['Gate B17', 'Nightshift report', 'Processed 128 images', 'Platform 9'];
    const images = await Promise.all(texts.map((text) => renderText([text], { fontSize: 36 })));
    const bad = { image: 'this is not base64!', format: 'png', width: 10, height: 10 };
    const records = [toModelInput(images[0] as TextImage), bad, ...images.slice(1).map(toModelInput), bad];
    const workers = server.logs.find((entry) => entry.message === 'model server ready')?.workers;
    const before = server.logs.length;

    const response = await postInvocations(server.url, records);

    const outputs = (await readJsonLines(response)).map((output) => ModelOutputSchema.parse(output));
    expect(outputs.map((output) => output.error?.code ?? output.text)).toEqual([
      'Gate B17',
      'UNDECODABLE_IMAGE',
      'Nightshift report',
      'Processed 128 images',
      'Platform 9',
      'UNDECODABLE_IMAGE',
    ]);
    const [logged] = await server.logged('invocation', 1, before);
    expect(logged).toMatchObject({ records: 6, errors: 2, batches: Math.min(Number(workers), 6) });
  });

  it('refuses a body larger than MaxPayloadInMB with 413 and says how to fix it, then keeps serving', async () => {
    const padding = 'A'.repeat(1024 * 1024 + 1);
    const body = `${JSON.stringify({ image: padding, format: 'png', width: 1, height: 1 })}\n`;

    const response = await postInvocations(server.url, body);

    expect(response.status).toBe(413);
    const problem = (await response.json()) as { message: string };
    expect(problem.message).toContain('MaxPayloadInMB (1 MB');
    expect((await fetch(`${server.url}/ping`)).status).toBe(200);
  });

  it('refuses a body with a line that is not JSON with 400 naming the line', async () => {
    const good = JSON.stringify(toModelInput(await renderText(['Hello World'])));
    const body = `${good}\n{"image": "abc", "format": \n${good}\n`;

    const response = await postInvocations(server.url, body);

    expect(response.status).toBe(400);
    const problem = (await response.json()) as { message: string; line: number };
    expect(problem.line).toBe(2);
    expect(problem.message).toMatch(/^line 2 of the request body is not JSON/);
  });

  it('answers 404 for an unknown path and 405 for the wrong method', async () => {
    const unknown = await fetch(`${server.url}/predict`, { method: 'POST', body: '{}' });
    const wrongMethod = await fetch(`${server.url}/invocations`);

    expect(unknown.status).toBe(404);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});

function expectBoxesInside(lines: readonly { box?: [number, number][] }[], image: TextImage): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    expect(line.box).toHaveLength(4);
    for (const [x, y] of line.box ?? []) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(image.width);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThan(image.height);
    }
  }
}
