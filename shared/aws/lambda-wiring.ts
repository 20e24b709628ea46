/**
 * The Lambda functions' one wiring place: every stage's clients are built here, from the function's environment
 * (the settings the stack sets, and the SDK's standard configuration: region, credentials, `AWS_ENDPOINT_URL_*`).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseStageConfig, requiredSetting, type StageConfig } from '../config.ts';
import { createStageLogger } from '../logging.ts';
import { systemClock } from '../ports.ts';
import type { StageWiring, Wire } from '../stage-handler.ts';
import { s3ClientConfig } from './client-config.ts';
import { DynamoPredictionStore } from './dynamo-prediction-store.ts';
import { DynamoRunStore } from './dynamo-run-store.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { SageMakerTransformJobs } from './sagemaker-transform-jobs.ts';
import { SfnExecutionStarter } from './sfn-execution-starter.ts';
import { SnsNotifier } from './sns-notifier.ts';

/**
 * Wires a stage from `process.env`. Read when the handler first runs, never at import, so a configuration error
 * fails that invocation, naming the variable, and importing a handler has no side effects. Each member is built on
 * first access: a stage builds only the clients it uses.
 */
export const wireFromEnv: Wire = (stage) => wireFrom(process.env, stage);

/** {@link wireFromEnv} over a given environment. */
export function wireFrom(env: Readonly<Record<string, string | undefined>>, stage: string): StageWiring {
  const config: StageConfig = parseStageConfig(env);
  const once = <T>(make: () => T): (() => T) => {
    let value: T | undefined;
    return () => {
      value ??= make();
      return value;
    };
  };
  const doc = once(() =>
    DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
  );
  const objects = once(() => new S3ObjectStore(new S3Client(s3ClientConfig(env))));
  const runs = once(() => new DynamoRunStore(doc(), config.runsTable, systemClock));
  const predictions = once(() => new DynamoPredictionStore(doc(), config.predictionsTable));
  const notifier = once(() => new SnsNotifier(new SNSClient({}), config.notificationTopicArn));
  const starter = once(() => new SfnExecutionStarter(new SFNClient({}), requiredSetting(config, 'stateMachineArn')));
  const transformJobs = once(() => new SageMakerTransformJobs(new SageMakerClient({})));
  const logger = createStageLogger({ stage, level: config.logLevel });
  return {
    config,
    clock: systemClock,
    logger,
    get objects() {
      return objects();
    },
    get runs() {
      return runs();
    },
    get predictions() {
      return predictions();
    },
    get notifier() {
      return notifier();
    },
    get starter() {
      return starter();
    },
    get transformJobs() {
      return transformJobs();
    },
  };
}
