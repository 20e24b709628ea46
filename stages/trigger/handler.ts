import { SFNClient } from '@aws-sdk/client-sfn';
import { SfnExecutionStarter } from '../../shared/aws/sfn-execution-starter.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { InvalidInputError } from '../../shared/errors.ts';
import { createStageLogger, forRun } from '../../shared/logging.ts';
import { runTrigger, type TriggerDeps, type TriggerResult } from './trigger.ts';

type Wiring = Omit<TriggerDeps, 'log'> & { logger: ReturnType<typeof createStageLogger> };
let wiring: Wiring | undefined;

function wire(): Wiring {
  const config = parseStageConfig(process.env);
  if (!config.stateMachineArn || !config.manifestLocation) {
    throw new InvalidInputError('the trigger needs STATE_MACHINE_ARN and MANIFEST_LOCATION in its environment');
  }
  return {
    starter: new SfnExecutionStarter(new SFNClient({}), config.stateMachineArn),
    manifestLocation: config.manifestLocation,
    logger: createStageLogger({ stage: 'trigger', level: config.logLevel }),
  };
}

export async function handler(event: unknown): Promise<TriggerResult> {
  wiring ??= wire();
  const { logger, ...deps } = wiring;
  const key = (event as { detail?: { object?: { key?: unknown } } })?.detail?.object?.key;
  const scheduled = (event as { scheduledTime?: unknown })?.scheduledTime;
  const log = forRun(logger, key === undefined ? `schedule:${String(scheduled)}` : `manifest:${String(key)}`);
  return runTrigger(event, { ...deps, log });
}
