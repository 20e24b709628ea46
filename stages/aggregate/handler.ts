import { wireFromEnv } from '../../shared/aws/lambda-wiring.ts';
import { AggregateEventSchema } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { runAggregate } from './aggregate.ts';

/** The aggregate stage (one Batch Transform output object) over the wiring an entry point provides. */
export const createHandler = stageHandler({
  stage: 'aggregate',
  schema: AggregateEventSchema,
  runId: (event) => event.runId,
  wire: ({ objects, predictions, clock }) => ({ objects, predictions, clock }),
  run: runAggregate,
});

/** Lambda entry point. */
export const handler = createHandler(wireFromEnv);
