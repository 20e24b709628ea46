import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { decodeCtcLine, type RecognisedText } from './ctc-decoder.ts';
import type { OpenCv } from './opencv.ts';
import { LINE_HEIGHT, writeLineImage } from './text-crops.ts';

type Mat = InstanceType<OpenCv['Mat']>;

/** PaddleOCR's recogniser input width before widening for long lines (`rec_image_shape` 3,48,320). */
const MIN_LINE_WIDTH = 320;

/**
 * PP-OCRv4's CTC recogniser. Crops are sorted by aspect ratio and recognised `batchSize` at a time, each batch as
 * wide as its widest line needs (at least 320 pixels), as PaddleOCR's `TextRecognizer` does: sorting keeps the
 * right-padding of short lines small.
 */
export class TextRecogniser {
  private readonly cv: OpenCv;
  private readonly session: InferenceSession;
  private readonly alphabet: readonly string[];
  private readonly batchSize: number;

  constructor(cv: OpenCv, session: InferenceSession, alphabet: readonly string[], batchSize: number) {
    this.cv = cv;
    this.session = session;
    this.alphabet = alphabet;
    this.batchSize = batchSize;
  }

  async recognise(crops: readonly Mat[]): Promise<RecognisedText[]> {
    const results: RecognisedText[] = new Array(crops.length);
    const order = crops
      .map((crop, index) => ({ index, ratio: crop.cols / crop.rows }))
      .sort((a, b) => a.ratio - b.ratio);
    for (let start = 0; start < order.length; start += this.batchSize) {
      const batch = order.slice(start, start + this.batchSize);
      const widest = Math.max(MIN_LINE_WIDTH / LINE_HEIGHT, ...batch.map((item) => item.ratio));
      const width = Math.trunc(LINE_HEIGHT * widest);
      const tensor = new Float32Array(batch.length * 3 * LINE_HEIGHT * width);
      batch.forEach((item, position) => {
        writeLineImage(this.cv, crops[item.index] as Mat, tensor, position * 3 * LINE_HEIGHT * width, width);
      });
      const input = new Tensor('float32', tensor, [batch.length, 3, LINE_HEIGHT, width]);
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
      batch.forEach((item, position) => {
        results[item.index] = decodeCtcLine(output.data as Float32Array, position, steps, this.alphabet);
      });
    }
    return results;
  }
}
