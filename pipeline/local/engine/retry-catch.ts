/**
 * Retry and Catch: the check of `Retry`, `Catch` (with `ResultPath` and `ResultSelector`, the rest of a state's
 * result handling) and what they mean at run time: which errors an `ErrorEquals` matches, the back-off, the loop
 * of attempts ("Handling errors in Step Functions workflows", "Retrying after an error" in the Developer Guide).
 */
import type { Catcher, ResultHandling, Retrier } from './asl.ts';
import { StatesError, StatesErrors, throwIfAborted } from './engine-errors.ts';
import type { EngineLog } from './engine-log.ts';
import type { FieldChecker } from './field-checks.ts';
import { isPlainObject } from './json-path.ts';
import type { Sleeper } from './timers.ts';

/** ResultPath, ResultSelector, Retry and Catch of a Task, Parallel or Map state. */
export function checkResultHandling(
  check: FieldChecker,
  value: Record<string, unknown>,
  where: string,
  names: ReadonlySet<string>,
): ResultHandling {
  const resultPath = check.resultPath(value, where);
  const selector = check.template(value, 'ResultSelector', where);
  const retry = value.Retry === undefined ? undefined : checkRetriers(check, value.Retry, `${where}.Retry`);
  const catchers = value.Catch === undefined ? undefined : checkCatchers(check, value.Catch, `${where}.Catch`, names);
  return {
    ...(resultPath === undefined ? {} : { ResultPath: resultPath }),
    ...(selector === undefined ? {} : { ResultSelector: selector }),
    ...(retry === undefined ? {} : { Retry: retry }),
    ...(catchers === undefined ? {} : { Catch: catchers }),
  };
}

function checkRetriers(check: FieldChecker, value: unknown, where: string): Retrier[] {
  if (!Array.isArray(value)) {
    check.problem(where, 'must be an array of retriers');
    return [];
  }
  return value.map((retrier, i) => {
    const at = `${where}[${i}]`;
    if (!isPlainObject(retrier)) {
      check.problem(at, 'a retrier must be an object');
      return { ErrorEquals: [], IntervalSeconds: 1, MaxAttempts: 0, BackoffRate: 2, JitterStrategy: 'NONE' };
    }
    check.onlyFields(
      retrier,
      ['ErrorEquals', 'IntervalSeconds', 'MaxAttempts', 'BackoffRate', 'MaxDelaySeconds', 'JitterStrategy', 'Comment'],
      at,
    );
    const errors = checkErrorEquals(check, retrier.ErrorEquals, `${at}.ErrorEquals`, i === value.length - 1);
    const interval = check.optionalInteger(retrier, 'IntervalSeconds', at, 1) ?? 1;
    const attempts = check.optionalInteger(retrier, 'MaxAttempts', at, 0) ?? 3;
    const backoff = retrier.BackoffRate ?? 2;
    if (typeof backoff !== 'number' || backoff < 1)
      check.problem(`${at}.BackoffRate`, 'must be a number of at least 1.0');
    const maxDelay = check.optionalInteger(retrier, 'MaxDelaySeconds', at, 1);
    const jitter = retrier.JitterStrategy ?? 'NONE';
    if (jitter !== 'FULL' && jitter !== 'NONE') check.problem(`${at}.JitterStrategy`, 'must be FULL or NONE');
    return {
      ErrorEquals: errors,
      IntervalSeconds: interval,
      MaxAttempts: attempts,
      BackoffRate: typeof backoff === 'number' ? backoff : 2,
      ...(maxDelay === undefined ? {} : { MaxDelaySeconds: maxDelay }),
      JitterStrategy: jitter === 'FULL' ? 'FULL' : 'NONE',
    };
  });
}

function checkCatchers(check: FieldChecker, value: unknown, where: string, names: ReadonlySet<string>): Catcher[] {
  if (!Array.isArray(value)) {
    check.problem(where, 'must be an array of catchers');
    return [];
  }
  return value.map((catcher, i) => {
    const at = `${where}[${i}]`;
    if (!isPlainObject(catcher)) {
      check.problem(at, 'a catcher must be an object');
      return { ErrorEquals: [], Next: '' };
    }
    check.onlyFields(catcher, ['ErrorEquals', 'Next', 'ResultPath', 'Comment'], at);
    const errors = checkErrorEquals(check, catcher.ErrorEquals, `${at}.ErrorEquals`, i === value.length - 1);
    check.target(catcher.Next, `${at}.Next`, names);
    const resultPath = check.resultPath(catcher, at);
    return {
      ErrorEquals: errors,
      Next: catcher.Next as string,
      ...(resultPath === undefined ? {} : { ResultPath: resultPath }),
    };
  });
}

function checkErrorEquals(check: FieldChecker, value: unknown, where: string, last: boolean): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.some((e) => typeof e !== 'string' || e === '')) {
    check.problem(where, 'must be a non-empty array of error names');
    return [];
  }
  if (value.includes('States.ALL')) {
    // "States.ALL must appear alone in its ErrorEquals array and in the last retrier/catcher" (ASL spec).
    if (value.length !== 1) check.problem(where, '"States.ALL" must appear alone');
    if (!last) check.problem(where, '"States.ALL" must be in the last retrier or catcher');
  }
  return value as string[];
}

/** What the retry loop needs of the engine: the back-off sleeper, jitter's randomness and a logger. */
export interface RetryServices {
  readonly sleeper: Sleeper;
  readonly log: EngineLog;
  readonly intrinsics: { readonly random: () => number };
}

/** Runs one attempt after another while a retrier matches and has attempts left ("Retrying after an error"). */
export async function withRetry<T>(
  services: RetryServices,
  retriers: readonly Retrier[] | undefined,
  name: string,
  signal: AbortSignal,
  attempt: (retryCount: number) => Promise<T>,
): Promise<T> {
  const used = new Map<Retrier, number>();
  let retryCount = 0;
  for (;;) {
    try {
      return await attempt(retryCount);
    } catch (thrown) {
      if (!(thrown instanceof StatesError) || !retriers) throw thrown;
      const retrier = retriers.find((r) => errorMatches(r.ErrorEquals, thrown.error));
      if (retrier === undefined) throw thrown;
      const count = used.get(retrier) ?? 0;
      if (count >= retrier.MaxAttempts) throw thrown;
      used.set(retrier, count + 1);
      const delayMs = retryDelayMs(retrier, count, services.intrinsics.random);
      services.log.debug('retrying state', { state: name, error: thrown.error, attempt: count + 1, delayMs });
      if (delayMs > 0) await services.sleeper.sleep(delayMs, { reason: 'retry', signal });
      throwIfAborted(signal);
      retryCount += 1;
    }
  }
}

/**
 * Whether a retrier's or catcher's ErrorEquals matches an error name. `States.ALL` matches every error but the
 * terminal `States.DataLimitExceeded` and `States.Runtime`; `States.TaskFailed` matches every error but those and
 * `States.Timeout`; `States.Runtime` is never retried or caught ("Handling errors in Step Functions workflows").
 */
export function errorMatches(errorEquals: readonly string[], error: string): boolean {
  if (error === StatesErrors.Runtime) return false;
  return errorEquals.some((name) => {
    if (name === error) return true;
    if (error === StatesErrors.DataLimitExceeded) return false;
    if (name === StatesErrors.ALL) return true;
    return name === StatesErrors.TaskFailed && error !== StatesErrors.Timeout;
  });
}

export function findCatcher(catchers: readonly Catcher[], error: string): Catcher | undefined {
  return catchers.find((catcher) => errorMatches(catcher.ErrorEquals, error));
}

/**
 * The back-off before retry number `count + 1` of one retrier: `IntervalSeconds * BackoffRate^count`, capped by
 * `MaxDelaySeconds`; with `JitterStrategy: FULL` a uniform random share of it ("Retrying after an error").
 */
export function retryDelayMs(retrier: Retrier, count: number, random: () => number): number {
  let seconds = retrier.IntervalSeconds * retrier.BackoffRate ** count;
  if (retrier.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, retrier.MaxDelaySeconds);
  if (retrier.JitterStrategy === 'FULL') seconds *= random();
  return Math.round(seconds * 1000);
}
