/**
 * The abort signals of concurrent jobs under one state (a Map Run's child executions, Parallel branches, inline Map
 * iterations). Each job gets a signal of its own, aborted with the group, instead of all of them listening to one
 * shared signal: Node warns (`MaxListenersExceededWarning`) past 10 listeners on one signal, and a listener a job
 * left on a shared signal lives, with everything it holds, as long as that signal does. The group listens to its
 * parent once and stops when {@link AbortGroup.close} is called; a job's own signal is dropped when the job ends.
 */
export class AbortGroup {
  private readonly controller = new AbortController();
  private readonly running = new Set<AbortController>();
  private readonly onParentAbort = () => this.abort(this.parent.reason);

  constructor(private readonly parent: AbortSignal) {
    if (parent.aborted) this.onParentAbort();
    else parent.addEventListener('abort', this.onParentAbort, { once: true });
  }

  /** Aborted when the parent is, or when {@link abort} is called; jobs read its reason, nobody listens to it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborts the group and every job running in it, with `reason`. A second call does nothing. */
  abort(reason: unknown): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(reason);
    for (const job of this.running) job.abort(reason);
  }

  /** Runs `work` with a signal of its own, aborted when the group is (already aborted if the group is). */
  async run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const job = new AbortController();
    if (this.controller.signal.aborted) job.abort(this.controller.signal.reason);
    else this.running.add(job);
    try {
      return await work(job.signal);
    } finally {
      this.running.delete(job);
    }
  }

  /** Stops listening to the parent; call once every job has ended. */
  close(): void {
    this.parent.removeEventListener('abort', this.onParentAbort);
  }
}
