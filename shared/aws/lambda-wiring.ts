/**
 * The Lambda functions' wiring: {@link lambdaClients} builds the AWS SDK clients from the function's environment
 * (the SDK's standard configuration: region, credentials, `AWS_ENDPOINT_URL_*`), and {@link wireFrom} turns clients
 * and the settings the stack sets into a stage's ports. Each stage's entry point (its `handler.ts`) calls both, so
 * what a function talks to is chosen where it starts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { parseStageConfig, requiredSetting, type StageConfig } from '../config.ts';
import { createStageLogger } from '../logging.ts';
import { systemClock } from '../ports.ts';
import type { StageWiring, Wire } from '../stage-handler.ts';
import { documentClient, s3ClientConfig } from './client-config.ts';
import { DynamoPredictionStore } from './dynamo-prediction-store.ts';
import { DynamoRunStore } from './dynamo-run-store.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { SageMakerTransformJobs } from './sagemaker-transform-jobs.ts';
import { SfnExecutionStarter } from './sfn-execution-starter.ts';
import { SnsNotifier } from './sns-notifier.ts';

/** The AWS SDK clients a stage may use, each built on its first call, so a stage builds only the clients it uses. */
export interface StageClients {
  readonly s3: () => S3Client;
  readonly dynamo: () => DynamoDBClient;
  readonly sns: () => SNSClient;
  readonly sfn: () => SFNClient;
  readonly sageMaker: () => SageMakerClient;
}

/**
 * The clients of a Lambda function: the SDK's standard configuration from `process.env`, plus `env`'s say on S3
 * addressing (path-style when an endpoint is set; see {@link s3ClientConfig}).
 */
export function lambdaClients(env: Readonly<Record<string, string | undefined>>): StageClients {
  return {
    s3: once(() => new S3Client(s3ClientConfig(env))),
    dynamo: once(() => new DynamoDBClient({})),
    sns: once(() => new SNSClient({})),
    sfn: once(() => new SFNClient({})),
    sageMaker: once(() => new SageMakerClient({})),
  };
}

/**
 * A stage's ports over the given clients, configured by `env` (the stack's settings: tables, buckets, topic). `env`
 * is read when the handler first runs, never at import, so a configuration error fails that invocation, naming the
 * variable, and importing a handler has no side effects; the clients are built on first use.
 */
export function wireFrom(env: Readonly<Record<string, string | undefined>>, clients: StageClients): Wire {
  return (stage) => wireStage(env, stage, clients);
}

function wireStage(
  env: Readonly<Record<string, string | undefined>>,
  stage: string,
  clients: StageClients,
): StageWiring {
  const config: StageConfig = parseStageConfig(env);
  const doc = once(() => documentClient(clients.dynamo()));
  const objects = once(() => new S3ObjectStore(clients.s3()));
  const runs = once(() => new DynamoRunStore(doc(), config.runsTable, systemClock));
  const predictions = once(() => new DynamoPredictionStore(doc(), config.predictionsTable));
  const notifier = once(() => new SnsNotifier(clients.sns(), config.notificationTopicArn));
  const starter = once(() => new SfnExecutionStarter(clients.sfn(), requiredSetting(config, 'stateMachineArn')));
  const transformJobs = once(() => new SageMakerTransformJobs(clients.sageMaker()));
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

/** `make`'s value, made on the first call and kept. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}
