import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { PlanEventSchema, runIdOf } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { runPlan } from './plan.ts';

/** The plan stage over the wiring an entry point provides (Lambda: its environment; the local runtime: its servers). */
export const createHandler = stageHandler({
  stage: 'plan',
  schema: PlanEventSchema,
  runId: (event) => runIdOf(event.input, event.execution.name),
  wire: ({ objects, runs, predictions, clock, config }) => {
    const { pipelineBucket, allowedDatasetLocations } = config;
    return { objects, runs, predictions, clock, pipelineBucket, allowedDatasetLocations };
  },
  run: runPlan,
});

/** Lambda entry point. */
export const handler = createHandler(wireFrom(process.env, lambdaClients(process.env)));
