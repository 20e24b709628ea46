import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { SageMakerTransformJobs } from '../../shared/aws/sagemaker-transform-jobs.ts';
import { SnsNotifier } from '../../shared/aws/sns-notifier.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { createStageLogger, forRun } from '../../shared/logging.ts';
import { systemClock, type TransformJobControl } from '../../shared/ports.ts';
import type { ExecutionStatusEvent, FinalizeFailureEvent, Notification } from '../../shared/stage-events.ts';
import {
  type FinalizeFailureDeps,
  type Notifier,
  runFinalizeExecution,
  runFinalizeFailure,
} from './finalize-failure.ts';

type Wiring = Omit<FinalizeFailureDeps, 'log'> & {
  logger: ReturnType<typeof createStageLogger>;
  notifier: Notifier;
  transformJobs: TransformJobControl;
};
let wiring: Wiring | undefined;

function wire(): Wiring {
  const config = parseStageConfig(process.env);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  return {
    runs: new DynamoRunStore(doc, config.runsTable, systemClock),
    clock: systemClock,
    notifier: new SnsNotifier(new SNSClient({}), config.notificationTopicArn),
    transformJobs: new SageMakerTransformJobs(new SageMakerClient({})),
    logger: createStageLogger({ stage: 'finalize-failure', level: config.logLevel }),
  };
}

/**
 * Two callers: the state machine's Catch path (returns the notification, which the state machine publishes), and
 * the EventBridge rule on executions that ended FAILED/TIMED_OUT/ABORTED (publishes itself).
 */
export async function handler(event: FinalizeFailureEvent | ExecutionStatusEvent): Promise<Notification | undefined> {
  wiring ??= wire();
  const { logger, notifier, transformJobs, ...deps } = wiring;
  if ('detail-type' in event) {
    const log = forRun(logger, String(event.detail?.name ?? 'unknown'));
    return runFinalizeExecution(event, { ...deps, notifier, transformJobs, log });
  }
  const log = forRun(logger, String(event?.runId ?? event?.executionName ?? 'unknown'));
  return runFinalizeFailure(event, { ...deps, log });
}
