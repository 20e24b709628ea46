import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { boxesFromProbabilityMap, type DbSettings, type DetectedBox, tidyBoxes } from './db-postprocess.ts';
import { DETECTOR_NORMALISATION, writeBgrPlanes } from './image-tensors.ts';
import type { OpenCv } from './opencv.ts';

type Mat = InstanceType<OpenCv['Mat']>;

export interface DetectorSettings extends DbSettings {
  /** The longer side is scaled down to at most this many pixels (PaddleOCR `det_limit_side_len`, type `max`). */
  readonly limitSideLength: number;
}

/** The detector input size for an image: the longer side limited, both sides rounded to multiples of 32. */
export function detectorInputSize(
  width: number,
  height: number,
  limitSideLength: number,
): { width: number; height: number } {
  const longer = Math.max(width, height);
  const ratio = longer > limitSideLength ? limitSideLength / longer : 1;
  const toMultiple = (side: number) => Math.max(Math.round(Math.trunc(side * ratio) / 32) * 32, 32);
  return { width: toMultiple(width), height: toMultiple(height) };
}

/** PP-OCRv4's DB text detector: one image in, text boxes in that image's pixels out. */
export class TextDetector {
  private readonly cv: OpenCv;
  private readonly session: InferenceSession;
  private readonly settings: DetectorSettings;

  constructor(cv: OpenCv, session: InferenceSession, settings: DetectorSettings) {
    this.cv = cv;
    this.session = session;
    this.settings = settings;
  }

  /** Boxes in `image`'s pixels, clockwise from the top-left, unordered. */
  async detect(image: Mat): Promise<DetectedBox[]> {
    const { cv } = this;
    const size = detectorInputSize(image.cols, image.rows, this.settings.limitSideLength);
    const resized = new cv.Mat();
    const tensor = new Float32Array(3 * size.width * size.height);
    try {
      cv.resize(image, resized, new cv.Size(size.width, size.height), 0, 0, cv.INTER_LINEAR);
      writeBgrPlanes(resized.data, size.width, size.height, tensor, 0, size.width, DETECTOR_NORMALISATION);
    } finally {
      resized.delete();
    }
    const input = new Tensor('float32', tensor, [1, 3, size.height, size.width]);
    const outputs = await this.session.run({ [this.session.inputNames[0] as string]: input });
    const output = outputs[this.session.outputNames[0] as string];
    if (output === undefined) throw new Error('the detector returned no output');
    const boxes = boxesFromProbabilityMap(
      cv,
      { data: output.data as Float32Array, width: size.width, height: size.height },
      { width: image.cols, height: image.rows },
      this.settings,
    );
    return tidyBoxes(boxes, { width: image.cols, height: image.rows });
  }
}
