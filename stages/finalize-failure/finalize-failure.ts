import { CALLER_ERROR_NAMES, InvalidInputError } from '../../shared/errors.ts';
import { formatIssues } from '../../shared/execution-input.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock, RunStore } from '../../shared/ports.ts';
import { type FinalizeFailureEvent, FinalizeFailureEventSchema, type Notification } from '../../shared/stage-events.ts';

export interface FinalizeFailureDeps {
  readonly runs: RunStore;
  readonly clock: Clock;
  readonly log: Log;
}

/** Longest cause kept in the run record (DynamoDB items are capped at 400 KB; people read the first lines). */
const CAUSE_LIMIT = 4000;

/**
 * Marks a run FAILED with the error a `Catch` caught and returns the notification to publish.
 * A run whose plan failed before it created the record (invalid input) has no record: only the notification goes.
 */
export async function runFinalizeFailure(
  event: FinalizeFailureEvent,
  deps: FinalizeFailureDeps,
): Promise<Notification> {
  const parsed = FinalizeFailureEventSchema.safeParse(event);
  if (!parsed.success) throw new InvalidInputError(formatIssues(parsed.error, 'finalize-failure event'));
  const { executionName, error, failedState } = parsed.data;
  const runId = parsed.data.runId ?? executionName;
  const cause = readableCause(error.Cause);
  const now = deps.clock.now().toISOString();

  const existing = await deps.runs.get(runId);
  if (existing) {
    await deps.runs.update(runId, {
      status: 'FAILED',
      finishedAt: now,
      error: { error: error.Error, cause: cause.slice(0, CAUSE_LIMIT) },
    });
  } else {
    deps.log.warn('no run record to mark FAILED (the run failed before its plan created one)', { runId });
  }
  deps.log.error('run failed', { error: error.Error, cause, failedState });

  const callerFault = (CALLER_ERROR_NAMES as readonly string[]).includes(error.Error);
  const advice = callerFault
    ? 'This is a problem with the input: fix it as the message says and start a new run.'
    : `Once the cause is fixed, redrive the run to resume where it stopped: nightshift redrive ${runId}`;
  return {
    runId,
    subject: `Nightshift run ${runId} failed: ${error.Error}`.slice(0, 100),
    message: [
      `Run ${runId} failed${failedState ? ` in state ${failedState}` : ''} at ${now}.`,
      `Error: ${error.Error}`,
      `Cause: ${cause}`,
      advice,
    ].join('\n'),
  };
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
