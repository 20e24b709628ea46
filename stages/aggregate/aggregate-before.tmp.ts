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
  TransformIndexSchema,
  TransformOutputLineSchema,
} from '../../shared/records.ts';
import type { AggregateEvent } from '../../shared/stage-events.ts';
import { confidenceOf, mapLines, normaliseText } from './join-output.ts';

export interface AggregateDeps {
  readonly objects: ObjectStore;
  readonly predictions: PredictionStore;
  readonly clock: Clock;
  readonly log: Log;
  /** Rows buffered before a write. @default 250 */
  readonly writeBatchSize?: number;
}

/**
 * Joins one Batch Transform output object back to its items and stores one row per item.
 *
 * Batch Transform writes `<input object>.out` with one line per input line, in order (SplitType Line,
 * AssembleWith Line), and with `JoinSource: Input` each line carries the input's `id`/`key` beside
 * `SageMakerOutput`. The preprocess stage's index sidecar says which items the part held, so a malformed or
 * missing line still becomes a rejection for the right item: every item ends as exactly one row.
 */
export async function runAggregate(event: AggregateEvent, deps: AggregateDeps): Promise<PartStats> {
  const { runId, pipelineBucket, key } = event;
  const outputPrefix = runLayout.transformOutput(runId);
  if (!key.startsWith(outputPrefix) || !key.endsWith('.out')) {
    throw new PipelineStateError(`${key} is not a transform output object of run ${runId} (${outputPrefix}*.out)`);
  }
  const part = key.slice(outputPrefix.length, -'.out'.length);
  const indexKey = `${runLayout.transformIndex(runId)}${part.replace(/\.jsonl$/, '')}.json`;
  const index = await loadIndex(deps.objects, pipelineBucket, indexKey);

  const stats = emptyStats(part);
  const writer = new RowWriter(deps, deps.writeBatchSize ?? 250);
  const now = () => deps.clock.now().toISOString();
  const reject = async (item: { key: string; bucket: string }, reason: RejectionReason, message: string) => {
    stats.rejected += 1;
    stats.rejectedByReason[reason] = (stats.rejectedByReason[reason] ?? 0) + 1;
    deps.log.warn('rejected', { key: item.key, reason, detail: message });
    await writer.add(
      rejectionRecord(runId, { key: item.key, bucket: item.bucket, reason, message, stage: 'aggregate' }, now()),
    );
  };

  let lineNumber = 0;
  for await (const text of deps.objects.lines({ bucket: pipelineBucket, key })) {
    lineNumber += 1;
    const item = index[lineNumber - 1];
    if (item === undefined) {
      deps.log.warn('output has more lines than its input part', { key, line: lineNumber });
      continue;
    }
    stats.lines += 1;
    const where = `line ${lineNumber} of s3://${pipelineBucket}/${key}`;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      await reject(item, 'MALFORMED_OUTPUT', `${where} is not JSON: ${text.slice(0, 120)}`);
      continue;
    }
    const line = TransformOutputLineSchema.safeParse(raw);
    if (!line.success) {
      await reject(
        item,
        'MALFORMED_OUTPUT',
        `${where} is not a joined prediction: ${line.error.issues[0]?.message ?? ''}`,
      );
      continue;
    }
    if (line.data.id !== item.id || line.data.key !== item.key) {
      await reject(
        item,
        'MALFORMED_OUTPUT',
        `${where} belongs to item ${line.data.key}, not ${item.key}: output out of order`,
      );
      continue;
    }
    const output = line.data.SageMakerOutput;
    if (output.error) {
      await reject(
        item,
        'MODEL_ERROR',
        `the model could not read s3://${item.bucket}/${item.key}: ${output.error.code}: ${output.error.message}`,
      );
      continue;
    }
    const prediction = toPrediction(runId, part, item, line.data, now());
    if (prediction.outcome === 'NO_TEXT') {
      stats.noText += 1;
      countMatch(stats, prediction.match);
      await writer.add(prediction);
      continue;
    }
    stats.predicted += 1;
    stats.confidenceHistogram[bucketOf(prediction.confidence)] =
      (stats.confidenceHistogram[bucketOf(prediction.confidence)] ?? 0) + 1;
    stats.confidenceSum += prediction.confidence;
    const model = `${prediction.modelName}@${prediction.modelVersion}`;
    if (!stats.models.includes(model)) stats.models.push(model);
    countMatch(stats, prediction.match);
    await writer.add(prediction);
  }
  for (const item of index.slice(lineNumber)) {
    await reject(
      item,
      'MISSING_OUTPUT',
      `s3://${pipelineBucket}/${key} has ${lineNumber} lines for ${index.length} inputs; no output for this item`,
    );
  }
  await writer.flush();
  deps.log.info('aggregated', { part, lines: stats.lines, predicted: stats.predicted, rejected: stats.rejected });
  return stats;
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

class RowWriter {
  private rows: OutcomeRecord[] = [];

  constructor(
    private readonly deps: AggregateDeps,
    private readonly batchSize: number,
  ) {}

  async add(row: OutcomeRecord): Promise<void> {
    this.rows.push(row);
    if (this.rows.length >= this.batchSize) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    await this.deps.predictions.put(rows);
  }
}
