import { z } from 'zod';
import { InvalidInputError } from './errors.ts';
import { parseS3Uri, type S3Location } from './s3-location.ts';

declare module 'zod' {
  /** Metadata of the execution-input fields (`.meta()`): `nightshift start` derives its options from it. */
  interface GlobalMeta {
    /** The `nightshift start` option that sets the field, without the dashes (`batch-size`). */
    readonly flag?: string;
    /** What the option's value is, in help (`N`, `PX`, `TYPE`). */
    readonly placeholder?: string;
  }
}

/** How each image is turned into model input. */
export const PreprocessSettingsSchema = z.strictObject({
  /** Canonical model input width in pixels. */
  width: z
    .int()
    .min(16)
    .max(4096)
    .default(960)
    .meta({ flag: 'width', placeholder: 'PX', description: 'model input width' }),
  /** Canonical model input height in pixels. */
  height: z
    .int()
    .min(16)
    .max(4096)
    .default(960)
    .meta({ flag: 'height', placeholder: 'PX', description: 'model input height' }),
  /**
   * `inside`: keep aspect ratio, longest side fits (detectors such as PaddleOCR's DB take any size).
   * `contain`: keep aspect ratio and pad to exactly width x height. `fill`: stretch to exactly width x height.
   */
  fit: z
    .enum(['inside', 'contain', 'fill'])
    .default('inside')
    .meta({ flag: 'fit', placeholder: 'MODE', description: 'how the image fits width x height' }),
  encoding: z
    .enum(['jpeg', 'png'])
    .default('jpeg')
    .meta({ flag: 'encoding', placeholder: 'FMT', description: 'how the resized image travels to the model' }),
  jpegQuality: z
    .int()
    .min(50)
    .max(100)
    .default(90)
    .meta({ flag: 'jpeg-quality', placeholder: 'Q', description: 'JPEG quality' }),
  /** Decompression-bomb guard: images with more pixels are rejected before they are decoded. */
  maxInputPixels: z
    .int()
    .positive()
    .default(100_000_000)
    .meta({ flag: 'max-input-pixels', placeholder: 'N', description: 'decompression-bomb guard' }),
  /** Objects larger than this are rejected without being downloaded. */
  maxObjectBytes: z
    .int()
    .positive()
    .default(50 * 1024 * 1024)
    .meta({ flag: 'max-object-bytes', placeholder: 'N', description: 'larger objects are rejected unread' }),
  /**
   * Items per Distributed Map batch (ItemBatcher MaxItemsPerBatch). At most 200: one preprocess Lambda (1 GB,
   * 120 s, inside an Express child's 5 minutes with its retries) must finish a batch of large photos. The default is
   * the largest: every batch costs a preprocess Map Run child start (one Standard transition), an Express request,
   * a fifth of an aggregate child, four S3 PUTs and three GETs, so 200 images a batch cost $0.15 per million images
   * in child starts where 50 cost $0.60 (docs/cost.md).
   */
  batchSize: z
    .int()
    .min(1)
    .max(200)
    .default(200)
    .meta({ flag: 'batch-size', placeholder: 'N', description: 'images per Distributed Map batch' }),
  /** Child workflows at once (Distributed Map MaxConcurrency). */
  maxConcurrency: z
    .int()
    .min(1)
    .max(10_000)
    .default(40)
    .meta({ flag: 'max-concurrency', placeholder: 'N', description: 'child workflows at once' }),
  /**
   * Downloads at once inside one batch. A download mostly waits on S3, so 32 keep a batch's images coming while
   * its cores decode; each holds at most one object (`maxObjectBytes`) until its image is done.
   */
  downloadConcurrency: z
    .int()
    .min(1)
    .max(64)
    .default(32)
    .meta({ flag: 'download-concurrency', placeholder: 'N', description: 'downloads at once in a batch' }),
  /** Share of failed batches the run tolerates (Distributed Map ToleratedFailurePercentage). */
  toleratedFailurePercentage: z.number().min(0).max(100).default(5).meta({
    flag: 'tolerated-failure-percentage',
    placeholder: 'P',
    description: 'failed batches tolerated, in percent',
  }),
});

/** How the SageMaker Batch Transform job runs. */
export const TransformSettingsSchema = z
  .strictObject({
    instanceType: z
      .string()
      .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must look like ml.g5.xlarge')
      .default('ml.g5.xlarge')
      .meta({ flag: 'instance-type', placeholder: 'TYPE', description: 'Batch Transform instance type' }),
    instanceCount: z
      .int()
      .min(1)
      .max(100)
      .default(1)
      .meta({ flag: 'instance-count', placeholder: 'N', description: 'Batch Transform instances' }),
    /** SageMaker's MaxPayloadInMB (1-100). One record larger than this fails its input object. */
    maxPayloadInMB: z
      .int()
      .min(1)
      .max(100)
      .default(6)
      .meta({ flag: 'max-payload-mb', placeholder: 'MB', description: 'SageMaker MaxPayloadInMB' }),
    /** 0 lets SageMaker ask the container's /execution-parameters. */
    maxConcurrentTransforms: z.int().min(0).max(64).default(0).meta({
      flag: 'max-concurrent-transforms',
      placeholder: 'N',
      description: 'requests at once per instance; 0 asks the container',
    }),
    invocationTimeoutSeconds: z.int().min(1).max(3600).default(600).meta({
      flag: 'invocation-timeout-seconds',
      placeholder: 'S',
      description: 'per-request model time-out in seconds',
    }),
    invocationRetries: z
      .int()
      .min(0)
      .max(3)
      .default(1)
      .meta({ flag: 'invocation-retries', placeholder: 'N', description: 'per-request retries' }),
  })
  .refine(
    // CreateTransformJob (MaxPayloadInMB): MaxConcurrentTransforms x MaxPayloadInMB may not exceed 100 MB; checked
    // here so the run is refused at start, not after preprocessing, by SageMaker.
    (t) => t.maxConcurrentTransforms * t.maxPayloadInMB <= 100,
    {
      message:
        'maxConcurrentTransforms x maxPayloadInMB must be at most 100 (SageMaker refuses the job otherwise); lower one of them',
      path: ['maxConcurrentTransforms'],
    },
  );

// Step Functions execution names: 1-80 characters of letters, digits, '-' and '_'.
/** What a run id may be: it names S3 prefixes, table keys and notification subjects. */
export const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;

/** What a run is started with: by the schedule, by hand, by the CLI or by the manifest trigger. */
export const ExecutionInputSchema = z.strictObject({
  /** `s3://bucket/prefix/` (every object under it) or `s3://bucket/path/manifest.json|.jsonl` (a manifest). */
  dataset: z.string().min(6),
  /** Defaults to the Step Functions execution name. */
  runId: z.string().regex(RUN_ID, 'use 1-80 letters, digits, "-" or "_", starting with a letter or digit').optional(),
  preprocess: PreprocessSettingsSchema.prefault({}),
  transform: TransformSettingsSchema.prefault({}),
});

export type PreprocessSettings = z.infer<typeof PreprocessSettingsSchema>;
export type TransformSettings = z.infer<typeof TransformSettingsSchema>;
export type ExecutionInput = Readonly<z.infer<typeof ExecutionInputSchema>>;
export type ExecutionInputDraft = z.input<typeof ExecutionInputSchema>;

/** Where a run's images come from. */
export type DatasetSource =
  | { readonly type: 'prefix'; readonly location: S3Location }
  | { readonly type: 'manifest'; readonly format: 'manifest-file' | 'jsonl'; readonly location: S3Location };

const MANIFEST_SUFFIXES: ReadonlyArray<readonly [string, 'manifest-file' | 'jsonl']> = [
  ['.jsonl', 'jsonl'],
  ['.json', 'manifest-file'],
  ['.manifest', 'manifest-file'],
];

/** Tells a prefix from a manifest by its shape, with an error that says which shapes are accepted. */
export function classifyDataset(uri: string): DatasetSource {
  const location = parseS3Uri(uri, 'dataset');
  if (location.key === '' || location.key.endsWith('/')) return { type: 'prefix', location };
  const lower = location.key.toLowerCase();
  const manifest = MANIFEST_SUFFIXES.find(([suffix]) => lower.endsWith(suffix));
  if (manifest) return { type: 'manifest', format: manifest[1], location };
  throw new InvalidInputError(
    `dataset "${uri}" is neither a prefix nor a manifest: end a prefix with "/" (s3://bucket/images/) ` +
      'or point at a manifest ending in .json, .manifest (SageMaker ManifestFile) or .jsonl',
  );
}

/** Renders zod issues as one sentence naming each offending field. */
export function formatIssues(error: z.ZodError, what: string): string {
  const parts = error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    if (issue.code === 'unrecognized_keys')
      return `${path}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${path}: ${issue.message}`;
  });
  return `${what} is invalid: ${parts.join('; ')}`;
}

/** Validates an execution input, applying defaults; throws InvalidInputError naming every bad field. */
export function parseExecutionInput(raw: unknown): ExecutionInput {
  const result = ExecutionInputSchema.safeParse(raw);
  if (!result.success) throw new InvalidInputError(formatIssues(result.error, 'execution input'));
  classifyDataset(result.data.dataset);
  return Object.freeze(result.data);
}
