/**
 * One error family for every stage.
 *
 * Lambda reports a thrown error's `name` as the `errorType`, and Step Functions `Retry`/`Catch` match on that
 * string. Each class therefore sets `name` to a literal (bundlers may rename classes) and the names are part of the
 * state machine's contract: `CallerError` subclasses are never retried, `RetryableError` subclasses are.
 */

/** Who has to act: the caller fixes their input, or the pipeline (us, or a dependency) failed. */
export type ErrorKind = 'caller' | 'internal';

export interface NightshiftErrorOptions {
  readonly cause?: unknown;
  /** Small, JSON-safe facts that help the reader (a key, a line number, a count). */
  readonly details?: Readonly<Record<string, unknown>>;
}

export abstract class NightshiftError extends Error {
  /** Stable machine-readable code; never reworded. */
  abstract readonly code: string;
  abstract readonly kind: ErrorKind;
  /** Whether repeating the same call may succeed. */
  abstract readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, options: NightshiftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, kind: this.kind, message: this.message, details: this.details };
  }
}

/** The caller has to change something (input, manifest, location, run id); never retried. */
export abstract class CallerError extends NightshiftError {
  readonly kind = 'caller';
  readonly retryable = false;
}

/** The execution input (or a CLI option) is invalid. The message names the field and how to fix it. */
export class InvalidInputError extends CallerError {
  override readonly name = 'InvalidInputError';
  readonly code = 'INVALID_INPUT';
}

/** A manifest cannot be used as a whole (not found, not JSON, wrong shape). */
export class ManifestError extends CallerError {
  override readonly name = 'ManifestError';
  readonly code = 'INVALID_MANIFEST';
}

/** The dataset location does not exist or is outside what this pipeline may read. */
export class DatasetAccessError extends CallerError {
  override readonly name = 'DatasetAccessError';
  readonly code = 'DATASET_ACCESS';
}

/**
 * A run id is reused with different settings, or while another execution of it is RUNNING; the run is left
 * untouched.
 */
export class RunConflictError extends CallerError {
  override readonly name = 'RunConflictError';
  readonly code = 'RUN_CONFLICT';
}

/** An object the pipeline was told to read does not exist. */
export class ObjectNotFoundError extends CallerError {
  override readonly name = 'ObjectNotFoundError';
  readonly code = 'NOT_FOUND';
}

/** A dependency failed in a way that a later attempt may not see (throttling, 5xx, timeouts). */
export class RetryableError extends NightshiftError {
  override readonly name: string = 'RetryableError';
  readonly code: string = 'RETRYABLE';
  readonly kind = 'internal';
  readonly retryable = true;
}

/** Some DynamoDB writes stayed unprocessed after every retry. */
export class PartialWriteError extends RetryableError {
  override readonly name = 'PartialWriteError';
  override readonly code = 'PARTIAL_WRITE';
}

/**
 * A connection to a service failed or broke (refused, reset, unreachable): retried like any transient fault. The
 * message names the call and the endpoint; `details` carries Node's code and the `endpoint`, so an entry point that
 * knows its servers (the local runtime) can name the one that is down.
 */
export class ConnectionError extends RetryableError {
  override readonly name = 'ConnectionError';
  override readonly code = 'CONNECTION';
}

/** An AWS call failed in a way that repeating it will not fix (missing table, validation error): a deployment bug. */
export class ServiceError extends NightshiftError {
  override readonly name = 'ServiceError';
  readonly code = 'SERVICE';
  readonly kind = 'internal';
  readonly retryable = false;
}

/** The pipeline's own data is not what an earlier stage promised (a bug or tampering); not retried. */
export class PipelineStateError extends NightshiftError {
  override readonly name = 'PipelineStateError';
  readonly code = 'PIPELINE_STATE';
  readonly kind = 'internal';
  readonly retryable = false;
}

/** Error names the state machine retries with backoff. */
export const RETRYABLE_ERROR_NAMES = ['RetryableError', 'PartialWriteError', 'ConnectionError'] as const;
/** Error names that mean the caller must change something; never retried. */
export const CALLER_ERROR_NAMES = [
  'InvalidInputError',
  'ManifestError',
  'DatasetAccessError',
  'RunConflictError',
  'ObjectNotFoundError',
] as const;

/**
 * Errors the state machine catches into finalize-failure: the caller's mistakes and broken pipeline data, which no
 * redrive can fix. Everything else fails the execution at its state, so a redrive resumes there.
 */
export const NOT_REDRIVABLE_ERROR_NAMES = [...CALLER_ERROR_NAMES, 'PipelineStateError'] as const;

/** Turns anything thrown into a message fit for a one-line log or a run record. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}
