import { CALLER_ERROR_NAMES, NOT_REDRIVABLE_ERROR_NAMES } from '../../shared/errors.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock, Notifier, RunStore, TransformJobControl } from '../../shared/ports.ts';
import type { RunRecord } from '../../shared/records.ts';
import {
  type ExecutionStatusEvent,
  type FinalizeFailureEvent,
  type Notification,
  runIdOf,
} from '../../shared/stage-events.ts';
import { transformJobName } from '../../shared/transform-job-name.ts';

export type { Notifier } from '../../shared/ports.ts';

export interface FinalizeFailureDeps {
  readonly runs: RunStore;
  readonly clock: Clock;
  readonly log: Log;
}

/** Longest cause kept in the run record (DynamoDB items are capped at 400 KB; people read the first lines). */
const CAUSE_LIMIT = 4000;

/**
 * Marks a run FAILED with the error a `Catch` caught and returns the notification the state machine publishes.
 * A run whose plan failed before it created the record (invalid input) has no record: only the notification goes.
 */
export async function runFinalizeFailure(
  event: FinalizeFailureEvent,
  deps: FinalizeFailureDeps,
): Promise<Notification> {
  const { executionName, executionArn, error, failedState, attempt } = event;
  const runId = event.runId ?? runIdOf(event.input, executionName);
  return markFailed(
    {
      runId,
      executionName,
      error: error.Error,
      cause: error.Cause,
      ...(failedState ? { failedState } : {}),
      ...(executionArn ? { executionArn } : {}),
      attempt: attempt ?? 0,
    },
    deps,
  );
}

/** What a time-out or an abort is recorded as: the status-change event carries no error or cause for them. */
const UNREPORTED_FAILURES: Readonly<Record<string, { error: string; cause: string }>> = {
  TIMED_OUT: { error: 'States.Timeout', cause: 'the execution ran past the state machine timeout' },
  ABORTED: { error: 'ExecutionAborted', cause: 'the execution was stopped' },
};

/**
 * Finalizes an execution that ended FAILED, TIMED_OUT or ABORTED without the state machine's own failure path (an
 * uncaught error, so a redrive resumes at the failed state; a time-out; an abort), and publishes the notification.
 * An attempt already finalized by the state machine's Catch path is skipped, so each failure is announced once.
 */
export async function runFinalizeExecution(
  event: ExecutionStatusEvent,
  deps: FinalizeFailureDeps & { readonly notifier: Notifier; readonly transformJobs: TransformJobControl },
): Promise<Notification | undefined> {
  const { detail } = event;
  if (!['FAILED', 'TIMED_OUT', 'ABORTED'].includes(detail.status)) return undefined;
  // Errors the state machine catches were finalized and announced on its own failure path.
  if (detail.error && (NOT_REDRIVABLE_ERROR_NAMES as readonly string[]).includes(detail.error)) return undefined;
  const runId = runIdOf(parseJson(detail.input), detail.name);
  const attempt = detail.redriveCount ?? 0;
  const existing = await deps.runs.get(runId);
  const owned = existing?.executionId === undefined || existing.executionId === detail.executionArn;
  if (owned && existing?.status === 'FAILED' && existing.failedAttempt === attempt) {
    deps.log.info('failure already finalized by the state machine', { runId, attempt });
    return undefined;
  }
  // An abort, a time-out or an uncaught failure while the transform ran (or while the state machine waited on an
  // existing job) leaves the job billing GPU instances: stop this attempt's job. A failure here fails the
  // invocation, so EventBridge retries it before anything is marked.
  const job = transformJobName(runId, detail.name, attempt);
  if ((await deps.transformJobs.stopIfRunning(job)) === 'stopped') {
    deps.log.warn('stopped the transform job the execution left running', { job });
  }
  const fallback = UNREPORTED_FAILURES[detail.status] ?? { error: 'States.Unknown', cause: '' };
  const error = detail.error ?? fallback.error;
  const cause = detail.cause ?? fallback.cause;
  const notification = await markFailed(
    { runId, executionName: detail.name, error, cause, attempt, redrivable: true, executionArn: detail.executionArn },
    deps,
  );
  await deps.notifier.publish(notification);
  return notification;
}

function parseJson(text: string | null | undefined): unknown {
  try {
    return JSON.parse(text ?? '{}');
  } catch {
    // Not JSON (EventBridge truncates large inputs): no run id to read.
    return undefined;
  }
}

/**
 * The error of a start the plan refused before it changed anything: the run id is taken (other settings, or another
 * live execution). Typed against the caller errors, so a renamed class fails the type check here.
 */
const REFUSED_START: (typeof CALLER_ERROR_NAMES)[number] = 'RunConflictError';

interface Failure {
  readonly runId: string;
  readonly executionName: string;
  readonly error: string;
  readonly cause: string;
  readonly failedState?: string;
  readonly attempt: number;
  readonly redrivable?: boolean;
  readonly executionArn?: string;
}

/**
 * Marks the run FAILED, when this execution owns it, and words the notification. The record belongs to the
 * execution whose plan created or last took it over (`executionId`); a refused start, or a failure of another
 * execution that never took the run over, leaves it untouched and is announced as what it is, never as the run's
 * failure.
 */
async function markFailed(failure: Failure, deps: FinalizeFailureDeps): Promise<Notification> {
  const { runId, error } = failure;
  const cause = readableCause(failure.cause);
  const now = deps.clock.now().toISOString();
  const existing = await deps.runs.get(runId);
  const execution = failure.executionArn ?? failure.executionName;
  // Checked by name before ownership: locally a re-start under the same execution name has the run's own ARN.
  if (error === REFUSED_START) {
    deps.log.warn('start refused; the run is left as it is', { error, cause, execution });
    return {
      runId,
      subject: `Nightshift run ${runId}: a new start was refused; the run is unchanged`.slice(0, 100),
      message: [
        `Execution ${execution} was refused at ${now} and changed nothing.`,
        `Reason: ${cause}`,
        unchanged(runId, existing),
        'Start with a new run id, or start again with the same input once the run has ended.',
      ].join('\n'),
    };
  }
  const ownedByAnother =
    existing?.executionId !== undefined &&
    failure.executionArn !== undefined &&
    existing.executionId !== failure.executionArn;
  if (ownedByAnother) {
    deps.log.warn('the run record belongs to another execution; not marking it', { runId, execution });
    deps.log.error('execution failed', { error, cause, failedState: failure.failedState });
    return {
      runId,
      subject: `Nightshift execution ${failure.executionName} failed: ${error}`.slice(0, 100),
      message: [
        `Execution ${execution} (run id ${runId}) failed${failure.failedState ? ` in state ${failure.failedState}` : ''} at ${now}, before it took the run over.`,
        `Error: ${error}`,
        `Cause: ${cause}`,
        unchanged(runId, existing),
      ].join('\n'),
    };
  }
  if (existing) {
    await deps.runs.update(runId, {
      status: 'FAILED',
      finishedAt: now,
      error: { error, cause: cause.slice(0, CAUSE_LIMIT) },
      failedAttempt: failure.attempt,
    });
  } else {
    deps.log.warn('no run record to mark FAILED (the run failed before its plan created one)', { runId });
  }
  deps.log.error('run failed', { error, cause, failedState: failure.failedState });

  const callerFault = (CALLER_ERROR_NAMES as readonly string[]).includes(error);
  const advice = callerFault
    ? 'This is a problem with the input: fix it as the message says and start a new run.'
    : failure.redrivable
      ? `The run stopped at the failed step; once the cause is fixed, redrive it to resume there: nightshift redrive ${runId}`
      : `Once the cause is fixed, start the run again with the same input (run id ${runId}); finished items are rewritten, not duplicated.`;
  return {
    runId,
    subject: `Nightshift run ${runId} failed: ${error}`.slice(0, 100),
    message: [
      `Run ${runId} failed${failure.failedState ? ` in state ${failure.failedState}` : ''} at ${now}.`,
      `Error: ${error}`,
      `Cause: ${cause}`,
      advice,
    ].join('\n'),
  };
}

/** The line that tells the reader the run they may care about was not touched. */
function unchanged(runId: string, existing: RunRecord | undefined): string {
  if (!existing) return `Run ${runId} has no record; nothing was written.`;
  return existing.executionId
    ? `Run ${runId} belongs to execution ${existing.executionId} and is unchanged (${existing.status}).`
    : `Run ${runId} is unchanged (${existing.status}).`;
}

/** Lambda failures arrive as a JSON Cause `{"errorType", "errorMessage", "trace"}`; people want the message. */
function readableCause(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: service integrations put plain text here.
  }
  return cause;
}
