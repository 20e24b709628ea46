import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { s3ClientConfig } from '../../shared/aws/client-config.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { createStageLogger, forRun } from '../../shared/logging.ts';
import { type ObjectStore, type PredictionStore, systemClock } from '../../shared/ports.ts';
import type { PreprocessResult } from '../../shared/stage-events.ts';
import { parsePreprocessBatch, runPreprocess } from './preprocess.ts';

interface Wiring {
  readonly objects: ObjectStore;
  readonly predictions: PredictionStore;
  readonly logger: Logger;
}

let wiring: Wiring | undefined;

/**
 * Builds the clients once per execution environment, on the first invocation rather than at import, so that a
 * configuration error fails an invocation (and shows in its error) instead of the module load.
 */
function wire(): Wiring {
  const config = parseStageConfig(process.env);
  const s3 = new S3Client(s3ClientConfig(process.env));
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    objects: new S3ObjectStore(s3),
    predictions: new DynamoPredictionStore(doc, config.predictionsTable),
    logger: createStageLogger({ stage: 'preprocess', level: config.logLevel }),
  };
}

/** Lambda entry point: one Distributed Map ItemBatcher batch in, a small {@link PreprocessResult} out. */
export async function handler(event: unknown): Promise<PreprocessResult> {
  wiring ??= wire();
  const batch = parsePreprocessBatch(event);
  return runPreprocess(batch, {
    objects: wiring.objects,
    predictions: wiring.predictions,
    clock: systemClock,
    log: forRun(wiring.logger, batch.BatchInput.runId),
  });
}
