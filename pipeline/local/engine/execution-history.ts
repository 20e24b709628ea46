/**
 * An execution's event history, shaped like `GetExecutionHistory` events, and the 25,000-event quota.
 *
 * "AWS Step Functions has a hard quota of 25,000 entries in the execution event history. When an execution reaches
 * 24,999 events, it waits for the next event to happen. If the event number 25,000 is ExecutionSucceeded, the
 * execution finishes successfully. If the event number 25,000 isn't ExecutionSucceeded, the ExecutionFailed event is
 * logged and the state machine execution fails" ("Avoid reaching the history quota", Step Functions Developer Guide,
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html). Express executions have no such quota.
 *
 * Which events an action records is listed in `interpreter.ts`, next to the code that records them.
 */
import type { HistoryEvent, HistoryEventType } from '@aws-sdk/client-sfn';
import { ExecutionInterrupt, StatesErrors } from './engine-errors.ts';
import type { EngineClock } from './timers.ts';

/** "Maximum execution history size: 25,000 events" (Step Functions service quotas). */
export const HISTORY_EVENT_LIMIT = 25_000;

/** The event fields other than id, timestamp, type and previousEventId. */
export type EventDetails = Omit<HistoryEvent, 'id' | 'timestamp' | 'type' | 'previousEventId'>;

const TERMINAL: ReadonlySet<string> = new Set([
  'ExecutionSucceeded',
  'ExecutionFailed',
  'ExecutionAborted',
  'ExecutionTimedOut',
]);

export const HISTORY_LIMIT_CAUSE = `The execution reached the maximum number of events in its history (${HISTORY_EVENT_LIMIT})`;

export class ExecutionHistory {
  private readonly events: HistoryEvent[] = [];
  private recorded = 0;
  private closedBy: ExecutionInterrupt | undefined;
  private terminalRecorded = false;

  constructor(
    private readonly clock: EngineClock,
    /** Undefined for Express executions, which have no history quota. */
    private readonly limit: number | undefined,
    /** Express executions keep no retrievable history (only CloudWatch Logs); the count still runs. */
    private readonly keep: boolean = true,
  ) {}

  /** How many events the execution has recorded. */
  get count(): number {
    return this.recorded;
  }

  /** Set once a terminal event is recorded; later events are refused with the interrupt that closed it. */
  get closed(): boolean {
    return this.closedBy !== undefined || this.terminalRecorded;
  }

  /**
   * Records one event and returns its id. Throws an {@link ExecutionInterrupt} when the execution has ended, or
   * when this event would be number 25,000 without being `ExecutionSucceeded`: then `ExecutionFailed` is recorded
   * in its place, as AWS does.
   */
  record(type: HistoryEventType, details: EventDetails = {}): number {
    if (this.closedBy) throw this.closedBy;
    if (this.terminalRecorded) {
      throw new ExecutionInterrupt('FAILED', StatesErrors.Runtime, 'the execution has already ended');
    }
    const terminal = TERMINAL.has(type);
    // A terminal event always closes the history (a stop or time-out at event 25,000 is still recorded as such).
    if (this.limit !== undefined && this.recorded >= this.limit - 1 && !terminal) {
      const cause = HISTORY_LIMIT_CAUSE;
      this.push('ExecutionFailed', { executionFailedEventDetails: { error: StatesErrors.Runtime, cause } });
      this.terminalRecorded = true;
      this.closedBy = new ExecutionInterrupt('FAILED', StatesErrors.Runtime, cause);
      throw this.closedBy;
    }
    const id = this.push(type, details);
    if (terminal) this.terminalRecorded = true;
    return id;
  }

  private push(type: HistoryEventType, details: EventDetails): number {
    this.recorded += 1;
    const id = this.recorded;
    if (this.keep) {
      this.events.push({
        timestamp: this.clock.now(),
        type,
        id,
        previousEventId: id - 1,
        ...details,
      });
    }
    return id;
  }

  list(): readonly HistoryEvent[] {
    return [...this.events];
  }
}
