import type { z } from 'zod';
import { PipelineStateError } from '../../shared/errors.ts';
import { STAGES, type StageTimingSchema } from '../../shared/records.ts';
import type { StageTimesSchema } from '../../shared/stage-events.ts';

export type StageTiming = z.infer<typeof StageTimingSchema>;
type StageTimes = z.infer<typeof StageTimesSchema>;

/**
 * Turns the state machine's stage entry/exit times into timings with durations, in pipeline order. A stage with no
 * `finishedAt` is still running (the report itself, typically) and is timed up to `now`.
 */
export function stageTimings(stageTimes: StageTimes, now: Date): Record<string, StageTiming> {
  const timings: Record<string, StageTiming> = {};
  for (const [stage, times] of Object.entries(stageTimes).sort(([a], [b]) => stageOrder(a) - stageOrder(b))) {
    const started = parseTime(times.startedAt, `stageTimes.${stage}.startedAt`);
    const finished =
      times.finishedAt === undefined ? now : parseTime(times.finishedAt, `stageTimes.${stage}.finishedAt`);
    timings[stage] = {
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      seconds: Math.max(0, Math.round(finished.getTime() - started.getTime()) / 1000),
    };
  }
  return timings;
}

function stageOrder(stage: string): number {
  const index = (STAGES as readonly string[]).indexOf(stage);
  return index === -1 ? STAGES.length : index;
}

/** The times come from the state machine (`$$.State.EnteredTime`), not the caller: a bad one is our own data. */
function parseTime(value: string, field: string): Date {
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    throw new PipelineStateError(
      `report event: ${field}: "${value}" written by the state machine is not an ISO 8601 timestamp`,
    );
  }
  return time;
}
