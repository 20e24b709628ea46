/**
 * What each stage Lambda receives and returns: the contract between the state machine (pipeline/) and the stages.
 * Nothing here grows with the number of items (a state's payload is capped at 256 KiB).
 */
import { z } from 'zod';
import { PreprocessSettingsSchema, RUN_ID, TransformSettingsSchema } from './execution-input.ts';
import { DatasetItemSchema, PartStatsSchema, ReportFilesSchema, RunCountsSchema } from './records.ts';

/** plan: the raw execution input plus the context object's execution fields. */
export const PlanEventSchema = z.strictObject({
  input: z.unknown(),
  execution: z.strictObject({
    /** `$$.Execution.Name`: the run id when the input names none. */
    name: z.string().min(1),
    id: z.string().optional(),
    startTime: z.string().optional(),
  }),
});
export type PlanEvent = z.infer<typeof PlanEventSchema>;

export const PlanResultSchema = z.strictObject({
  runId: z.string(),
  pipelineBucket: z.string(),
  dataset: z.string(),
  settings: z.strictObject({ preprocess: PreprocessSettingsSchema, transform: TransformSettingsSchema }),
  items: z.strictObject({
    /** Input objects and manifest entries: accepted + rejected (a repeated manifest line is a DUPLICATE rejection). */
    total: z.int().min(0),
    accepted: z.int().min(0),
    rejected: z.int().min(0),
    /** Of the rejected: manifest lines that named an object already listed. */
    duplicates: z.int().min(0),
    /** JSONL parts of accepted items, one DatasetItem per line. */
    partCount: z.int().min(0),
    partsPrefix: z.string(),
    /** JSON array of the part keys, in order. Part n is `<partsPrefix>part-<n>.jsonl` (n from 0). */
    manifestKey: z.string(),
  }),
  transformInputPrefix: z.string(),
  transformOutputPrefix: z.string(),
  /**
   * Base name of this execution's Batch Transform job (<= 50 characters); the state machine appends the redrive
   * count, so a redriven execution never collides with the job of an earlier attempt.
   */
  transformJobName: z.string().max(50),
  /** 'empty' when there is nothing to preprocess: the state machine goes straight to the report. */
  next: z.enum(['preprocess', 'empty']),
});
export type PlanResult = z.infer<typeof PlanResultSchema>;

/** preprocess: one Distributed Map `ItemBatcher` batch. */
export const PreprocessBatchSchema = z.strictObject({
  Items: z.array(DatasetItemSchema).min(1),
  BatchInput: z.strictObject({
    runId: z.string().min(1),
    pipelineBucket: z.string().min(3),
    settings: PreprocessSettingsSchema,
  }),
});
export type PreprocessBatch = z.infer<typeof PreprocessBatchSchema>;

export const PreprocessResultSchema = z.strictObject({
  /** Key of the transform input part written, or null when every item of the batch was rejected. */
  part: z.string().nullable(),
  records: z.int().min(0),
  rejected: z.int().min(0),
  rejectedByReason: z.record(z.string(), z.int().min(0)),
});
export type PreprocessResult = z.infer<typeof PreprocessResultSchema>;

/**
 * aggregate: one Distributed Map `ItemBatcher` batch of Batch Transform output objects (S3-listing items, each
 * reshaped by ItemSelector to its key), up to AGGREGATE_PARTS_PER_CHILD (shared/stage-sizing.ts) of them.
 */
export const AggregateBatchSchema = z.strictObject({
  Items: z
    .array(
      z.strictObject({
        /** `<transform output prefix><part>.jsonl.out` */
        key: z.string().min(1),
      }),
    )
    .min(1),
  BatchInput: z.strictObject({
    runId: z.string().min(1),
    pipelineBucket: z.string().min(3),
  }),
});
export type AggregateBatch = z.infer<typeof AggregateBatchSchema>;

/**
 * aggregate: one Batch Transform output object, the event of the Aggregate map before it batched (one `.out` object
 * per child). A redrive still sends it after a deploy: "Redriven executions use the same state machine definition
 * and execution ARN as the original execution attempt"
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html), while the map invokes
 * the function unqualified, so its current code receives the old definition's event. Such a child returns a bare
 * PartStats, as the old children did; the report reads both.
 */
export const AggregatePartEventSchema = z.strictObject({
  runId: z.string().min(1),
  pipelineBucket: z.string().min(3),
  /** `<transform output prefix><part>.jsonl.out` */
  key: z.string().min(1),
});
export type AggregatePartEvent = z.infer<typeof AggregatePartEventSchema>;

/**
 * What the aggregate function accepts: a batch, or the one-part event of an execution started before batching
 * ({@link AggregatePartEventSchema}). An object with `key` and no `Items` is taken for the one-part event; the shape
 * is chosen before parsing so that a malformed event is reported field by field against the shape it meant (a zod
 * union would only say that neither shape fits).
 */
export const AggregateEventSchema = z.unknown().transform((raw, ctx): AggregateBatch | AggregatePartEvent => {
  const onePart = typeof raw === 'object' && raw !== null && 'key' in raw && !('Items' in raw);
  const parsed = (onePart ? AggregatePartEventSchema : AggregateBatchSchema).safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
  return z.NEVER;
});
export type AggregateEvent = z.output<typeof AggregateEventSchema>;

/** What aggregate returns for a batch: one PartStats per output object, in the batch's order. */
export const AggregateResultSchema = z.strictObject({ parts: z.array(PartStatsSchema) });
export type AggregateResult = z.infer<typeof AggregateResultSchema>;

/** Where a Distributed Map's ResultWriter wrote its results (its `manifest.json`). */
export const ResultWriterLocationSchema = z.strictObject({ bucket: z.string(), manifestKey: z.string() });

export const StageTimesSchema = z.record(
  z.string(),
  z.strictObject({ startedAt: z.string(), finishedAt: z.string().optional() }),
);

/** report: the aggregate statistics, inline (small runs, tests) or as the aggregate Map's ResultWriter output. */
export const ReportEventSchema = z.strictObject({
  runId: z.string().min(1),
  pipelineBucket: z.string().min(3),
  parts: z.array(PartStatsSchema).optional(),
  aggregateResults: ResultWriterLocationSchema.optional(),
  stageTimes: StageTimesSchema.optional(),
});
export type ReportEvent = z.infer<typeof ReportEventSchema>;

export const ReportResultSchema = z.strictObject({
  runId: z.string(),
  status: z.literal('SUCCEEDED'),
  counts: RunCountsSchema,
  report: ReportFilesSchema,
});
export type ReportResult = z.infer<typeof ReportResultSchema>;

/** finalize-failure: what a `Catch` hands over (`ResultPath` puts the error beside the input). */
export const FinalizeFailureEventSchema = z.strictObject({
  executionName: z.string().min(1),
  /** `$$.Execution.Id`: a run record owned by another execution is never marked. */
  executionArn: z.string().optional(),
  runId: z.string().optional(),
  /** The state when the plan failed (the execution input plus `error`): it may name the run id. */
  input: z.unknown().optional(),
  error: z.looseObject({ Error: z.string().default('States.Unknown'), Cause: z.string().default('') }),
  failedState: z.string().optional(),
  /** `$$.Execution.RedriveCount`: which attempt of the execution failed. */
  attempt: z.int().min(0).optional(),
});
export type FinalizeFailureEvent = z.infer<typeof FinalizeFailureEventSchema>;

export const NotificationSchema = z.strictObject({
  runId: z.string(),
  subject: z.string().max(100),
  message: z.string(),
});
export type Notification = z.infer<typeof NotificationSchema>;

/**
 * The EventBridge event Step Functions sends when a Standard execution ends FAILED, TIMED_OUT or ABORTED. Failures
 * that are not caught in the state machine (so that the execution stays redrivable from the failed state) are
 * finalized from this event.
 */
export const ExecutionStatusEventSchema = z.looseObject({
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.looseObject({
    executionArn: z.string(),
    stateMachineArn: z.string(),
    name: z.string(),
    status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED', 'SUCCEEDED', 'RUNNING', 'PENDING_REDRIVE']),
    input: z.string().nullable().optional(),
    error: z.string().nullable().optional(),
    cause: z.string().nullable().optional(),
    redriveCount: z.int().min(0).optional(),
  }),
});
export type ExecutionStatusEvent = z.infer<typeof ExecutionStatusEventSchema>;

/**
 * finalize-failure has two callers: the state machine's Catch path ({@link FinalizeFailureEvent}) and the
 * EventBridge rule on ended executions ({@link ExecutionStatusEvent}, `source: aws.states`); `source` tells them apart.
 */
export const FinalizeFailureInvocationSchema = z.discriminatedUnion('source', [
  ExecutionStatusEventSchema,
  FinalizeFailureEventSchema.extend({ source: z.undefined().optional() }),
]);
export type FinalizeFailureInvocation = z.infer<typeof FinalizeFailureInvocationSchema>;

/**
 * The run id the execution input names, else the execution name (as the plan stage decides it). An input run id
 * the plan would refuse is not used: it goes into notification subjects and table keys, so it could carry line
 * breaks or markup. The execution name stands in: StartExecution refuses names with white space, brackets or
 * control characters (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
 */
export function runIdOf(input: unknown, executionName: string): string {
  const runId = (input as { runId?: unknown } | null | undefined)?.runId;
  return typeof runId === 'string' && RUN_ID.test(runId) ? runId : executionName;
}

/** trigger: the EventBridge event S3 sends for a new object (the fields the trigger reads). */
export const ObjectCreatedEventSchema = z.looseObject({
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  detail: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    // EventBridge carries the key as stored (not URL-encoded, unlike S3 event notifications to Lambda/SQS/SNS).
    object: z.looseObject({ key: z.string().min(1), etag: z.string().optional(), size: z.number().optional() }),
  }),
});
export type ObjectCreatedEvent = z.infer<typeof ObjectCreatedEventSchema>;

/**
 * trigger: what the nightly EventBridge Scheduler schedule sends (its `Input`, with `<aws.scheduler.scheduled-time>`
 * filled in by Scheduler). The trigger names the run after the scheduled date, so a schedule delivered twice
 * (Scheduler is at-least-once) still starts one run.
 */
export const ScheduledRunEventSchema = z.strictObject({
  source: z.literal('nightshift.schedule'),
  /** ISO 8601, e.g. 2026-11-23T02:00:00Z. */
  scheduledTime: z.iso.datetime({ offset: true }),
  /** IANA time zone the date is taken in, e.g. Europe/Paris. */
  timeZone: z.string().min(1).default('UTC'),
  /** Dataset prefix with `{date}` standing for the scheduled date (YYYY-MM-DD), e.g. s3://b/datasets/{date}/ */
  dataset: z.string().min(6),
  /** Settings passed through to the run (the execution input's preprocess / transform). */
  preprocess: z.record(z.string(), z.unknown()).optional(),
  transform: z.record(z.string(), z.unknown()).optional(),
});
export type ScheduledRunEvent = z.infer<typeof ScheduledRunEventSchema>;

/** trigger: a manifest upload or a nightly schedule firing, told apart by `source`. */
export const TriggerEventSchema = z.discriminatedUnion('source', [ObjectCreatedEventSchema, ScheduledRunEventSchema]);
export type TriggerEvent = z.infer<typeof TriggerEventSchema>;
