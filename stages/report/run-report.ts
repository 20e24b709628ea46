/** `report.json`: what a run did, small and fixed-size whatever the number of items. */
import { z } from 'zod';
import {
  CONFIDENCE_BUCKETS,
  OUTCOMES,
  RejectionReasonSchema,
  type ReportFiles,
  ReportFilesSchema,
  type RunCounts,
  RunCountsSchema,
  type RunRecord,
  RunRecordSchema,
  StageTimingSchema,
} from '../../shared/records.ts';
import { ReportCostSchema, reportCost } from './cost-section.ts';
import { MAX_SAMPLE_REJECTIONS, type SampleRejection } from './outcome-tally.ts';
import type { RunStatistics } from './part-statistics.ts';
import type { MapRunResults } from './result-writer.ts';
import type { RunDiff } from './run-diff.ts';
import type { StageTiming } from './stage-timings.ts';

const RunSideSchema = z.strictObject({
  runId: z.string(),
  items: z.int().min(0),
  predicted: z.int().min(0),
  noText: z.int().min(0),
  rejected: z.int().min(0),
  withExpected: z.int().min(0),
  matches: z.int().min(0),
  accuracy: z.number().min(0).max(1).nullable(),
});

const RowAnswerSchema = z.strictObject({
  outcome: z.enum(OUTCOMES),
  text: z.string().optional(),
  reason: z.string().optional(),
});

export const RunReportSchema = z.strictObject({
  runId: z.string(),
  dataset: z.string(),
  settings: RunRecordSchema.shape.settings,
  status: z.literal('SUCCEEDED'),
  /** When the plan created the run. */
  startedAt: z.string(),
  generatedAt: z.string(),
  /** From the run's start to this report. */
  durationSeconds: z.number().min(0),
  counts: RunCountsSchema,
  confidence: z.strictObject({
    /** Predictions the histogram and mean cover (those of the parts the aggregate stage reported). */
    predictions: z.int().min(0),
    histogram: z
      .array(z.strictObject({ from: z.number(), to: z.number(), count: z.int().min(0) }))
      .length(CONFIDENCE_BUCKETS),
    mean: z.number().min(0).max(1).nullable(),
  }),
  /** Present when some items came with expected text. */
  accuracy: z
    .strictObject({ withExpected: z.int().min(0), matches: z.int().min(0), rate: z.number().min(0).max(1) })
    .nullable(),
  models: z.array(z.string()),
  stageTimes: z.record(z.string(), StageTimingSchema),
  /** The aggregate Distributed Map's run, when its results came through a ResultWriter. */
  mapRun: z
    .strictObject({
      arn: z.string().optional(),
      manifest: z.string(),
      succeeded: z.int().min(0),
      failed: z.int().min(0),
      pending: z.int().min(0),
      failures: z.array(z.strictObject({ error: z.string(), cause: z.string() })),
    })
    .optional(),
  sampleRejections: z
    .array(z.strictObject({ key: z.string(), reason: RejectionReasonSchema, message: z.string() }))
    .max(MAX_SAMPLE_REJECTIONS),
  /** The previous SUCCEEDED run of the same dataset, compared row by row (see run-diff.ts). */
  comparison: z
    .strictObject({
      before: RunSideSchema,
      after: RunSideSchema,
      compared: z.int().min(0),
      changed: z.int().min(0),
      onlyBefore: z.int().min(0),
      onlyAfter: z.int().min(0),
      changes: z.array(
        z.strictObject({
          key: z.string(),
          before: RowAnswerSchema,
          after: RowAnswerSchema,
          expected: z.string().optional(),
        }),
      ),
    })
    .optional(),
  /** How many rows report.html shows image by image, of how many, and the caps per kind (explorer-selection.ts). */
  explorer: z.strictObject({
    shown: z.int().min(0),
    of: z.int().min(0),
    caps: z.record(z.string(), z.int().min(0)),
  }),
  files: ReportFilesSchema,
  /** The run's estimated AWS cost by service (cost-section.ts); absent in reports written before it existed. */
  cost: ReportCostSchema.optional(),
});
export type RunReport = z.infer<typeof RunReportSchema>;

export interface RunReportInput {
  readonly run: RunRecord;
  readonly counts: RunCounts;
  readonly statistics: RunStatistics;
  readonly mapRun?: MapRunResults;
  readonly stageTimes: Record<string, StageTiming>;
  readonly sampleRejections: readonly SampleRejection[];
  readonly comparison?: RunDiff;
  readonly explorer: RunReport['explorer'];
  readonly files: ReportFiles;
  readonly generatedAt: Date;
}

/** Assembles the report document from the counts (rows) and the statistics (parts). */
export function buildRunReport(input: RunReportInput): RunReport {
  const { run, statistics } = input;
  const width = 1 / CONFIDENCE_BUCKETS;
  return {
    runId: run.runId,
    dataset: run.dataset,
    settings: run.settings,
    status: 'SUCCEEDED',
    startedAt: run.createdAt,
    generatedAt: input.generatedAt.toISOString(),
    durationSeconds: Math.max(0, (input.generatedAt.getTime() - new Date(run.createdAt).getTime()) / 1000) || 0,
    counts: input.counts,
    confidence: {
      predictions: statistics.predicted,
      histogram: statistics.confidenceHistogram.map((count, bucket) => ({
        from: round(bucket * width, 3),
        to: round((bucket + 1) * width, 3),
        count,
      })),
      mean: statistics.predicted > 0 ? clamp01(round(statistics.confidenceSum / statistics.predicted, 4)) : null,
    },
    accuracy:
      statistics.withExpected > 0
        ? {
            withExpected: statistics.withExpected,
            matches: statistics.matches,
            rate: clamp01(round(statistics.matches / statistics.withExpected, 4)),
          }
        : null,
    models: [...statistics.models],
    stageTimes: input.stageTimes,
    ...(input.mapRun
      ? {
          mapRun: {
            ...(input.mapRun.mapRunArn ? { arn: input.mapRun.mapRunArn } : {}),
            manifest: input.mapRun.manifest,
            succeeded: input.mapRun.succeeded,
            failed: input.mapRun.failed,
            pending: input.mapRun.pending,
            failures: input.mapRun.failures,
          },
        }
      : {}),
    sampleRejections: input.sampleRejections.map(({ key, reason, message }) => ({ key, reason, message })),
    ...(input.comparison
      ? { comparison: { ...input.comparison, changes: input.comparison.changes.map((change) => ({ ...change })) } }
      : {}),
    explorer: input.explorer,
    files: input.files,
    cost: reportCost(run, input.counts, input.stageTimes),
  };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}
