/** The polling loop of `watch`: capped exponential backoff, an overall time limit, and tolerance for blips. */
import { NightshiftError } from '../../shared/errors.ts';
import type { Clock } from '../../shared/ports.ts';
import { CliFailure } from '../run-backend/failures.ts';
import { type ExecutionSnapshot, FINAL_EXECUTION_STATUSES } from './execution-progress.ts';

export interface PollPolicy {
  /** First wait between polls. */
  readonly initialDelayMs: number;
  /** Longest wait between polls. */
  readonly maxDelayMs: number;
  /** Each wait is the previous one times this, up to the cap. */
  readonly factor: number;
  /** Consecutive throttled or failed reads tolerated before giving up. */
  readonly maxConsecutiveErrors: number;
}

/**
 * 2 s growing by half to 30 s: a few seconds' latency early in a run, and at most two DescribeExecution calls a
 * minute (plus one GetExecutionHistory, ListMapRuns and DescribeMapRun each) during hours of Batch Transform,
 * far inside the Step Functions API quotas.
 */
export const DEFAULT_POLL_POLICY: PollPolicy = {
  initialDelayMs: 2000,
  maxDelayMs: 30_000,
  factor: 1.5,
  maxConsecutiveErrors: 5,
};

export interface FollowOptions {
  /** Stop watching after this long, whatever the execution does. */
  readonly timeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly clock: Clock;
  readonly policy?: PollPolicy;
  /** Called with every snapshot; `changed` is false when it equals the previous one. */
  readonly onSnapshot: (snapshot: ExecutionSnapshot, changed: boolean) => void;
  /** Called when a read fails in a way another poll may not see; the loop goes on. */
  readonly onTransientError?: (error: Error, consecutive: number) => void;
}

export interface FollowResult {
  readonly snapshot: ExecutionSnapshot;
  /** True when the time limit ran out before the execution ended. */
  readonly timedOut: boolean;
}

/** Polls until the execution ends or the time limit runs out. Never loops forever, even with a stopped clock. */
export async function followExecution(
  read: () => Promise<ExecutionSnapshot>,
  options: FollowOptions,
): Promise<FollowResult> {
  const policy = options.policy ?? DEFAULT_POLL_POLICY;
  const startedAt = options.clock.now().getTime();
  // A bound on polls as well as on time: the loop ends even where the clock does not move (a test's fake).
  const maxPolls = Math.ceil(options.timeoutMs / policy.initialDelayMs) + 1;
  let delay = policy.initialDelayMs;
  let previous: string | undefined;
  let last: ExecutionSnapshot | undefined;
  let errors = 0;
  for (let poll = 1; ; poll++) {
    try {
      const snapshot = await read();
      errors = 0;
      last = snapshot;
      const key = JSON.stringify(snapshot);
      options.onSnapshot(snapshot, key !== previous);
      previous = key;
      if ((FINAL_EXECUTION_STATUSES as readonly string[]).includes(snapshot.status))
        return { snapshot, timedOut: false };
    } catch (error) {
      errors += 1;
      if (!isTransient(error) || errors >= policy.maxConsecutiveErrors || !last) throw error;
      options.onTransientError?.(error as Error, errors);
    }
    const remaining = options.timeoutMs - (options.clock.now().getTime() - startedAt);
    if (remaining <= 0 || poll >= maxPolls) {
      if (!last) throw new Error('the execution could not be read before the time limit');
      return { snapshot: last, timedOut: true };
    }
    await options.sleep(Math.min(delay, remaining));
    delay = Math.min(policy.maxDelayMs, Math.round(delay * policy.factor));
  }
}

function isTransient(error: unknown): boolean {
  if (error instanceof CliFailure) return error.code === 'UNREACHABLE';
  return error instanceof NightshiftError && error.retryable;
}
