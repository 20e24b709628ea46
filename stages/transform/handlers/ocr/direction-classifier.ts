import { type InferenceSession, Tensor } from 'onnxruntime-node';
import type { OpenCv } from './opencv.ts';
import { LINE_HEIGHT, writeLineImage } from './text-crops.ts';

type Mat = InstanceType<OpenCv['Mat']>;

/** PaddleOCR's `cls_image_shape` 3,48,192. */
const CLASSIFIER_WIDTH = 192;

/**
 * PaddleOCR's text direction classifier (`ch_ppocr_mobile_v2.0_cls`): says which crops are upside down. Classes
 * are `0` and `180`; a crop is turned only when `180` wins with more than `threshold` (PaddleOCR's `cls_thresh`).
 */
export class DirectionClassifier {
  private readonly cv: OpenCv;
  private readonly session: InferenceSession;
  private readonly batchSize: number;
  private readonly threshold: number;

  constructor(cv: OpenCv, session: InferenceSession, batchSize: number, threshold = 0.9) {
    this.cv = cv;
    this.session = session;
    this.batchSize = batchSize;
    this.threshold = threshold;
  }

  /** Whether each crop is upside down. */
  async upsideDown(crops: readonly Mat[]): Promise<boolean[]> {
    const flags: boolean[] = [];
    const size = 3 * LINE_HEIGHT * CLASSIFIER_WIDTH;
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const tensor = new Float32Array(batch.length * size);
      batch.forEach((crop, position) => {
        writeLineImage(this.cv, crop, tensor, position * size, CLASSIFIER_WIDTH);
      });
      const input = new Tensor('float32', tensor, [batch.length, 3, LINE_HEIGHT, CLASSIFIER_WIDTH]);
      const outputs = await this.session.run({ [this.session.inputNames[0] as string]: input });
      const output = outputs[this.session.outputNames[0] as string];
      if (output === undefined) throw new Error('the direction classifier returned no output');
      const probabilities = output.data as Float32Array;
      for (let position = 0; position < batch.length; position += 1) {
        const turned = probabilities[position * 2 + 1] as number;
        flags.push(turned > (probabilities[position * 2] as number) && turned > this.threshold);
      }
    }
    return flags;
  }
}
