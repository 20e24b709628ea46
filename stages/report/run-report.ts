/** `report.json`: what a run did, small and fixed-size whatever the number of items. */
import { z } from 'zod';
import {
  CONFIDENCE_BUCKETS,
  RejectionReasonSchema,
  type ReportFiles,
  ReportFilesSchema,
  type RunCounts,
  RunCountsSchema,
  type RunRecord,
  RunRecordSchema,
  StageTimingSchema,
} from '../../shared/records.ts';
import { MAX_SAMPLE_REJECTIONS, type SampleRejection } from './outcome-tally.ts';
import type { RunStatistics } from './part-statistics.ts';
import type { MapRunResults } from './result-writer.ts';
import type { StageTiming } from './stage-timings.ts';

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
  files: ReportFilesSchema,
});
export type RunReport = z.infer<typeof RunReportSchema>;

export interface RunReportInput {
  readonly run: RunRecord;
  readonly counts: RunCounts;
  readonly statistics: RunStatistics;
  readonly mapRun?: MapRunResults;
  readonly stageTimes: Record<string, StageTiming>;
  readonly sampleRejections: readonly SampleRejection[];
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
    files: input.files,
  };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}
