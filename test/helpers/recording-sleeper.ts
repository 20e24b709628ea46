import type { Sleeper, SleepOptions, SleepReason } from '../../pipeline/local/engine/timers.ts';

/**
 * A sleeper for engine tests: Wait states and Retry back-off return at once and are recorded, so tests assert the
 * delays the engine computed instead of spending them. Timers that race work (`timeout`, `heartbeat`) never fire
 * unless their reason is listed in `fire`, in which case they fire at once.
 */
export class RecordingSleeper implements Sleeper {
  readonly sleeps: { readonly ms: number; readonly reason: SleepReason }[] = [];

  constructor(private readonly fire: readonly SleepReason[] = []) {}

  sleep(ms: number, { reason, signal }: SleepOptions): Promise<void> {
    this.sleeps.push({ ms, reason });
    if (reason === 'wait' || reason === 'retry' || this.fire.includes(reason)) return Promise.resolve();
    return new Promise((_, reject) => {
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  /** The delays slept for one reason, in order, in milliseconds. */
  delays(reason: SleepReason): number[] {
    return this.sleeps.filter((sleep) => sleep.reason === reason).map((sleep) => sleep.ms);
  }
}
