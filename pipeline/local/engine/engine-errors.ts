/**
 * A failure in Amazon States Language terms: an error name that `Retry` and `Catch` match on (`States.Timeout`,
 * `Lambda.ServiceException`, a Lambda's `errorType`) and a cause string. Integrations throw it to report a task
 * failure with a chosen name; anything else they throw becomes `States.TaskFailed`.
 */
export class StatesError extends Error {
  override readonly name = 'StatesError';
  constructor(
    /** The ASL error name, e.g. `States.TaskFailed`. */
    readonly error: string,
    /** The ASL cause; AWS reports it as a string (JSON text for Lambda errors). */
    override readonly cause: string,
  ) {
    super(`${error}: ${cause}`);
  }
}

/** The error names the Amazon States Language and Step Functions define (ASL spec appendix A, AWS error handling guide). */
export const StatesErrors = {
  ALL: 'States.ALL',
  TaskFailed: 'States.TaskFailed',
  Timeout: 'States.Timeout',
  HeartbeatTimeout: 'States.HeartbeatTimeout',
  DataLimitExceeded: 'States.DataLimitExceeded',
  Runtime: 'States.Runtime',
  ExceedToleratedFailureThreshold: 'States.ExceedToleratedFailureThreshold',
  ItemReaderFailed: 'States.ItemReaderFailed',
  ResultWriterFailed: 'States.ResultWriterFailed',
  Permissions: 'States.Permissions',
  BranchFailed: 'States.BranchFailed',
  NoChoiceMatched: 'States.NoChoiceMatched',
  IntrinsicFailure: 'States.IntrinsicFailure',
  ResultPathMatchFailure: 'States.ResultPathMatchFailure',
  ParameterPathFailure: 'States.ParameterPathFailure',
} as const;

/**
 * Ends an execution without passing through `Retry`/`Catch`: a stop request, the execution's own `TimeoutSeconds`,
 * or the history limit. Parallel branches and Map iterations rethrow it unchanged.
 */
export class ExecutionInterrupt extends Error {
  override readonly name = 'ExecutionInterrupt';
  constructor(
    readonly status: 'ABORTED' | 'TIMED_OUT' | 'FAILED',
    readonly error: string,
    override readonly cause: string,
  ) {
    super(`${status}: ${error}: ${cause}`);
  }
}

/**
 * The base of the errors the engine throws at its caller (not inside an execution, where failures are
 * {@link StatesError}s). It has the fields and `toJSON` of the project's error family (a stable `code`, a `kind`,
 * `retryable`, `details`) without importing it, so the engine stays a component with no imports of ours; a caller
 * that reports errors by those fields reports these alike.
 */
export abstract class EngineError extends Error {
  /** Stable machine-readable code; never reworded. */
  abstract readonly code: string;
  /** `caller`: the definition or the request is at fault and must be changed. */
  abstract readonly kind: 'caller' | 'internal';
  abstract readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, options: { readonly details?: Record<string, unknown> } = {}) {
    super(message);
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, kind: this.kind, message: this.message, details: this.details };
  }
}

/** Thrown into the branches of a Parallel or Map whose sibling failed, and into a task whose attempt ended. */
export class BranchAborted extends Error {
  override readonly name = 'BranchAborted';
}

/**
 * The definition cannot run on the local engine: it is not valid Amazon States Language, or it uses something the
 * engine does not implement. The message lists every problem with the state path and field it is in.
 */
export class DefinitionError extends EngineError {
  override readonly name = 'DefinitionError';
  readonly code = 'INVALID_DEFINITION';
  readonly kind = 'caller';
  readonly retryable = false;

  constructor(readonly problems: readonly string[]) {
    super(
      `the state machine definition cannot run on the local engine:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { details: { problems } },
    );
  }
}

/** `startExecution` was called with something StartExecution would reject (name, input). */
export class ExecutionInputError extends EngineError {
  override readonly name = 'ExecutionInputError';
  readonly code = 'INVALID_EXECUTION_INPUT';
  readonly kind = 'caller';
  readonly retryable = false;
}

/** Ends the current step with the reason its execution or branch was aborted (a stop, a time-out, a failed sibling). */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}
