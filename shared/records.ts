import { z } from 'zod';
import { PreprocessSettingsSchema, TransformSettingsSchema } from './execution-input.ts';

/** Why an input object did not become a prediction. Stable codes: reports and dashboards group by them. */
export const REJECTION_REASONS = [
  'UNSUPPORTED_TYPE',
  'OUTSIDE_DATASET',
  'MALFORMED_MANIFEST_LINE',
  'DUPLICATE',
  'INVALID_KEY',
  'NOT_FOUND',
  'ACCESS_DENIED',
  'EMPTY_OBJECT',
  'TOO_LARGE',
  'TOO_MANY_PIXELS',
  'NOT_AN_IMAGE',
  'CORRUPT_IMAGE',
  'MODEL_ERROR',
  'MALFORMED_OUTPUT',
  'MISSING_OUTPUT',
  'NOT_PROCESSED',
] as const;
export const RejectionReasonSchema = z.enum(REJECTION_REASONS);
export type RejectionReason = z.infer<typeof RejectionReasonSchema>;

export const STAGES = ['plan', 'preprocess', 'transform', 'aggregate', 'report'] as const;
export type StageName = (typeof STAGES)[number];

/** One object to run inference on, as the plan writes it into the item parts (one JSON line each). */
export const DatasetItemSchema = z.strictObject({
  /** Position in the plan's item list; unique within a run. */
  index: z.int().min(0),
  bucket: z.string().min(1),
  key: z.string().min(1),
  /** Bytes, when the listing told us. */
  size: z.int().min(0).optional(),
  /** Ground truth from a JSONL manifest. */
  expected: z.string().optional(),
});
export type DatasetItem = z.infer<typeof DatasetItemSchema>;

/** An input object that will not get a prediction, and why. */
export const RejectedItemSchema = z.strictObject({
  /**
   * The object key; for a manifest line that names no usable key (or repeats one), `<manifest key>#L<line>`, and
   * `<manifest key>#L<line>E<entry>` for an element of a SageMaker ManifestFile.
   */
  key: z.string().min(1),
  bucket: z.string().optional(),
  reason: RejectionReasonSchema,
  message: z.string(),
  stage: z.enum(STAGES),
  /** 1-based manifest line, where the item came from a manifest. */
  line: z.int().min(1).optional(),
});
export type RejectedItem = z.infer<typeof RejectedItemSchema>;

/**
 * Where a resized image sits in its original: original = (resized - offset) / scale.
 * Carried beside the model input so boxes can be mapped back to the original image's pixels.
 */
export const GeometrySchema = z.strictObject({
  originalWidth: z.int().positive(),
  originalHeight: z.int().positive(),
  width: z.int().positive(),
  height: z.int().positive(),
  scaleX: z.number().positive(),
  scaleY: z.number().positive(),
  offsetX: z.number().min(0),
  offsetY: z.number().min(0),
});
export type Geometry = z.infer<typeof GeometrySchema>;

/** What the model container receives after `DataProcessing.InputFilter` = `$.input`. */
export const ModelInputSchema = z.strictObject({
  image: z.string().min(1),
  format: z.enum(['jpeg', 'png']),
  width: z.int().positive(),
  height: z.int().positive(),
});
export type ModelInput = z.infer<typeof ModelInputSchema>;

/** One line of a Batch Transform input part, as preprocess writes it. */
export const TransformRecordSchema = z.strictObject({
  id: z.int().min(0),
  bucket: z.string(),
  key: z.string(),
  expected: z.string().optional(),
  geometry: GeometrySchema,
  input: ModelInputSchema,
});
export type TransformRecord = z.infer<typeof TransformRecordSchema>;

/** One entry of a transform index: which object a line of the transform input part (and of its output) is. */
export const TransformIndexEntrySchema = z.strictObject({ id: z.int().min(0), key: z.string(), bucket: z.string() });
export type TransformIndexEntry = z.infer<typeof TransformIndexEntrySchema>;

/**
 * A transform index (`runs/<runId>/transform-index/<part>.json`), written by preprocess beside each transform input
 * part and read by aggregate: one entry per line of the part, in line order.
 */
export const TransformIndexSchema = z.array(TransformIndexEntrySchema);

/** The Batch Transform `DataProcessing` that goes with {@link TransformRecordSchema}. */
export const TRANSFORM_DATA_PROCESSING = {
  InputFilter: '$.input',
  JoinSource: 'Input',
  OutputFilter: "$['id','key','bucket','expected','geometry','SageMakerOutput']",
} as const;

const PointSchema = z.tuple([z.number(), z.number()]);

/** What the model server returns for one record (the `SageMakerOutput` of a joined output line). */
export const ModelOutputSchema = z.looseObject({
  model: z.looseObject({ name: z.string(), version: z.string() }).optional(),
  text: z.string().optional(),
  confidence: z.number().min(0).max(1).optional(),
  lines: z
    .array(z.looseObject({ text: z.string(), confidence: z.number(), box: z.array(PointSchema).optional() }))
    .optional(),
  labels: z.array(z.looseObject({ label: z.string(), score: z.number() })).optional(),
  error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
});
export type ModelOutput = z.infer<typeof ModelOutputSchema>;

/**
 * One joined Batch Transform output line: the input record's fields that `OutputFilter` keeps (all but `input`)
 * beside the model's `SageMakerOutput`.
 */
export const TransformOutputLineSchema = z.looseObject({
  ...TransformRecordSchema.omit({ input: true }).shape,
  SageMakerOutput: ModelOutputSchema,
});

export const TextLineSchema = z.strictObject({
  text: z.string(),
  confidence: z.number(),
  /** Four corners in original-image pixels. */
  box: z.array(PointSchema).optional(),
});

/** The original (EXIF-oriented) image's size in pixels: the space of every line box, and of its thumbnail. */
export const ImageSizeSchema = z.strictObject({ width: z.int().positive(), height: z.int().positive() });

/** A prediction as stored in the predictions table (one per input object per run). */
export const PredictionRecordSchema = z.strictObject({
  runId: z.string(),
  key: z.string(),
  bucket: z.string(),
  outcome: z.literal('PREDICTED'),
  modelName: z.string(),
  modelVersion: z.string(),
  text: z.string().optional(),
  label: z.string().optional(),
  confidence: z.number().min(0).max(1),
  lines: z.array(TextLineSchema).optional(),
  /** Absent on rows written before the field existed. */
  image: ImageSizeSchema.optional(),
  expected: z.string().optional(),
  /** Whether `text` (or `label`) equals `expected` after Unicode (NFKC) and whitespace normalisation; case counts. */
  match: z.boolean().optional(),
  part: z.string(),
  updatedAt: z.string(),
});
export type PredictionRecord = z.infer<typeof PredictionRecordSchema>;

/**
 * The model read the image and found no text (empty or blank `text`, no label). Its own outcome, not a prediction
 * with confidence 0: it has no confidence, so it stays out of the confidence histogram and mean. It counts against
 * accuracy where expected text was given (`match: false`), as a reader would count an unread page.
 * Reconciliation: items = predicted + noText + rejected.
 */
export const NoTextRecordSchema = z.strictObject({
  runId: z.string(),
  key: z.string(),
  bucket: z.string(),
  outcome: z.literal('NO_TEXT'),
  modelName: z.string(),
  modelVersion: z.string(),
  image: ImageSizeSchema.optional(),
  expected: z.string().optional(),
  /** Present when `expected` is: true only when the expected text is blank as well. */
  match: z.boolean().optional(),
  part: z.string(),
  updatedAt: z.string(),
});
export type NoTextRecord = z.infer<typeof NoTextRecordSchema>;

/** A rejection as stored in the predictions table, beside the predictions of the same run. */
export const RejectionRecordSchema = z.strictObject({
  runId: z.string(),
  key: z.string(),
  bucket: z.string().optional(),
  outcome: z.literal('REJECTED'),
  reason: RejectionReasonSchema,
  message: z.string(),
  stage: z.enum(STAGES),
  line: z.int().optional(),
  updatedAt: z.string(),
});
export type RejectionRecord = z.infer<typeof RejectionRecordSchema>;

export type OutcomeRecord = PredictionRecord | NoTextRecord | RejectionRecord;

/** Every row outcome, in the order reports list them. */
export const OUTCOMES = ['PREDICTED', 'NO_TEXT', 'REJECTED'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The predictions-table row of a rejected item. */
export function rejectionRecord(runId: string, rejection: RejectedItem, updatedAt: string): RejectionRecord {
  return { runId, outcome: 'REJECTED', ...rejection, updatedAt };
}

export const RUN_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const RunCountsSchema = z.strictObject({
  items: z.int().min(0),
  predicted: z.int().min(0),
  /** NO_TEXT rows. Absent in records written before the outcome existed (then 0). */
  noText: z.int().min(0).optional(),
  rejected: z.int().min(0),
  rejectedByReason: z.record(z.string(), z.int().min(0)),
});
/** Once the report has run: items = predicted + (noText ?? 0) + rejected. */
export type RunCounts = z.infer<typeof RunCountsSchema>;

/** Where a run's report files are, as `s3://` URIs. */
export const ReportFilesSchema = z.strictObject({ json: z.string(), csv: z.string(), html: z.string() });
export type ReportFiles = z.infer<typeof ReportFilesSchema>;

export const StageTimingSchema = z.strictObject({ startedAt: z.string(), finishedAt: z.string(), seconds: z.number() });

/** The run table's row: one per run id. */
export const RunRecordSchema = z.strictObject({
  runId: z.string(),
  status: z.enum(RUN_STATUSES),
  dataset: z.string(),
  settings: z.strictObject({ preprocess: PreprocessSettingsSchema, transform: TransformSettingsSchema }),
  /** sha256 of dataset + settings: a run id may only be reused with the same ones. */
  settingsHash: z.string(),
  executionId: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().optional(),
  counts: RunCountsSchema.optional(),
  timings: z.record(z.string(), StageTimingSchema).optional(),
  report: ReportFilesSchema.optional(),
  error: z.strictObject({ error: z.string(), cause: z.string() }).optional(),
  /** The execution attempt (redrive count) whose failure was recorded, so each failure is announced once. */
  failedAttempt: z.int().min(0).optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/** Number of equal-width confidence buckets in the statistics ([0,0.1), ..., [0.9,1]). */
export const CONFIDENCE_BUCKETS = 10;

/** What aggregate returns for one transform output object: small and fixed-size, whatever the part holds. */
export const PartStatsSchema = z.strictObject({
  part: z.string(),
  lines: z.int().min(0),
  predicted: z.int().min(0),
  /** NO_TEXT rows: outside the confidence figures, inside `withExpected` where expected text was given. */
  noText: z.int().min(0).default(0),
  rejected: z.int().min(0),
  rejectedByReason: z.record(z.string(), z.int().min(0)),
  confidenceHistogram: z.array(z.int().min(0)).length(CONFIDENCE_BUCKETS),
  confidenceSum: z.number().min(0),
  withExpected: z.int().min(0),
  matches: z.int().min(0),
  models: z.array(z.string()),
});
export type PartStats = z.infer<typeof PartStatsSchema>;
