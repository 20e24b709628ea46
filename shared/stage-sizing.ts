/**
 * How each stage's Lambda function is sized, as plain numbers: infra/stage-functions.ts deploys these, and the cost
 * model (shared/cost-model.ts) prices them, so the estimate in `nightshift status` and the report cannot drift from
 * what runs. No aws-cdk-lib here: stages and the CLI import this file.
 */

/** A Lambda instruction set architecture, as Lambda names it. */
export type LambdaArchitecture = 'arm64' | 'x86_64';

/** One function's size. */
export interface LambdaSizing {
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly architecture: LambdaArchitecture;
}

/**
 * Sizes per stage function. Every function runs on arm64 (Lambda's arm64 price per GB-second is 20% below
 * x86_64's); preprocess can too because its sharp binaries for linux-arm64 are installed by `npm ci` and copied into
 * the bundle at synth (docs/decisions.md, "sharp for linux-arm64").
 *
 * Preprocess: 1,024 MB. Its CPU costs the same at any memory (Lambda sells CPU in proportion to memory, so a
 * second of one vCPU costs 1,769 MB-seconds whatever the setting) while its S3 waits cost in proportion to memory,
 * so the smallest memory that holds a batch wins: a 100-image batch peaked at 230 MB RSS on the 0.46-megapixel
 * photos and 590 MB with 50 12-megapixel ones in memory at once (docs/cost.md, "Sizing the functions"). At 1,024 MB
 * (0.58 vCPU) a 200-image batch of 12-megapixel photos needs about 25 s of its 120 s; 120 s keeps an attempt and
 * its retry inside an Express child's five minutes.
 *
 * Aggregate: 512 MB. It waits on two S3 reads and BatchWriteItem calls and parses a part's lines, so more memory
 * would buy CPU it does not use.
 */
export const STAGE_SIZING = {
  plan: { memoryMb: 1024, timeoutSeconds: 900, architecture: 'arm64' },
  preprocess: { memoryMb: 1024, timeoutSeconds: 120, architecture: 'arm64' },
  aggregate: { memoryMb: 512, timeoutSeconds: 90, architecture: 'arm64' },
  report: { memoryMb: 1769, timeoutSeconds: 900, architecture: 'arm64' },
  'finalize-failure': { memoryMb: 256, timeoutSeconds: 30, architecture: 'arm64' },
  trigger: { memoryMb: 256, timeoutSeconds: 30, architecture: 'arm64' },
} as const satisfies Record<string, LambdaSizing>;

/**
 * Transform output objects (`.out`, one per preprocess batch) that one child of the Aggregate map handles: the
 * map's `ItemBatcher` `MaxItemsPerBatch` ("Step Functions adds the items to an Items array. It then passes the
 * array as input to each child workflow execution", ItemBatcher (Map) in the Step Functions Developer Guide).
 *
 * Every child start costs the same whatever it does (a Standard transition, an Express request, a Lambda request:
 * $0.0000262), so one child per part made 5,000 of them per million images at the default 200-image batch. Five
 * parts a call is 1,000 children ($0.026). More would save at most another $0.013 per million images while
 * halving the children a mid-size run spreads over (a 10,000-image run has 50 parts: 10 children at 5, 5 at 10).
 * The time limit is far off: a 200-row part took 0.91 s in `bench:aggregate` on the loaded 2-core machine, so five
 * are about 5 s of the aggregate function's 90 s, and a part that takes ten times as long (throttled writes
 * backing off) still fits. Memory does not grow with it: parts are read one after another, each streamed, and at
 * most two are held at once. Once a part's output is read to its end, the next part's index is fetched whole and
 * its output opened; Node's readline iterator then keeps reading lines into its queue until about a thousand are
 * waiting (1,150 lines of 300 bytes pulled after one `next()` on Node 20), so the whole next `.out`, one line per
 * image of a preprocess batch (`preprocess.batchSize`, at most 200), may sit in memory while the current part's
 * last writes finish.
 */
export const AGGREGATE_PARTS_PER_CHILD = 5;
