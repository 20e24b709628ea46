import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { s3ClientConfig } from '../../shared/aws/client-config.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { createStageLogger, forRun } from '../../shared/logging.ts';
import { systemClock } from '../../shared/ports.ts';
import type { PlanEvent, PlanResult } from '../../shared/stage-events.ts';
import { type PlanDeps, runPlan } from './plan.ts';

type Wiring = Omit<PlanDeps, 'log'> & { logger: ReturnType<typeof createStageLogger> };
let wiring: Wiring | undefined;

/** Built on the first invocation, reused while the execution environment lives. */
function wire(): Wiring {
  const config = parseStageConfig(process.env);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  return {
    objects: new S3ObjectStore(new S3Client(s3ClientConfig(process.env))),
    runs: new DynamoRunStore(doc, config.runsTable, systemClock),
    predictions: new DynamoPredictionStore(doc, config.predictionsTable),
    clock: systemClock,
    pipelineBucket: config.pipelineBucket,
    allowedDatasetLocations: config.allowedDatasetLocations,
    logger: createStageLogger({ stage: 'plan', level: config.logLevel }),
  };
}

export async function handler(event: PlanEvent): Promise<PlanResult> {
  wiring ??= wire();
  const { logger, ...deps } = wiring;
  const runId =
    typeof event?.input === 'object' && event.input !== null && 'runId' in event.input
      ? String((event.input as { runId: unknown }).runId)
      : String(event?.execution?.name ?? 'unknown');
  const log = forRun(logger, runId);
  try {
    return await runPlan(event, { ...deps, log });
  } catch (error) {
    log.error('plan failed', { error });
    throw error;
  }
}
