import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { type InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { z } from 'zod';
import { InvalidInputError } from '../../../../shared/errors.ts';
import type { Log } from '../../../../shared/logging.ts';
import type { SessionFactory } from '../../execution-provider.ts';
import { contentVersion, MODEL_CONFIG_FILE, resolveModelFile } from '../../model-files.ts';
import type { DecodedImage, ModelHandler, ModelIdentity, Prediction } from '../../model-handler.ts';

const Rgb = z.tuple([z.number(), z.number(), z.number()]);

/**
 * `nightshift-model.json` for a plain ONNX image classifier: one image tensor in, one score per label out.
 *
 * ```json
 * {"type": "classifier", "model": "model.onnx", "labels": "labels.txt",
 *  "input": {"width": 224, "height": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
 * ```
 */
export const ClassifierModelConfigSchema = z.strictObject({
  type: z.literal('classifier'),
  /** @default the model file's name without its extension */
  name: z.string().min(1).optional(),
  /** @default `sha256:` + 12 hex digits of the model and labels files */
  version: z.string().min(1).optional(),
  /** The ONNX file, relative to the model directory. */
  model: z.string().min(1),
  /** One label per line, in the order of the model's output scores. */
  labels: z.string().min(1),
  input: z.strictObject({
    width: z.int().min(1).max(4096),
    height: z.int().min(1).max(4096),
    /** Pixels are scaled to [0, 1], then `(value - mean) / std` per channel (in `channelOrder`). */
    mean: Rgb.default([0, 0, 0]),
    std: Rgb.refine((std) => std.every((value) => value > 0), 'every std must be positive').default([1, 1, 1]),
    layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
    channelOrder: z.enum(['RGB', 'BGR']).default('RGB'),
    /** `fill` stretches to width x height; `cover` keeps the aspect ratio and crops the centre. */
    fit: z.enum(['fill', 'cover']).default('fill'),
  }),
  /** Labels returned per image, best first. */
  topK: z.int().min(1).max(1000).default(5),
  /** `logits` get a softmax; `probabilities` are reported as the model gives them. */
  outputs: z.enum(['logits', 'probabilities']).default('logits'),
});
export type ClassifierModelConfig = z.infer<typeof ClassifierModelConfigSchema>;

/** A plain ONNX image classifier: resize, normalise, run, softmax, top-k labels. */
export class ClassifierHandler implements ModelHandler {
  readonly model: ModelIdentity;
  /** Predicts on the calling thread, one batch at a time. */
  readonly parallelism = 1;
  private readonly session: InferenceSession;
  private readonly labels: readonly string[];
  private readonly config: ClassifierModelConfig;
  /** The model takes a fixed batch of one (its first input dimension is 1, not symbolic). */
  private readonly singleImage: boolean;

  private constructor(
    model: ModelIdentity,
    session: InferenceSession,
    labels: readonly string[],
    config: ClassifierModelConfig,
    singleImage: boolean,
  ) {
    this.model = model;
    this.session = session;
    this.labels = labels;
    this.config = config;
    this.singleImage = singleImage;
  }

  static async load(
    directory: string,
    config: ClassifierModelConfig,
    factory: SessionFactory,
    log: Log,
  ): Promise<ClassifierHandler> {
    const [modelBytes, labelBytes] = await Promise.all([
      readFile(resolveModelFile(directory, config.model, 'model')),
      readFile(resolveModelFile(directory, config.labels, 'labels')),
    ]);
    const labels = labelBytes
      .toString('utf8')
      .split('\n')
      .map((line) => line.trim());
    while (labels.at(-1) === '') labels.pop();
    if (labels.length === 0) throw new InvalidInputError(`${config.labels} in ${directory} has no labels`);

    const session = await factory.create(modelBytes, config.model);
    const input = session.inputMetadata[0];
    const output = session.outputMetadata[0];
    const classes = output?.isTensor ? output.shape.at(-1) : undefined;
    if (typeof classes === 'number' && classes !== labels.length) {
      await session.release();
      throw new InvalidInputError(
        `${config.model} scores ${classes} classes but ${config.labels} has ${labels.length} labels; ` +
          `give one label per line, in output order (${MODEL_CONFIG_FILE} in ${directory})`,
      );
    }
    const model = {
      name: config.name ?? basename(config.model, extname(config.model)),
      version: config.version ?? contentVersion([modelBytes, labelBytes]),
    };
    log.info('classifier model loaded', { ...model, labels: labels.length, executionProvider: factory.provider });
    const singleImage = input?.isTensor === true && input.shape[0] === 1;
    return new ClassifierHandler(model, session, labels, config, singleImage);
  }

  async predictBatch(images: readonly DecodedImage[]): Promise<Prediction[]> {
    if (images.length === 0) return [];
    const tensors = await Promise.all(images.map((image) => this.toTensor(image)));
    if (this.singleImage) {
      const predictions: Prediction[] = [];
      for (const tensor of tensors) predictions.push(...(await this.run([tensor])));
      return predictions;
    }
    return this.run(tensors);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }

  private async run(images: readonly Float32Array[]): Promise<Prediction[]> {
    const { width, height, layout } = this.config.input;
    const size = 3 * width * height;
    const batch = new Float32Array(images.length * size);
    images.forEach((image, index) => {
      batch.set(image, index * size);
    });
    const dims = layout === 'NCHW' ? [images.length, 3, height, width] : [images.length, height, width, 3];
    const outputs = await this.session.run({
      [this.session.inputNames[0] as string]: new Tensor('float32', batch, dims),
    });
    const output = outputs[this.session.outputNames[0] as string];
    if (output === undefined) throw new Error(`${this.config.model} returned no output`);
    const scores = Float32Array.from(output.data as ArrayLike<number>);
    const classes = scores.length / images.length;
    if (classes !== this.labels.length) {
      throw new Error(
        `${this.config.model} scored ${classes} classes per image but there are ${this.labels.length} labels`,
      );
    }
    return images.map((_, index) => ({
      labels: this.topLabels(scores.subarray(index * classes, (index + 1) * classes)),
    }));
  }

  private topLabels(scores: Float32Array): { label: string; score: number }[] {
    const probabilities = this.config.outputs === 'logits' ? softmax(scores) : Array.from(scores);
    return probabilities
      .map((score, index) => ({ label: this.labels[index] as string, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, this.config.topK)
      .map(({ label, score }) => ({ label, score: Math.round(score * 10_000) / 10_000 }));
  }

  /** Resizes one image to the model input and normalises it into the configured layout and channel order. */
  private async toTensor(image: DecodedImage): Promise<Float32Array> {
    const { width, height, mean, std, layout, channelOrder, fit } = this.config.input;
    const pixels = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize({ width, height, fit, position: 'centre' })
      .raw()
      .toBuffer();
    const tensor = new Float32Array(3 * width * height);
    const plane = width * height;
    const order = channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
    for (let pixel = 0; pixel < plane; pixel += 1) {
      for (let channel = 0; channel < 3; channel += 1) {
        const value =
          ((pixels[pixel * 3 + (order[channel] as number)] as number) / 255 - (mean[channel] as number)) /
          (std[channel] as number);
        tensor[layout === 'NCHW' ? channel * plane + pixel : pixel * 3 + channel] = value;
      }
    }
    return tensor;
  }
}

function softmax(logits: Float32Array): number[] {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (logit) => Math.exp(logit - max));
  const sum = exps.reduce((total, value) => total + value, 0);
  return exps.map((value) => value / sum);
}
