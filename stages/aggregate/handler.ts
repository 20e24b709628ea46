import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { s3ClientConfig } from '../../shared/aws/client-config.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { createStageLogger, forRun } from '../../shared/logging.ts';
import { systemClock } from '../../shared/ports.ts';
import type { PartStats } from '../../shared/records.ts';
import type { AggregateEvent } from '../../shared/stage-events.ts';
import { type AggregateDeps, runAggregate } from './aggregate.ts';

type Wiring = Omit<AggregateDeps, 'log'> & { logger: ReturnType<typeof createStageLogger> };
let wiring: Wiring | undefined;

function wire(): Wiring {
  const config = parseStageConfig(process.env);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  return {
    objects: new S3ObjectStore(new S3Client(s3ClientConfig(process.env))),
    predictions: new DynamoPredictionStore(doc, config.predictionsTable),
    clock: systemClock,
    logger: createStageLogger({ stage: 'aggregate', level: config.logLevel }),
  };
}

export async function handler(event: AggregateEvent): Promise<PartStats> {
  wiring ??= wire();
  const { logger, ...deps } = wiring;
  const log = forRun(logger, String(event?.runId ?? 'unknown'));
  try {
    return await runAggregate(event, { ...deps, log });
  } catch (error) {
    log.error('aggregate failed', { error });
    throw error;
  }
}
