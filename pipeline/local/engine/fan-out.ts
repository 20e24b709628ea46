/**
 * Fan-out for Parallel branches and inline Map iterations: jobs run under a concurrency bound, and the first failure
 * aborts the rest (ASL: "If any branch fails ... the entire Parallel state fails"; likewise a Map iteration).
 */
import pLimit from 'p-limit';
import { AbortGroup } from './abort-group.ts';
import { BranchAborted, throwIfAborted } from './engine-errors.ts';

export interface FanOutOptions {
  /** The engine's bound on jobs at once, whatever the state's MaxConcurrency allows. */
  readonly concurrencyCap: number;
  /** Whether the execution's history is closed (the quota ended it): failed jobs then record nothing. */
  readonly historyClosed: () => boolean;
  /** History events per job (Map iterations record them; Parallel branches do not). */
  readonly onJob?: {
    started(index: number): void;
    succeeded(index: number): void;
    failed(index: number, aborted: boolean): void;
  };
}

/**
 * Runs tasks with a concurrency bound; the first failure aborts the others (they see a BranchAborted) and is
 * rethrown once all have settled, so no branch records events after its parent failed.
 */
export async function fanOut<T>(
  jobs: readonly ((signal: AbortSignal) => Promise<T>)[],
  maxConcurrency: number,
  signal: AbortSignal,
  options: FanOutOptions,
): Promise<T[]> {
  const { onJob } = options;
  const group = new AbortGroup(signal);
  const limit = pLimit(Math.max(1, Math.min(maxConcurrency, options.concurrencyCap)));
  let firstError: unknown;
  const results = await Promise.allSettled(
    jobs.map((job, index) =>
      limit(async () => {
        throwIfAborted(group.signal);
        onJob?.started(index);
        try {
          const value = await group.run(job);
          onJob?.succeeded(index);
          return value;
        } catch (error) {
          const aborted = group.signal.aborted;
          if (!options.historyClosed()) onJob?.failed(index, aborted);
          if (firstError === undefined) {
            firstError = error;
            group.abort(new BranchAborted('a sibling branch failed'));
          }
          throw error;
        }
      }),
    ),
  );
  group.close();
  if (signal.aborted) throw signal.reason;
  if (firstError !== undefined) throw firstError;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
