/**
 * Where the pipeline keeps things: every prefix of the pipeline bucket and the transform job-name prefix. The stages,
 * the state machine and the stack import these, so a folder named in an IAM grant, a lifecycle rule or a dataset
 * check is the folder the code writes.
 */

/** Top-level folders of the pipeline bucket. */
export const BUCKET_PREFIXES = {
  /** Datasets uploaded into the pipeline bucket (the nightly schedule reads `datasets/nightly/<date>/`). */
  datasets: 'datasets/',
  /** Where a dropped manifest starts a run. */
  manifests: 'manifests/',
  /** Intermediate data of each run ({@link runLayout}). */
  runs: 'runs/',
  /** Each run's report files. */
  reports: 'reports/',
  /** Distributed Map ResultWriter output ({@link mapResultsLayout}). */
  mapResults: 'map-results/',
} as const;

/** Prefixes the pipeline writes itself; a dataset in the pipeline bucket may not overlap them. */
export const PIPELINE_OWNED_PREFIXES: readonly string[] = [
  BUCKET_PREFIXES.runs,
  BUCKET_PREFIXES.reports,
  BUCKET_PREFIXES.mapResults,
];

/** Where a run keeps its intermediate and final data in the pipeline bucket. */
export const runLayout = {
  root: (runId: string) => `${BUCKET_PREFIXES.runs}${runId}/`,
  items: (runId: string) => `${BUCKET_PREFIXES.runs}${runId}/items/`,
  itemsManifest: (runId: string) => `${BUCKET_PREFIXES.runs}${runId}/items/manifest.json`,
  /** Batch Transform's input; the report deletes it once the run has SUCCEEDED (a FAILED run keeps it to redrive). */
  transformInput: (runId: string) => `${BUCKET_PREFIXES.runs}${runId}/transform-input/`,
  transformIndex: (runId: string) => `${BUCKET_PREFIXES.runs}${runId}/transform-index/`,
  transformOutput: (runId: string) => `${BUCKET_PREFIXES.runs}${runId}/transform-output/`,
  /**
   * Small WebP images of the accepted inputs, one pack per preprocess batch (`<part>.json`): preprocess writes
   * them, the report embeds those of the rows its page shows (shared/thumbnails.ts).
   */
  thumbnails: (runId: string) => `${BUCKET_PREFIXES.runs}${runId}/thumbnails/`,
  report: (runId: string) => `${BUCKET_PREFIXES.reports}${runId}/`,
} as const;

/**
 * The ResultWriter `Prefix` of each Distributed Map (no trailing slash). Step Functions writes a Map Run's results
 * under `<Prefix>/<map run id>/` (`manifest.json` and one file per status) and returns that manifest's key in
 * `ResultWriterDetails.Key`, so the folder is per map run, not per run id
 * (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
 */
export const mapResultsLayout = {
  preprocess: `${BUCKET_PREFIXES.mapResults}preprocess`,
  aggregate: `${BUCKET_PREFIXES.mapResults}aggregate`,
} as const;

/**
 * Every SageMaker transform job the pipeline creates is named with this prefix, so IAM can name the pipeline's
 * jobs (`transform-job/ns-*`) before their names exist.
 */
export const TRANSFORM_JOB_PREFIX = 'ns-';
