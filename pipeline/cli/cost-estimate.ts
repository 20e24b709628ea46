/**
 * What a run probably cost: an ESTIMATE from the run record, with the arithmetic of docs/cost.md. It is not a bill:
 * prices are approximate us-east-1 on-demand list prices, the preprocess CPU time is `npm run bench:preprocess`'s
 * measurement on one machine, and the S3 waits and the aggregate time are assumptions (docs/cost.md says which).
 * Cost Explorer (tag or resource filters) has the real figures.
 */
import type { RunRecord } from '../../shared/records.ts';

/**
 * SageMaker Batch Transform, US$ per instance-hour: approximate us-east-1 on-demand list prices of common types.
 * Other regions differ; `status --instance-price` overrides the table.
 */
export const TRANSFORM_PRICE_PER_HOUR: Readonly<Record<string, number>> = Object.freeze({
  'ml.g4dn.xlarge': 0.736,
  'ml.g4dn.2xlarge': 1.053,
  'ml.g4dn.4xlarge': 1.686,
  'ml.g4dn.8xlarge': 3.046,
  'ml.g4dn.12xlarge': 5.477,
  'ml.g5.xlarge': 1.408,
  'ml.g5.2xlarge': 1.515,
  'ml.g5.4xlarge': 2.03,
  'ml.g5.8xlarge': 3.06,
  'ml.g5.12xlarge': 7.09,
  'ml.p3.2xlarge': 3.825,
  'ml.p3.8xlarge': 14.688,
  'ml.m5.xlarge': 0.23,
  'ml.c5.xlarge': 0.204,
});

/** The docs/cost.md assumptions and prices. */
export const COST_ASSUMPTIONS = Object.freeze({
  /**
   * CPU seconds to decode, resize and encode one image on one core: `npm run bench:preprocess`, 14.4 ms per image
   * on the 111 photos of ../shared/datasets/photos (0.46 megapixels on average; 2-core AMD EPYC, load 13).
   */
  preprocessCpuSecondsPerImage: 0.0144,
  /**
   * The preprocess function's memory (x86_64), as infra/stage-functions.ts sizes it (3008 MB): a copy, because
   * pipeline/ may not import infra/.
   */
  preprocessGb: 3.008,
  /**
   * Lambda gives a function CPU in proportion to its memory: "At 1,769 MB, a function has the equivalent of one
   * vCPU (one vCPU-second of credits per second)" (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
   */
  lambdaGbPerVcpu: 1.769,
  /**
   * ASSUMED seconds one S3 request waits: for objects under 512 KB "median latencies are often in the tens of
   * milliseconds range" (https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html).
   * A batch waits for its downloads in waves of `downloadConcurrency`, then for its part's PUT; CPU work is not
   * counted as overlapping those waits.
   */
  s3RequestSeconds: 0.05,
  /**
   * ASSUMED seconds per aggregate child (one transform output part: two S3 GETs, two 25-row BatchWriteItem calls,
   * parsing 50 lines) and its memory (arm64).
   */
  aggregateSeconds: 0.5,
  aggregateGb: 1,
  lambdaX86PerGbSecond: 0.0000166667,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.0000002,
  /** Express children: per request, and per GB-second with 64 MB billed per child. */
  expressPerRequest: 0.000001,
  expressPerGbSecond: 0.00001667,
  expressGb: 0.0625,
  /** Standard parent: about 12 transitions plus 4 per item part of 100,000 items. */
  standardPerTransition: 0.000025,
  itemsPerPart: 100_000,
  /** Two write request units per row (rows of 1-2 KB), on-demand. */
  dynamoPerWriteUnit: 0.000000625,
  writeUnitsPerRow: 2,
  /** One S3 GET per input object. */
  s3PerGet: 0.0000004,
});

export interface CostLine {
  readonly item: string;
  /** The arithmetic, for people to check. */
  readonly detail: string;
  readonly usd: number;
}

export interface CostEstimate {
  readonly totalUsd: number;
  readonly lines: readonly CostLine[];
  /** Where the estimate is weaker than usual (no transform timing, unknown instance type). */
  readonly notes: readonly string[];
}

export interface CostOptions {
  /** Timings of a run still going are counted up to now. */
  readonly now: Date;
  /** Overrides {@link TRANSFORM_PRICE_PER_HOUR} for the run's instance type. */
  readonly instancePricePerHour?: number;
}

/** Estimates a run's cost from its record: GPU time from its transform timing, the rest from its item count. */
export function estimateRunCost(run: RunRecord, options: CostOptions): CostEstimate {
  const a = COST_ASSUMPTIONS;
  const notes: string[] = [];
  const items = run.counts?.items ?? 0;
  if (!run.counts) notes.push('no item count: the run has not finished planning, so nothing ran after it');
  const { batchSize, downloadConcurrency } = run.settings.preprocess;
  const { instanceType, instanceCount } = run.settings.transform;
  const batches = Math.ceil(items / batchSize);

  const transformSeconds = transformTime(run, options.now, notes);
  const price = options.instancePricePerHour ?? TRANSFORM_PRICE_PER_HOUR[instanceType];
  if (price === undefined) notes.push(`no price for ${instanceType} in the table: pass --instance-price USD_PER_HOUR`);
  const hours = transformSeconds / 3600;
  const preprocess = preprocessSeconds(items, batches, batchSize, downloadConcurrency);
  const lines: CostLine[] = [
    {
      item: 'Batch Transform',
      detail: `${round(hours, 3)} h x ${instanceCount} x ${instanceType} at ${price === undefined ? '?' : `$${price}`}/h`,
      usd: hours * instanceCount * (price ?? 0),
    },
    {
      item: 'Lambda preprocess',
      detail:
        `${plural(items, 'image', 'images')} x ${a.preprocessCpuSecondsPerImage * 1000} ms CPU / ` +
        `${round(a.preprocessGb / a.lambdaGbPerVcpu, 2)} vCPU + ${plural(batches, 'batch', 'batches')} x ` +
        `${round(preprocess.waitPerBatch, 2)} s S3 waits, x ${a.preprocessGb} GB`,
      usd: preprocess.total * a.preprocessGb * a.lambdaX86PerGbSecond + batches * a.lambdaPerRequest,
    },
    {
      item: 'Lambda aggregate',
      detail: `${plural(batches, 'part', 'parts')} x ${a.aggregateSeconds} s x ${a.aggregateGb} GB (arm64)`,
      usd: batches * (a.aggregateSeconds * a.aggregateGb * a.lambdaArmPerGbSecond + a.lambdaPerRequest),
    },
    (() => {
      const children = 2 * batches;
      const transitions = 12 + 4 * Math.ceil(items / a.itemsPerPart);
      return {
        item: 'Step Functions',
        detail: `${children} Express children + ${transitions} Standard transitions`,
        usd:
          children * a.expressPerRequest +
          (preprocess.total + batches * a.aggregateSeconds) * a.expressGb * a.expressPerGbSecond +
          transitions * a.standardPerTransition,
      };
    })(),
    {
      item: 'DynamoDB writes',
      detail: `${plural(items, 'row', 'rows')} x ${a.writeUnitsPerRow} WRU`,
      usd: items * a.writeUnitsPerRow * a.dynamoPerWriteUnit,
    },
    { item: 'S3 reads', detail: plural(items, 'GET', 'GETs'), usd: items * a.s3PerGet },
  ];
  return {
    totalUsd: lines.reduce((sum, line) => sum + line.usd, 0),
    lines,
    notes,
  };
}

/**
 * Billed seconds of the preprocess Lambda over the whole run: the images' CPU time spread over the vCPUs its memory
 * buys, plus each batch's S3 waits (downloads in waves of `downloadConcurrency`, then the part's PUT).
 */
function preprocessSeconds(
  items: number,
  batches: number,
  batchSize: number,
  downloadConcurrency: number,
): { total: number; waitPerBatch: number } {
  const a = COST_ASSUMPTIONS;
  const vcpus = a.preprocessGb / a.lambdaGbPerVcpu;
  const perBatch = Math.min(batchSize, Math.max(items, 1));
  const waitPerBatch = (Math.ceil(perBatch / downloadConcurrency) + 1) * a.s3RequestSeconds;
  return { total: (items * a.preprocessCpuSecondsPerImage) / vcpus + batches * waitPerBatch, waitPerBatch };
}

/** Seconds of Batch Transform: its stage timing, else (an upper bound) the run's whole duration. */
function transformTime(run: RunRecord, now: Date, notes: string[]): number {
  const timing = run.timings?.transform;
  if (timing) return timing.seconds;
  // Without an item count the plan never finished, so no transform job was started.
  if (!run.counts) return 0;
  if (run.counts.items > 0 && run.counts.rejected === run.counts.items) return 0;
  const end = run.finishedAt ? new Date(run.finishedAt) : now;
  const seconds = Math.max(0, (end.getTime() - new Date(run.createdAt).getTime()) / 1000);
  notes.push('no transform timing recorded: the GPU time is the whole run duration, an upper bound');
  return Number.isFinite(seconds) ? seconds : 0;
}

function plural(count: number, one: string, many: string): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
