import type { z } from 'zod';
import { PipelineStateError } from '../../shared/errors.ts';
import { runLayout } from '../../shared/layout.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock, ObjectStore, PredictionStore } from '../../shared/ports.ts';
import {
  CONFIDENCE_BUCKETS,
  type NoTextRecord,
  type OutcomeRecord,
  type PartStats,
  type PredictionRecord,
  type RejectionReason,
  rejectionRecord,
  type TransformIndexEntry,
  TransformIndexSchema,
  TransformOutputLineSchema,
} from '../../shared/records.ts';
import type { AggregateBatch, AggregateResult } from '../../shared/stage-events.ts';
import { AGGREGATE_WRITES_IN_FLIGHT, BATCH_WRITE_LIMIT } from '../../shared/tables.ts';
import { confidenceOf, mapLines, normaliseText } from './join-output.ts';

export interface AggregateDeps {
  readonly objects: ObjectStore;
  readonly predictions: PredictionStore;
  readonly clock: Clock;
  readonly log: Log;
  /** Row writes (one BatchWriteItem of up to 25 rows each) in flight while the output is still being read. @default 4 */
  readonly writeConcurrency?: number;
}

/**
 * Joins a batch of Batch Transform output objects (parts) back to their items and stores one row per item; returns
 * one {@link PartStats} per part, in the batch's order.
 *
 * Batch Transform writes `<input object>.out` with one line per input line, in order (SplitType Line,
 * AssembleWith Line), and with `JoinSource: Input` each line carries the input's `id`/`key` beside
 * `SageMakerOutput`. The preprocess stage's index sidecar says which items the part held, so a malformed or
 * missing line still becomes a rejection for the right item: every item ends as exactly one row.
 *
 * Parts are handled one after another, each as it would be alone: its index and its output are requested at once,
 * and rows go out 25 at a time (one BatchWriteItem call) while the rest of the output is still being read and
 * joined, so neither S3 nor DynamoDB waits for the other. Once a part's output is read to its end, the next part's
 * two reads start while the last writes are in flight (`npm run bench:aggregate`). Nothing of a part is written
 * before its index is in: it decides which item each line is. Every row is keyed by its object, so a retried batch
 * rewrites the same rows; a failure names the part it happened in and keeps its error name for the state machine's
 * Retry and Catch.
 */
export async function runAggregate(batch: AggregateBatch, deps: AggregateDeps): Promise<AggregateResult> {
  const { runId, pipelineBucket } = batch.BatchInput;
  // Every key is checked before anything is read or written.
  const parts = batch.Items.map(({ key }) => partOf(runId, pipelineBucket, key));
  const results: PartStats[] = [];
  let next: OpenedPart | undefined = openPart(deps.objects, parts[0] as PartLocation);
  try {
    for (const [position, part] of parts.entries()) {
      const opened = next as OpenedPart;
      next = undefined;
      const following = parts[position + 1];
      const readAhead = () => {
        if (following !== undefined) next = openPart(deps.objects, following);
      };
      try {
        results.push(await aggregatePart(opened, runId, deps, readAhead));
      } catch (error) {
        throw namingPart(error, part, position, parts.length);
      }
    }
  } finally {
    await next?.close();
  }
  return { parts: results };
}

/** Where one part's output and index lie. */
interface PartLocation {
  readonly bucket: string;
  /** The `.out` object. */
  readonly key: string;
  /** `<item part>.jsonl`, as the rows and the statistics name it. */
  readonly part: string;
  readonly indexKey: string;
}

function partOf(runId: string, bucket: string, key: string): PartLocation {
  const outputPrefix = runLayout.transformOutput(runId);
  if (!key.startsWith(outputPrefix) || !key.endsWith('.out')) {
    throw new PipelineStateError(`${key} is not a transform output object of run ${runId} (${outputPrefix}*.out)`);
  }
  const part = key.slice(outputPrefix.length, -'.out'.length);
  const indexKey = `${runLayout.transformIndex(runId)}${part.replace(/\.jsonl$/, '')}.json`;
  return { bucket, key, part, indexKey };
}

/** A part whose index and output have been requested. */
interface OpenedPart {
  readonly location: PartLocation;
  readonly index: Promise<TransformIndexEntry[]>;
  readonly output: AsyncIterator<string>;
  readonly firstLine: Promise<IteratorResult<string>>;
  /** Closes the output stream; never rejects. */
  close(): Promise<void>;
}

/**
 * Requests a part's index and the first line of its output at once. A read-ahead part may never be used (the part
 * before it failed), so its failures are only observed when it is.
 */
function openPart(objects: ObjectStore, location: PartLocation): OpenedPart {
  const index = loadIndex(objects, location.bucket, location.indexKey);
  const output = objects.lines({ bucket: location.bucket, key: location.key })[Symbol.asyncIterator]();
  const firstLine = output.next();
  index.catch(() => undefined);
  firstLine.catch(() => undefined);
  return {
    location,
    index,
    output,
    firstLine,
    close: async () => {
      await output.return?.(undefined).catch(() => undefined);
    },
  };
}

/** Aggregates one opened part; `readAhead` is called once its output is read to its end. */
async function aggregatePart(
  opened: OpenedPart,
  runId: string,
  deps: AggregateDeps,
  readAhead: () => void,
): Promise<PartStats> {
  const { bucket, key, part } = opened.location;
  const { output } = opened;
  const writer = new RowWriter(deps.predictions, deps.writeConcurrency ?? AGGREGATE_WRITES_IN_FLIGHT);
  let readToEnd = false;
  try {
    const [index, firstLine] = await readBoth(opened.index, opened.firstLine);
    const stats = emptyStats(part);
    const now = () => deps.clock.now().toISOString();
    const store = async (row: OutcomeRecord) => {
      count(stats, row);
      if (row.outcome === 'REJECTED')
        deps.log.warn('rejected', { key: row.key, reason: row.reason, detail: row.message });
      await writer.add(row);
    };

    let lineNumber = 0;
    for (let next = firstLine; !next.done; next = await output.next()) {
      lineNumber += 1;
      const item = index[lineNumber - 1];
      if (item === undefined) {
        deps.log.warn('output has more lines than its input part', { key, line: lineNumber });
        continue;
      }
      stats.lines += 1;
      const where = `line ${lineNumber} of s3://${bucket}/${key}`;
      await store(joinLine(runId, part, item, next.value, where, now()));
    }
    readToEnd = true;
    readAhead();
    for (const item of index.slice(lineNumber)) {
      const message = `s3://${bucket}/${key} has ${lineNumber} lines for ${index.length} inputs; no output for this item`;
      await store(rejection(runId, item, 'MISSING_OUTPUT', message, now()));
    }
    await writer.finish();
    deps.log.info('aggregated', { part, lines: stats.lines, predicted: stats.predicted, rejected: stats.rejected });
    return stats;
  } finally {
    // On an early exit: close the output stream, and let writes already sent end before the invocation does.
    if (!readToEnd) await opened.close();
    await writer.settled();
  }
}

/**
 * The error of a part, its message prefixed with the part (and where it stands in the batch). The error itself is
 * kept, so its name, which Lambda reports and Step Functions Retry and Catch match, does not change.
 */
function namingPart(error: unknown, location: PartLocation, position: number, parts: number): unknown {
  const where = `s3://${location.bucket}/${location.key}`;
  if (error instanceof Error && !error.message.startsWith(`aggregating ${where}`)) {
    error.message = `aggregating ${where} (part ${position + 1} of ${parts} in this batch): ${error.message}`;
  }
  return error;
}

/**
 * Waits for the index and the first output line, requested together. A missing or unreadable index is reported
 * first (it is the stage's state error, whatever happened to the output); then the output's own error.
 */
async function readBoth<A, B>(index: Promise<A>, first: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([index, first]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

/** The row for one output line: its prediction, or the rejection that says what is wrong with the line. */
function joinLine(
  runId: string,
  part: string,
  item: TransformIndexEntry,
  text: string,
  where: string,
  updatedAt: string,
): OutcomeRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return rejection(runId, item, 'MALFORMED_OUTPUT', `${where} is not JSON: ${text.slice(0, 120)}`, updatedAt);
  }
  const line = TransformOutputLineSchema.safeParse(raw);
  if (!line.success) {
    const problem = line.error.issues[0]?.message ?? '';
    return rejection(runId, item, 'MALFORMED_OUTPUT', `${where} is not a joined prediction: ${problem}`, updatedAt);
  }
  if (line.data.id !== item.id || line.data.key !== item.key) {
    const message = `${where} belongs to item ${line.data.key}, not ${item.key}: output out of order`;
    return rejection(runId, item, 'MALFORMED_OUTPUT', message, updatedAt);
  }
  const output = line.data.SageMakerOutput;
  if (output.error) {
    const message = `the model could not read s3://${item.bucket}/${item.key}: ${output.error.code}: ${output.error.message}`;
    return rejection(runId, item, 'MODEL_ERROR', message, updatedAt);
  }
  return toPrediction(runId, part, item, line.data, updatedAt);
}

function rejection(
  runId: string,
  item: TransformIndexEntry,
  reason: RejectionReason,
  message: string,
  updatedAt: string,
): OutcomeRecord {
  return rejectionRecord(runId, { key: item.key, bucket: item.bucket, reason, message, stage: 'aggregate' }, updatedAt);
}

/** Adds one row to the part's figures. */
function count(stats: PartStats, row: OutcomeRecord): void {
  switch (row.outcome) {
    case 'REJECTED':
      stats.rejected += 1;
      stats.rejectedByReason[row.reason] = (stats.rejectedByReason[row.reason] ?? 0) + 1;
      return;
    case 'NO_TEXT':
      stats.noText += 1;
      countMatch(stats, row.match);
      return;
    case 'PREDICTED': {
      stats.predicted += 1;
      const bucket = bucketOf(row.confidence);
      stats.confidenceHistogram[bucket] = (stats.confidenceHistogram[bucket] ?? 0) + 1;
      stats.confidenceSum += row.confidence;
      const model = `${row.modelName}@${row.modelVersion}`;
      if (!stats.models.includes(model)) stats.models.push(model);
      countMatch(stats, row.match);
      return;
    }
  }
}

async function loadIndex(objects: ObjectStore, bucket: string, key: string) {
  const body = await objects.get({ bucket, key });
  if (body === undefined) {
    throw new PipelineStateError(`the index s3://${bucket}/${key} written by preprocess is missing; redrive the run`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new PipelineStateError(`the index s3://${bucket}/${key} written by preprocess is not JSON`, { cause: error });
  }
  const parsed = TransformIndexSchema.safeParse(json);
  if (!parsed.success)
    throw new PipelineStateError(`the index s3://${bucket}/${key} is not a list of {id, key, bucket}`);
  return parsed.data;
}

function countMatch(stats: PartStats, match: boolean | undefined): void {
  if (match === undefined) return;
  stats.withExpected += 1;
  if (match) stats.matches += 1;
}

/**
 * The row for one model answer. Blank text and no label is NO_TEXT (the model server returns empty text when no
 * line passes its thresholds): no confidence to rank, and a miss wherever expected text was given.
 */
function toPrediction(
  runId: string,
  part: string,
  item: { key: string; bucket: string },
  line: z.infer<typeof TransformOutputLineSchema>,
  updatedAt: string,
): PredictionRecord | NoTextRecord {
  const output = line.SageMakerOutput;
  const label = output.labels?.[0]?.label;
  const lines = mapLines(output, line.geometry);
  const answer = output.text ?? label;
  const common = {
    runId,
    key: item.key,
    bucket: item.bucket,
    modelName: output.model?.name ?? 'unknown',
    modelVersion: output.model?.version ?? 'unknown',
    image: { width: line.geometry.originalWidth, height: line.geometry.originalHeight },
    part,
    updatedAt,
  };
  if (label === undefined && (answer === undefined || normaliseText(answer) === '')) {
    return {
      ...common,
      outcome: 'NO_TEXT',
      ...(line.expected === undefined ? {} : { expected: line.expected, match: normaliseText(line.expected) === '' }),
    };
  }
  return {
    ...common,
    outcome: 'PREDICTED',
    ...(output.text === undefined ? {} : { text: output.text }),
    ...(label === undefined ? {} : { label }),
    confidence: confidenceOf(output),
    ...(lines === undefined ? {} : { lines }),
    ...(line.expected === undefined ? {} : { expected: line.expected }),
    ...(line.expected === undefined || answer === undefined
      ? {}
      : { match: normaliseText(answer) === normaliseText(line.expected) }),
  };
}

function bucketOf(confidence: number): number {
  return Math.min(CONFIDENCE_BUCKETS - 1, Math.max(0, Math.floor(confidence * CONFIDENCE_BUCKETS)));
}

function emptyStats(part: string): PartStats {
  return {
    part,
    lines: 0,
    predicted: 0,
    noText: 0,
    rejected: 0,
    rejectedByReason: {},
    confidenceHistogram: Array.from({ length: CONFIDENCE_BUCKETS }, () => 0),
    confidenceSum: 0,
    withExpected: 0,
    matches: 0,
    models: [],
  };
}

/**
 * Sends rows to the prediction store in BatchWriteItem-sized puts as soon as each is full, with up to `concurrency`
 * puts in flight, so the reader never waits for a write unless that many are already out. The first failed put
 * stops the part: later adds and {@link RowWriter.finish} throw its error. A row whose key is still being written
 * by an earlier put waits for it, so the later row wins as it would with one put after another.
 */
class RowWriter {
  private rows: OutcomeRecord[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly keysInFlight = new Map<string, Promise<void>>();
  private failure: { readonly error: unknown } | undefined;

  constructor(
    private readonly predictions: PredictionStore,
    private readonly concurrency: number,
  ) {}

  async add(row: OutcomeRecord): Promise<void> {
    this.throwIfFailed();
    this.rows.push(row);
    if (this.rows.length >= BATCH_WRITE_LIMIT) await this.send();
  }

  /** Sends what is buffered and waits for every put; throws the first put's error. */
  async finish(): Promise<void> {
    this.throwIfFailed();
    if (this.rows.length > 0) await this.send();
    await this.settled();
    this.throwIfFailed();
  }

  /** Resolves once no put is in flight (never rejects: failures are kept for {@link RowWriter.finish}). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private async send(): Promise<void> {
    const rows = this.rows;
    this.rows = [];
    const earlier = new Set(rows.flatMap((row) => this.keysInFlight.get(row.key) ?? []));
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (earlier.size > 0) await Promise.all(earlier);
    this.throwIfFailed();
    const put = this.predictions.put(rows).then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    const tracked = put.finally(() => {
      this.inFlight.delete(tracked);
      for (const row of rows) if (this.keysInFlight.get(row.key) === tracked) this.keysInFlight.delete(row.key);
    });
    this.inFlight.add(tracked);
    for (const row of rows) this.keysInFlight.set(row.key, tracked);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}
