import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { FinalizeFailureInvocationSchema, runIdOf } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { runFinalizeExecution, runFinalizeFailure } from './finalize-failure.ts';

/**
 * finalize-failure over the wiring an entry point provides. Two callers: the state machine's Catch path (returns
 * the notification, which the state machine publishes), and the rule on ended executions (publishes itself).
 */
export const createHandler = stageHandler({
  stage: 'finalize-failure',
  schema: FinalizeFailureInvocationSchema,
  runId: (event) => (event.source ? event.detail.name : (event.runId ?? runIdOf(event.input, event.executionName))),
  wire: ({ runs, clock, notifier, transformJobs }) => ({ runs, clock, notifier, transformJobs }),
  run: (event, deps) => (event.source ? runFinalizeExecution(event, deps) : runFinalizeFailure(event, deps)),
});

/** Lambda entry point. */
export const handler = createHandler(wireFrom(process.env, lambdaClients(process.env)));
