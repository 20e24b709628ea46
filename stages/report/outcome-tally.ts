import { PipelineStateError } from '../../shared/errors.ts';
import type { OutcomeRecord, RejectionReason, RejectionRecord } from '../../shared/records.ts';

/** A rejection as the report lists it. */
export interface SampleRejection {
  readonly key: string;
  readonly reason: RejectionReason;
  readonly message: string;
}

/** Rejections the report lists at most. */
export const MAX_SAMPLE_REJECTIONS = 100;

/**
 * Counts the rows of a run as they stream by, and keeps a small sample of rejections.
 * Memory is bounded by the number of rejection reasons, never by the number of rows.
 */
export class OutcomeTally {
  predicted = 0;
  noText = 0;
  rejected = 0;
  private readonly byReason = new Map<RejectionReason, number>();
  // Up to MAX_SAMPLE_REJECTIONS per reason, so the final sample can show every reason, not only the first in key order.
  private readonly samples = new Map<RejectionReason, SampleRejection[]>();

  get rows(): number {
    return this.predicted + this.noText + this.rejected;
  }

  add(row: OutcomeRecord): void {
    switch (row.outcome) {
      case 'PREDICTED':
        this.predicted += 1;
        return;
      case 'NO_TEXT':
        this.noText += 1;
        return;
      case 'REJECTED':
        this.addRejection(row);
        return;
      default:
        throw unexpectedRow(row);
    }
  }

  private addRejection(row: RejectionRecord): void {
    this.rejected += 1;
    this.byReason.set(row.reason, (this.byReason.get(row.reason) ?? 0) + 1);
    let kept = this.samples.get(row.reason);
    if (!kept) {
      kept = [];
      this.samples.set(row.reason, kept);
    }
    if (kept.length < MAX_SAMPLE_REJECTIONS) kept.push({ key: row.key, reason: row.reason, message: row.message });
  }

  /** Rejections per reason, most frequent first. */
  rejectedByReason(): Record<string, number> {
    const entries = [...this.byReason.entries()].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
    return Object.fromEntries(entries);
  }

  /** Up to {@link MAX_SAMPLE_REJECTIONS} rejections, taken in turn from each reason, sorted by reason and key. */
  sampleRejections(): SampleRejection[] {
    const queues = [...this.samples.values()].map((kept) => [...kept]);
    const picked: SampleRejection[] = [];
    while (picked.length < MAX_SAMPLE_REJECTIONS && queues.some((queue) => queue.length > 0)) {
      for (const queue of queues) {
        const next = queue.shift();
        if (next && picked.length < MAX_SAMPLE_REJECTIONS) picked.push(next);
      }
    }
    return picked.sort((a, b) => a.reason.localeCompare(b.reason) || a.key.localeCompare(b.key));
  }
}

/** A row the table holds but no stage writes: the type says it cannot happen, the table may disagree. */
function unexpectedRow(row: never): PipelineStateError {
  const { runId, key, outcome } = row as Record<string, unknown>;
  return new PipelineStateError(
    `row "${String(key)}" of run "${String(runId)}" has outcome "${String(outcome)}"; rows are PREDICTED, NO_TEXT or REJECTED`,
  );
}
