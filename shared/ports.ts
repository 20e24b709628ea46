import type { OutcomeRecord, RunRecord } from './records.ts';
import type { S3Location } from './s3-location.ts';
import type { Notification } from './stage-events.ts';

/** One object from a listing. */
export interface ObjectSummary {
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
}

/**
 * An object whose GET has answered with its headers and whose body has not been read: the caller decides from the
 * size whether to read it. It must call `read` or `discard`, because an unread body holds its connection.
 */
export interface OpenedObject {
  /** The body's size in bytes, from the response headers. */
  readonly size: number;
  /** Reads the whole body. */
  read(): Promise<Uint8Array>;
  /** Drops what is left of the body unread, closing its connection so that the rest is not downloaded. */
  discard(): void;
}

/** The object storage the stages use (S3 in AWS and on the local S3 server). */
export interface ObjectStore {
  /** Every object under a key prefix, page by page, in key order; never holds the whole listing. */
  list(prefix: S3Location): AsyncIterable<ObjectSummary>;
  /**
   * One GET, stopped after the response headers, or `undefined` when there is no such object: the size is known
   * before any of the body is read, without a HEAD first.
   */
  open(location: S3Location): Promise<OpenedObject | undefined>;
  /** The whole object, or `undefined` when there is no such object. */
  get(location: S3Location): Promise<Uint8Array | undefined>;
  /** The object's lines (without line endings), streamed; throws ObjectNotFoundError when there is no such object. */
  lines(location: S3Location): AsyncIterable<string>;
  put(location: S3Location, body: string | Uint8Array, contentType: string): Promise<void>;
  /** Streams text chunks into one object (multipart where large), so the writer never holds the whole body. */
  putStream(location: S3Location, chunks: AsyncIterable<string>, contentType: string): Promise<void>;
  /**
   * Deletes every object under a key prefix; returns how many. In a versioned bucket a delete leaves the data as a
   * noncurrent version until the lifecycle rule expires it; `allVersions` deletes every version (and delete
   * marker) as well, so the storage is freed at once.
   */
  deletePrefix(prefix: S3Location, options?: { readonly allVersions?: boolean }): Promise<number>;
}

/** Outcome of creating a run record. */
export type CreateRunResult = { readonly created: true } | { readonly created: false; readonly existing: RunRecord };

/** Outcome of claiming a run for an execution: the record as it stands when another execution keeps it. */
export type ClaimRunResult = { readonly claimed: true } | { readonly claimed: false; readonly existing: RunRecord };

/** The run table: one record per run id. */
export interface RunStore {
  /** Creates the record unless one with the same run id exists (then returns it, untouched). */
  create(record: RunRecord): Promise<CreateRunResult>;
  /**
   * Makes `executionId` the run's one live execution, in a single conditional write: the run is set RUNNING under
   * it (and the last attempt's `finishedAt`, `error` and `failedAttempt` are cleared) only if it has this
   * `settingsHash` and is not RUNNING under another execution. Otherwise the record is returned untouched. The run
   * must exist (PipelineStateError).
   */
  claim(runId: string, owner: { readonly executionId: string; readonly settingsHash: string }): Promise<ClaimRunResult>;
  get(runId: string): Promise<RunRecord | undefined>;
  /** Sets the given top-level attributes (and `updatedAt`); the record must exist. */
  update(runId: string, changes: Partial<Omit<RunRecord, 'runId'>>): Promise<void>;
  /** The newest SUCCEEDED run of the same dataset created before `run`, if one is found among the recent runs. */
  previousRun(run: Pick<RunRecord, 'runId' | 'dataset' | 'createdAt'>): Promise<RunRecord | undefined>;
}

/** The prediction table: one row per input object per run, a prediction or a rejection. */
export interface PredictionStore {
  /** Writes (or overwrites) the rows; retries unprocessed items, then throws PartialWriteError. */
  put(records: readonly OutcomeRecord[]): Promise<void>;
  /** Every row of a run (or those whose key starts with `keyPrefix`), page by page, in key order. */
  list(runId: string, options?: { readonly keyPrefix?: string }): AsyncIterable<OutcomeRecord>;
  /** Which of these keys already have a row. */
  existing(runId: string, keys: readonly string[]): Promise<Set<string>>;
  /** Deletes every row of a run (before a re-run recomputes them); returns how many. */
  deleteRun(runId: string): Promise<number>;
}

/** Transform jobs (SageMaker Batch Transform, or the local batch transform). */
export interface TransformJobControl {
  /** Stops the job if it is in progress; `not-running` when there is no such job or it has already ended. */
  stopIfRunning(name: string): Promise<'stopped' | 'not-running'>;
}

/** Time, injectable so tests and logs agree. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Result of asking Step Functions to start an execution. */
export type StartResult =
  | { readonly started: true; readonly executionArn: string }
  /** An execution with this name already exists (running or closed): the duplicate trigger did nothing. */
  | { readonly started: false; readonly reason: 'already-exists' };

/** Starts state machine executions (Step Functions StartExecution, or the local engine). */
export interface ExecutionStarter {
  start(request: { readonly name: string; readonly input: unknown }): Promise<StartResult>;
}

/** Publishes a run notification (SNS in AWS, a file locally). */
export interface Notifier {
  publish(notification: Notification): Promise<void>;
}
