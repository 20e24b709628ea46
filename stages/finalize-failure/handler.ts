import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { createStageLogger, forRun } from '../../shared/logging.ts';
import { systemClock } from '../../shared/ports.ts';
import type { FinalizeFailureEvent, Notification } from '../../shared/stage-events.ts';
import { type FinalizeFailureDeps, runFinalizeFailure } from './finalize-failure.ts';

type Wiring = Omit<FinalizeFailureDeps, 'log'> & { logger: ReturnType<typeof createStageLogger> };
let wiring: Wiring | undefined;

function wire(): Wiring {
  const config = parseStageConfig(process.env);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  return {
    runs: new DynamoRunStore(doc, config.runsTable, systemClock),
    clock: systemClock,
    logger: createStageLogger({ stage: 'finalize-failure', level: config.logLevel }),
  };
}

export async function handler(event: FinalizeFailureEvent): Promise<Notification> {
  wiring ??= wire();
  const { logger, ...deps } = wiring;
  const log = forRun(logger, String(event?.runId ?? event?.executionName ?? 'unknown'));
  return runFinalizeFailure(event, { ...deps, log });
}
