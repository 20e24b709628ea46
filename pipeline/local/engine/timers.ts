/**
 * Every wait the engine makes goes through a {@link Sleeper}, so tests replace time instead of spending it: Wait
 * states, Retry back-off, and the timers that race tasks (`TimeoutSeconds`, `HeartbeatSeconds`, a Lambda's timeout,
 * an execution's `TimeoutSeconds`, the 5-minute Express limit). What time it is comes from a {@link Clock}.
 */

/**
 * What time it is, as the engine reads it (history timestamps, `$$.State.EnteredTime`, Wait `Timestamp`s). The same
 * shape as the project's `Clock`, declared here so the engine imports nothing of ours.
 */
export interface EngineClock {
  now(): Date;
}

/** The system clock. */
export const realClock: EngineClock = { now: () => new Date() };

/** Why the engine sleeps; a test sleeper can, say, return at once for waits and never for time-outs. */
export type SleepReason = 'wait' | 'retry' | 'timeout' | 'heartbeat';

export interface SleepOptions {
  readonly reason: SleepReason;
  /** Rejects the sleep (with the signal's reason) when aborted. */
  readonly signal?: AbortSignal;
}

export interface Sleeper {
  sleep(ms: number, options: SleepOptions): Promise<void>;
}

/** Node timers; a timer that races a task never keeps the process alive. */
export const realSleeper: Sleeper = {
  sleep(ms, { signal, reason }) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      // setTimeout's limit is 2^31-1 ms (about 24.8 days); longer timers are chained.
      const step = Math.min(ms, 2_147_483_647);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        if (step < ms) realSleeper.sleep(ms - step, { reason, ...(signal ? { signal } : {}) }).then(resolve, reject);
        else resolve();
      }, step);
      if (reason === 'timeout' || reason === 'heartbeat') timer.unref();
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};
