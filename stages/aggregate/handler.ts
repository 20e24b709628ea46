import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import type { PartStats } from '../../shared/records.ts';
import { type AggregateEvent, AggregateEventSchema, type AggregateResult } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { runAggregate } from './aggregate.ts';

/**
 * The aggregate stage (one ItemBatcher batch of Batch Transform output objects) over an entry point's wiring. The
 * one-part event of an execution started before the map batched (redriven after the deploy) is a batch of one, and
 * gets the bare PartStats that execution's definition expects back.
 */
export const createHandler = stageHandler({
  stage: 'aggregate',
  schema: AggregateEventSchema,
  eventName: 'aggregate batch',
  runId: (event) => ('Items' in event ? event.BatchInput.runId : event.runId),
  wire: ({ objects, predictions, clock }) => ({ objects, predictions, clock }),
  run: async (event: AggregateEvent, deps): Promise<AggregateResult | PartStats> => {
    if ('Items' in event) return runAggregate(event, deps);
    const { runId, pipelineBucket, key } = event;
    const { parts } = await runAggregate({ Items: [{ key }], BatchInput: { runId, pipelineBucket } }, deps);
    return parts[0] as PartStats;
  },
});

/** Lambda entry point. */
export const handler = createHandler(wireFrom(process.env, lambdaClients(process.env)));
