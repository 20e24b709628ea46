/**
 * What a run probably cost: shared/cost-model.ts's ESTIMATE applied to a run record (its item count, settings and
 * Batch Transform time). docs/cost.md explains the model and its sources; Cost Explorer has the real figures.
 */
import { type CostEstimate, estimateCost, runCostInput } from '../../shared/cost-model.ts';
import type { RunRecord } from '../../shared/records.ts';

export type { CostEstimate, CostLine } from '../../shared/cost-model.ts';
export { COST_ASSUMPTIONS, TRANSFORM_PRICE_PER_HOUR } from '../../shared/cost-model.ts';

export interface CostOptions {
  /** Timings of a run still going are counted up to now. */
  readonly now: Date;
  /** Overrides the built-in price of the run's instance type. */
  readonly instancePricePerHour?: number;
}

/** Estimates a run's cost from its record: GPU time from its transform timing, the rest from its item count. */
export function estimateRunCost(run: RunRecord, options: CostOptions): CostEstimate {
  const notes: string[] = [];
  if (!run.counts) notes.push('no item count: the run has not finished planning, so nothing ran after it');
  const estimate = estimateCost(
    runCostInput(
      run.settings,
      { items: run.counts?.items ?? 0, rejected: run.counts?.rejected ?? 0 },
      {
        seconds: transformTime(run, options.now, notes),
        ...(options.instancePricePerHour === undefined ? {} : { pricePerHour: options.instancePricePerHour }),
      },
    ),
  );
  return { ...estimate, notes: [...notes, ...estimate.notes] };
}

/** Seconds of Batch Transform: its stage timing, else (an upper bound) the run's whole duration. */
function transformTime(run: RunRecord, now: Date, notes: string[]): number {
  const timing = run.timings?.transform;
  if (timing) return timing.seconds;
  // Without an item count the plan never finished, so no transform job was started.
  if (!run.counts) return 0;
  if (run.counts.items > 0 && run.counts.rejected === run.counts.items) return 0;
  const end = run.finishedAt ? new Date(run.finishedAt) : now;
  const seconds = Math.max(0, (end.getTime() - new Date(run.createdAt).getTime()) / 1000);
  notes.push('no transform timing recorded: the GPU time is the whole run duration, an upper bound');
  return Number.isFinite(seconds) ? seconds : 0;
}
