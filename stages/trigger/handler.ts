import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { requiredSetting } from '../../shared/config.ts';
import { TriggerEventSchema } from '../../shared/stage-events.ts';
import { stageHandler } from '../../shared/stage-handler.ts';
import { runTrigger } from './trigger.ts';

/** The trigger (a manifest upload or the nightly schedule) over the wiring an entry point provides. */
export const createHandler = stageHandler({
  stage: 'trigger',
  schema: TriggerEventSchema,
  runId: (event) =>
    event.source === 'aws.s3' ? `manifest:${event.detail.object.key}` : `schedule:${event.scheduledTime}`,
  wire: ({ starter, config }) => ({ starter, manifestLocation: requiredSetting(config, 'manifestLocation') }),
  run: runTrigger,
});

/** Lambda entry point. */
export const handler = createHandler(wireFrom(process.env, lambdaClients(process.env)));
