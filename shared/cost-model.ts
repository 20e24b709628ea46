/**
 * What a run costs on AWS: one model for docs/cost.md's tables, `nightshift status` and the report. It is an
 * ESTIMATE, not a bill: prices are us-east-1 on-demand list prices (sources on each constant), the deployed sizes
 * come from shared/stage-sizing.ts (what infra deploys), the per-image and per-part times are measurements or
 * labelled assumptions, and the request counts follow the code (every S3 and DynamoDB call per batch, listed on
 * {@link S3_REQUESTS}). Cost Explorer has the real figures.
 */

import type { RunRecord } from './records.ts';
import { AGGREGATE_PARTS_PER_CHILD, type LambdaArchitecture, type LambdaSizing, STAGE_SIZING } from './stage-sizing.ts';
import { AGGREGATE_WRITES_IN_FLIGHT, BATCH_WRITE_LIMIT } from './tables.ts';

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

/** us-east-1 list prices, US$. */
export const PRICES = Object.freeze({
  /**
   * Lambda per GB-second (first tier) and per request: x86_64 $0.0000166667, arm64 $0.0000133334, $0.20 per
   * million requests (https://aws.amazon.com/lambda/pricing/).
   */
  lambdaPerGbSecond: { x86_64: 0.0000166667, arm64: 0.0000133334 } satisfies Record<LambdaArchitecture, number>,
  lambdaPerRequest: 0.0000002,
  /**
   * Step Functions Standard: $0.025 per 1,000 state transitions, and a Distributed Map "is charged one state
   * transition for each child workflow execution" it starts
   * (https://aws.amazon.com/step-functions/pricing/, https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html).
   */
  standardPerTransition: 0.000025,
  /**
   * Step Functions Express: $1.00 per million requests and $0.06 per GB-hour ($0.00001667 per GB-second) for the
   * first 1,000 GB-hours; duration "rounded up to the nearest 100ms", memory "billed in 64-MB chunks", and a
   * workflow uses about 50 MB plus its definition and payload (https://aws.amazon.com/step-functions/pricing/).
   */
  expressPerRequest: 0.000001,
  expressPerGbSecond: 0.00001667,
  expressBilledGb: 0.0625,
  /**
   * DynamoDB on demand: $0.625 per million write request units (one per 1 KB of item), $0.125 per million read
   * request units (one per 4 KB strongly consistent, two eventually consistent reads)
   * (https://aws.amazon.com/dynamodb/pricing/on-demand/).
   */
  dynamoPerWriteUnit: 0.000000625,
  dynamoPerReadUnit: 0.000000125,
  /**
   * S3 Standard: $0.005 per 1,000 PUT, COPY, POST or LIST requests, $0.0004 per 1,000 GET, SELECT and other
   * requests, $0.023 per GB-month for the first 50 TB (https://aws.amazon.com/s3/pricing/).
   */
  s3PerPut: 0.000005,
  s3PerGet: 0.0000004,
  s3PerGbMonth: 0.023,
  /** CloudWatch Logs standard ingestion: $0.50 per GB (https://aws.amazon.com/cloudwatch/pricing/). */
  logsPerGb: 0.5,
});

/**
 * Measured and assumed times and sizes. Replace an assumption with the real figure (CloudWatch `AWS/Lambda`
 * `Duration`, `AWS/States` `ExpressExecutionBilledDuration`) when you have it.
 */
export const COST_ASSUMPTIONS = Object.freeze({
  /**
   * CPU seconds of the stage's image work for one image on one core, model input and thumbnail: `npm run
   * bench:preprocess`, 1 worker: 17.9 and 18.7 ms per image in two runs on the 111 photos of
   * ../shared/datasets/photos (0.46 megapixels on average; 2-core AMD EPYC, quiet, load 1.6-2.3; docs/cost.md,
   * "Preprocess time"), the higher one taken.
   */
  preprocessCpuSecondsPerImage: 0.0187,
  /**
   * "At 1,769 MB, a function has the equivalent of one vCPU"
   * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
   */
  lambdaMbPerVcpu: 1769,
  /**
   * ASSUMED wait of one S3 request: for objects under 512 KB "median latencies are often in the tens of
   * milliseconds range" (https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html).
   * CPU work is not counted as overlapping the waits.
   */
  s3RequestSeconds: 0.05,
  /**
   * CPU seconds of the aggregate stage's own work per row (reading the index and the `.out`, joining, marshalling,
   * BatchWriteItem calls): `npm run bench:aggregate`, 15.9 ms of client CPU per 50-row part, 5 parts a call, against
   * the local servers on the quiet 2-core AMD EPYC machine (load 0.8). The waits on S3 and DynamoDB are counted
   * apart, at {@link COST_ASSUMPTIONS.s3RequestSeconds} (`aggregatePartSeconds`).
   */
  aggregateCpuSecondsPerRow: 0.0159 / 50,
  /** ASSUMED seconds of the plan (listing) and report (reading every row) functions per 1,000 items. */
  planSecondsPer1000Items: 0.1,
  reportSecondsPer1000Items: 0.2,
  /**
   * Bytes of one DynamoDB prediction row as DynamoDB counts them (attribute names plus values,
   * {@link dynamoItemBytes}, with the shard partition attribute): the mean of the demo run's 49 prediction rows
   * (one or two text lines with their boxes; largest 490 B). A row passes 1 KB, and costs 2 write units, at about
   * eight text lines.
   */
  predictionRowBytes: 450,
  /**
   * Bytes per image kept in S3 for the run data's retention: its thumbnail in its batch's pack (2.8 KB of WebP on
   * the photos at libwebp effort 2, 3.7 KB as base64), its transform output line (about 1 KB) and its transform
   * index entry (about 0.1 KB).
   */
  keptBytesPerImage: 4_800,
  /**
   * Bytes of one image's transform input line (base64 model input, 87 KB on the photos: 28 of the 111
   * are sent as their own bytes, larger than a quality-90 re-encode). The report deletes a
   * run's transform input once the run has succeeded, so it is stored for the run's duration, which the model
   * takes to be the transform's time (the other stages take minutes); a failed run keeps it for the retention.
   */
  transformInputBytesPerImage: 87_000,
  /** ASSUMED CloudWatch Logs bytes per Lambda call: the stage's JSON lines plus Lambda's START/END/REPORT lines. */
  logBytesPerInvocation: 1500,
  /** Images per part of the plan's item lists (one PUT each). */
  itemsPerPlanPart: 100_000,
  /** How long a run's data stays in the pipeline bucket (infra's `runDataRetentionDays` default). */
  runDataRetentionDays: 30,
});

/** The AWS services a run's cost lines belong to, in the order they are shown. */
export const COST_SERVICES = ['SageMaker', 'Lambda', 'Step Functions', 'DynamoDB', 'S3', 'CloudWatch'] as const;
export type CostService = (typeof COST_SERVICES)[number];

export interface CostLine {
  readonly service: CostService;
  readonly item: string;
  /** The arithmetic, for people to check. */
  readonly detail: string;
  readonly usd: number;
}

export interface CostEstimate {
  readonly totalUsd: number;
  /** Batch Transform instance time. */
  readonly gpuUsd: number;
  /** GPU time over the total; 0 when the total is 0. */
  readonly gpuShare: number;
  /** Everything but the GPU time. */
  readonly otherUsd: number;
  /** Step Functions and the Lambda functions: the orchestration of issue 11's $1-per-million goal. */
  readonly orchestrationUsd: number;
  readonly byService: readonly { readonly service: CostService; readonly usd: number }[];
  readonly lines: readonly CostLine[];
  /** Where the estimate is weaker than usual (no transform timing, unknown instance type). */
  readonly notes: readonly string[];
}

/** What the model needs to know about a run. */
export interface CostInput {
  /** Items planned (each read from S3 and each ending as one DynamoDB row). */
  readonly items: number;
  /** Items rejected by preprocess or plan: no thumbnail, no transform line. @default 0 */
  readonly rejected?: number;
  readonly batchSize: number;
  readonly downloadConcurrency: number;
  readonly transform: {
    readonly seconds: number;
    readonly instanceType: string;
    readonly instanceCount: number;
    /** Overrides {@link TRANSFORM_PRICE_PER_HOUR}. */
    readonly pricePerHour?: number;
  };
}

/**
 * The cost input of a recorded run: its settings (batch size, downloads, instance type and count) with its counts
 * and Batch Transform time, as `nightshift status` and the report price it.
 */
export function runCostInput(
  settings: Pick<RunRecord['settings'], 'preprocess' | 'transform'>,
  counts: { readonly items: number; readonly rejected: number },
  transform: { readonly seconds: number; readonly pricePerHour?: number },
): CostInput {
  const { batchSize, downloadConcurrency } = settings.preprocess;
  const { instanceType, instanceCount } = settings.transform;
  return {
    items: counts.items,
    rejected: counts.rejected,
    batchSize,
    downloadConcurrency,
    transform: { ...transform, instanceType, instanceCount },
  };
}

/**
 * Every S3 request of a run, by who makes it. Per image: one GET (preprocess reads the object; its size comes from
 * the GET's response headers, so there is no HEAD, listed or manifest item alike). Per batch: three PUTs by preprocess (the
 * thumbnail pack, the index, then the part), one GET and one PUT by Batch Transform (the part in, its `.out` out),
 * two GETs by aggregate (the index and the `.out`). Per run: LISTs of the dataset, of the transform output and of
 * the transform input (1,000 keys per page), one DeleteObjects per 1,000 transform input parts (counted at the PUT
 * price, as a POST), one PUT per item-list part of the plan, and the report's three files. Not counted: the
 * report's GETs of the thumbnail packs of the rows its page shows (at most a few hundred, $0.0004 per 1,000).
 */
export const S3_REQUESTS = Object.freeze({
  getsPerImage: 1,
  /** The thumbnail pack, the index and the part, written one after the other. */
  preprocessPutsPerBatch: 3,
  /** Preprocess's three and Batch Transform's `.out`. */
  putsPerBatch: 4,
  getsPerBatch: 3,
  keysPerList: 1000,
  putsPerRun: 3,
});

/** Estimates a run's cost. Pure: the same input gives the same lines. */
export function estimateCost(input: CostInput): CostEstimate {
  const a = COST_ASSUMPTIONS;
  const p = PRICES;
  const notes: string[] = [];
  const items = input.items;
  const accepted = Math.max(0, items - (input.rejected ?? 0));
  const batches = Math.ceil(items / input.batchSize);
  const parts = Math.ceil(accepted / input.batchSize);
  const imagesPerBatch = Math.min(input.batchSize, Math.max(items, 1));
  const rowsPerPart = Math.min(input.batchSize, Math.max(accepted, 1));

  const { instanceType, instanceCount, seconds: transformSeconds } = input.transform;
  const price = input.transform.pricePerHour ?? TRANSFORM_PRICE_PER_HOUR[instanceType];
  if (price === undefined) notes.push(`no price for ${instanceType} in the table: pass --instance-price USD_PER_HOUR`);
  const hours = transformSeconds / 3600;

  const pre = STAGE_SIZING.preprocess;
  const preBatch = preprocessBatchSeconds(imagesPerBatch, input.downloadConcurrency);
  const agg = STAGE_SIZING.aggregate;
  const aggPartTimes = aggregatePartSeconds(rowsPerPart);
  const aggPart = aggPartTimes.total;
  const aggCalls = aggregateCalls(parts);
  const planSeconds = (items / 1000) * a.planSecondsPer1000Items;
  const reportSeconds = (items / 1000) * a.reportSecondsPer1000Items;

  const children = batches + aggCalls.calls;
  // Each Express child is billed for the one Lambda call it wraps, rounded up: an aggregate call handles its parts
  // one after another.
  const aggExpressSeconds =
    aggCalls.full * roundUpTenth(AGGREGATE_PARTS_PER_CHILD * aggPart) +
    (aggCalls.lastParts > 0 ? roundUpTenth(aggCalls.lastParts * aggPart) : 0);
  const expressSeconds = batches * roundUpTenth(preBatch.total) + aggExpressSeconds;
  const transitions = 12 + 4 * Math.ceil(items / a.itemsPerPlanPart);
  const rowWriteUnits = Math.ceil(a.predictionRowBytes / 1024);
  // The report reads every row once, eventually consistent: half a read unit per 4 KB read.
  const readUnits = Math.ceil((items * a.predictionRowBytes) / 4096) / 2;
  const gets = items * S3_REQUESTS.getsPerImage + batches * S3_REQUESTS.getsPerBatch;
  const partPages = Math.ceil(parts / S3_REQUESTS.keysPerList);
  const lists = Math.ceil(items / S3_REQUESTS.keysPerList) + 2 * partPages;
  const perRunPuts = Math.ceil(items / a.itemsPerPlanPart) + S3_REQUESTS.putsPerRun + partPages;
  const puts = parts * S3_REQUESTS.putsPerBatch + perRunPuts;
  const keptGb = (accepted * a.keptBytesPerImage) / 1e9;
  const inputGb = (accepted * a.transformInputBytesPerImage) / 1e9;
  const inputDays = transformSeconds / 86_400;
  const invocations = batches + aggCalls.calls + 2;

  const lines: CostLine[] = [
    {
      service: 'SageMaker',
      item: 'Batch Transform',
      detail: `${round(hours, 3)} h x ${instanceCount} x ${instanceType} at ${price === undefined ? '?' : `$${price}`}/h`,
      usd: hours * instanceCount * (price ?? 0),
    },
    {
      service: 'Lambda',
      item: 'Lambda preprocess',
      detail:
        `${plural(batches, 'batch', 'batches')} x ${round(preBatch.total, 2)} s ` +
        `(${round(preBatch.cpu, 2)} s CPU at ${round(pre.memoryMb / a.lambdaMbPerVcpu, 2)} vCPU + ` +
        `${round(preBatch.waits, 2)} s S3 waits) x ${pre.memoryMb} MB ${pre.architecture}`,
      usd: lambdaUsd(pre, batches * preBatch.total, batches),
    },
    {
      service: 'Lambda',
      item: 'Lambda aggregate',
      detail:
        `${plural(aggCalls.calls, 'call', 'calls')} of up to ${AGGREGATE_PARTS_PER_CHILD} parts: ` +
        `${plural(parts, 'part', 'parts')} x ${round(aggPart, 2)} s (${round(aggPartTimes.cpu, 2)} s CPU + ` +
        `${round(aggPartTimes.waits, 2)} s waits) x ${agg.memoryMb} MB ${agg.architecture}`,
      usd: lambdaUsd(agg, parts * aggPart, aggCalls.calls),
    },
    {
      service: 'Lambda',
      item: 'Lambda plan and report',
      detail: `${round(planSeconds, 1)} s x ${STAGE_SIZING.plan.memoryMb} MB + ${round(reportSeconds, 1)} s x ${STAGE_SIZING.report.memoryMb} MB`,
      usd: lambdaUsd(STAGE_SIZING.plan, planSeconds, 1) + lambdaUsd(STAGE_SIZING.report, reportSeconds, 1),
    },
    {
      service: 'Step Functions',
      item: 'Map Run child starts',
      detail:
        `${plural(children, 'child', 'children')} (${plural(batches, 'preprocess batch', 'preprocess batches')} + ` +
        `${plural(aggCalls.calls, 'aggregate call', 'aggregate calls')}) x 1 Standard transition`,
      usd: children * p.standardPerTransition,
    },
    {
      service: 'Step Functions',
      item: 'Express children',
      detail: `${plural(children, 'request', 'requests')} + ${round(expressSeconds, 0).toLocaleString('en-US')} s x 64 MB`,
      usd: children * p.expressPerRequest + expressSeconds * p.expressBilledGb * p.expressPerGbSecond,
    },
    {
      service: 'Step Functions',
      item: 'Standard parent',
      detail: `${transitions} transitions`,
      usd: transitions * p.standardPerTransition,
    },
    {
      service: 'DynamoDB',
      item: 'DynamoDB writes',
      detail: `${plural(items, 'row', 'rows')} of ${a.predictionRowBytes} B x ${rowWriteUnits} WRU`,
      usd: items * rowWriteUnits * p.dynamoPerWriteUnit,
    },
    {
      service: 'DynamoDB',
      item: 'DynamoDB report read',
      detail: `${round(readUnits, 0).toLocaleString('en-US')} RRU (every row once, eventually consistent)`,
      usd: readUnits * p.dynamoPerReadUnit,
    },
    {
      service: 'S3',
      item: 'S3 GET requests',
      detail: `${plural(items, 'image', 'images')} + ${S3_REQUESTS.getsPerBatch} per batch = ${gets.toLocaleString('en-US')}`,
      usd: gets * p.s3PerGet,
    },
    {
      service: 'S3',
      item: 'S3 PUT and LIST requests',
      detail:
        `${plural(parts, 'part', 'parts')} x ${S3_REQUESTS.putsPerBatch} + ` +
        `${(perRunPuts + lists).toLocaleString('en-US')} per run`,
      usd: (puts + lists) * p.s3PerPut,
    },
    {
      service: 'S3',
      item: 'S3 storage',
      detail:
        `${round(keptGb, 1)} GB for ${a.runDataRetentionDays} days + ` +
        `${round(inputGb, 1)} GB of transform input for ${round(inputDays * 24, 1)} h`,
      usd: (keptGb * (a.runDataRetentionDays / 30) + inputGb * (inputDays / 30)) * p.s3PerGbMonth,
    },
    {
      service: 'CloudWatch',
      item: 'CloudWatch Logs',
      detail: `${plural(invocations, 'Lambda call', 'Lambda calls')} x ${a.logBytesPerInvocation} B`,
      usd: ((invocations * a.logBytesPerInvocation) / 1e9) * p.logsPerGb,
    },
  ];
  const totalUsd = lines.reduce((sum, line) => sum + line.usd, 0);
  const gpuUsd = lines[0]?.usd ?? 0;
  const orchestrationUsd = lines
    .filter((line) => line.service === 'Lambda' || line.service === 'Step Functions')
    .reduce((sum, line) => sum + line.usd, 0);
  return {
    totalUsd,
    gpuUsd,
    gpuShare: totalUsd > 0 ? gpuUsd / totalUsd : 0,
    otherUsd: totalUsd - gpuUsd,
    orchestrationUsd,
    byService: COST_SERVICES.map((service) => ({
      service,
      usd: lines.filter((line) => line.service === service).reduce((sum, line) => sum + line.usd, 0),
    })),
    lines,
    notes,
  };
}

/**
 * The aggregate map's children for this many transform output objects: its ItemBatcher gives each child up to
 * {@link AGGREGATE_PARTS_PER_CHILD} of them, so `full` children of that many and, when they do not divide evenly,
 * one last child of `lastParts`.
 */
export function aggregateCalls(parts: number): {
  readonly calls: number;
  readonly full: number;
  readonly lastParts: number;
} {
  const full = Math.floor(parts / AGGREGATE_PARTS_PER_CHILD);
  const lastParts = parts % AGGREGATE_PARTS_PER_CHILD;
  return { calls: full + (lastParts > 0 ? 1 : 0), full, lastParts };
}

/**
 * Billed seconds of one preprocess call: each image's CPU (model input and thumbnail) spread over the vCPUs the
 * function's memory buys, plus the S3 waits: downloads in waves of `downloadConcurrency`, then the thumbnail pack,
 * the index and the part one after the other.
 */
export function preprocessBatchSeconds(
  images: number,
  downloadConcurrency: number,
): { readonly cpu: number; readonly waits: number; readonly total: number } {
  const a = COST_ASSUMPTIONS;
  const vcpus = STAGE_SIZING.preprocess.memoryMb / a.lambdaMbPerVcpu;
  const cpu = (images * a.preprocessCpuSecondsPerImage) / vcpus;
  const waves = Math.ceil(images / downloadConcurrency) + S3_REQUESTS.preprocessPutsPerBatch;
  const waits = waves * a.s3RequestSeconds;
  return { cpu, waits, total: cpu + waits };
}

/**
 * Billed seconds of one part in an aggregate call: its CPU spread over the vCPUs of the function's memory, plus the
 * waits: the index and the `.out` read together (one wait), then BatchWriteItem calls of 25 rows, four in flight
 * (stages/aggregate), one wait per four. DynamoDB's wait is taken to be S3's (`s3RequestSeconds`, assumed); the
 * next part's reads overlapping this part's last writes are not counted, so this errs high.
 */
export function aggregatePartSeconds(rows: number): {
  readonly cpu: number;
  readonly waits: number;
  readonly total: number;
} {
  const a = COST_ASSUMPTIONS;
  const vcpus = STAGE_SIZING.aggregate.memoryMb / a.lambdaMbPerVcpu;
  const cpu = (rows * a.aggregateCpuSecondsPerRow) / vcpus;
  const writeWaves = Math.ceil(Math.ceil(rows / BATCH_WRITE_LIMIT) / AGGREGATE_WRITES_IN_FLIGHT);
  const waits = (1 + writeWaves) * a.s3RequestSeconds;
  return { cpu, waits, total: cpu + waits };
}

/**
 * Bytes of a DynamoDB item as DynamoDB counts them for capacity units: names plus values, numbers at one byte per
 * two significant digits plus one, booleans and nulls one byte, lists and maps three bytes plus one per element
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
 */
export function dynamoItemBytes(item: Readonly<Record<string, unknown>>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    bytes += utf8Bytes(name) + valueBytes(value);
  }
  return bytes;
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return utf8Bytes(value);
  if (typeof value === 'number') {
    const digits = String(Math.abs(value)).replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
  }
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, element) => sum + 1 + valueBytes(element), 0);
  if (typeof value === 'object') {
    const entries = Object.entries(value).filter(([, element]) => element !== undefined);
    return 3 + entries.reduce((sum, [name, element]) => sum + 1 + utf8Bytes(name) + valueBytes(element), 0);
  }
  return 0;
}

/** US dollars for people: cents, or four decimals (or `<$0.0001`) below a cent. */
export function formatUsd(value: number): string {
  if (value === 0) return '$0.00';
  if (value < 0.0001) return '<$0.0001';
  if (value < 0.01) return `$${value.toFixed(4)}`;
  return `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

function lambdaUsd(sizing: LambdaSizing, seconds: number, requests: number): number {
  const gb = sizing.memoryMb / 1024;
  return seconds * gb * PRICES.lambdaPerGbSecond[sizing.architecture] + requests * PRICES.lambdaPerRequest;
}

function roundUpTenth(seconds: number): number {
  return Math.ceil(seconds * 10 - 1e-9) / 10;
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function plural(count: number, one: string, many: string): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
