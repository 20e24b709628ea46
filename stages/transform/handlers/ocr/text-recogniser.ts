import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { decodeCtcLine, type RecognisedText } from './ctc-decoder.ts';
import type { OpenCv } from './opencv.ts';
import { LINE_HEIGHT, lineWidth, writeLineImage } from './text-crops.ts';

type Mat = InstanceType<OpenCv['Mat']>;

/**
 * Line images are grouped by width in steps of this many pixels: every crop of a group is padded by less than one
 * step. 32 is a multiple of the recogniser's horizontal stride (8), so a bucket's width maps to whole CTC steps.
 */
export const WIDTH_BUCKET = 32;

/** The width a crop takes in the recogniser's input: scaled to {@link LINE_HEIGHT} rows, rounded up to a bucket. */
export function bucketWidth(crop: { readonly cols: number; readonly rows: number }, widthScale = 1): number {
  return Math.ceil(lineWidth(crop, widthScale) / WIDTH_BUCKET) * WIDTH_BUCKET;
}

/**
 * PP-OCRv4's CTC recogniser. Crops (of every image in a request) are grouped by width bucket and each group is
 * recognised `batchSize` at a time in one session call, as wide as its bucket. PaddleOCR instead sorts by aspect
 * ratio and pads every batch to at least 320 pixels; on the CPU that padding is computed like text, and on
 * rendered lines bucketing read the same text for 30% less CPU time per image (stages/transform/README.md).
 */
export class TextRecogniser {
  private readonly cv: OpenCv;
  private readonly session: InferenceSession;
  private readonly alphabet: readonly string[];
  private readonly batchSize: number;
  private readonly widthScale: number;

  constructor(cv: OpenCv, session: InferenceSession, alphabet: readonly string[], batchSize: number, widthScale = 1) {
    this.cv = cv;
    this.session = session;
    this.alphabet = alphabet;
    this.batchSize = batchSize;
    this.widthScale = widthScale;
  }

  async recognise(crops: readonly Mat[]): Promise<RecognisedText[]> {
    const results: RecognisedText[] = new Array(crops.length);
    const buckets = new Map<number, number[]>();
    crops.forEach((crop, index) => {
      const width = bucketWidth(crop, this.widthScale);
      const members = buckets.get(width);
      if (members === undefined) buckets.set(width, [index]);
      else members.push(index);
    });
    for (const [width, members] of buckets) {
      for (let start = 0; start < members.length; start += this.batchSize) {
        const batch = members.slice(start, start + this.batchSize);
        const size = 3 * LINE_HEIGHT * width;
        const tensor = new Float32Array(batch.length * size);
        batch.forEach((index, position) => {
          writeLineImage(this.cv, crops[index] as Mat, tensor, position * size, width, this.widthScale);
        });
        const texts = await this.run(tensor, batch.length, width);
        batch.forEach((index, position) => {
          results[index] = texts[position] as RecognisedText;
        });
      }
    }
    return results;
  }

  private async run(tensor: Float32Array, lines: number, width: number): Promise<RecognisedText[]> {
    const input = new Tensor('float32', tensor, [lines, 3, LINE_HEIGHT, width]);
    const outputs = await this.session.run({ [this.session.inputNames[0] as string]: input });
    const output = outputs[this.session.outputNames[0] as string];
    if (output === undefined || output.dims.length !== 3)
      throw new Error('the recogniser returned no [lines, steps, classes] output');
    const [, steps, classes] = output.dims as [number, number, number];
    if (classes !== this.alphabet.length) {
      throw new Error(
        `the recogniser has ${classes} classes but the dictionary gives ${this.alphabet.length}; use its own dictionary`,
      );
    }
    return Array.from({ length: lines }, (_, line) =>
      decodeCtcLine(output.data as Float32Array, line, steps, this.alphabet),
    );
  }
}
