import { wireFromEnv } from '../../shared/aws/lambda-wiring.ts';
import { AggregateBatchSchema } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { runAggregate } from './aggregate.ts';

/** The aggregate stage (one ItemBatcher batch of Batch Transform output objects) over an entry point's wiring. */
export const createHandler = stageHandler({
  stage: 'aggregate',
  schema: AggregateBatchSchema,
  eventName: 'aggregate batch',
  runId: (event) => event.BatchInput.runId,
  wire: ({ objects, predictions, clock }) => ({ objects, predictions, clock }),
  run: runAggregate,
});

/** Lambda entry point. */
export const handler = createHandler(wireFromEnv);
