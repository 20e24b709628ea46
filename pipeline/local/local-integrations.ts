import { appendFile } from 'node:fs/promises';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Notifier } from '../../shared/ports.ts';
import { type LocalBatchTransform, SageMakerLocalError, type TransformJobRequest } from './batch-transform.ts';
import { StatesError, serviceIntegration, type TaskIntegration } from './engine/index.ts';

/**
 * The optimised integration reports the quota error as `SageMaker.ResourceLimitExceededException` and every other
 * API error as `SageMaker.AmazonSageMakerException` (docs/decisions.md, "SageMaker error names").
 */
function sageMakerError(error: unknown): StatesError {
  const name =
    error instanceof SageMakerLocalError && error.name === 'ResourceLimitExceeded'
      ? 'SageMaker.ResourceLimitExceededException'
      : 'SageMaker.AmazonSageMakerException';
  return new StatesError(name, (error as Error).message);
}

/**
 * `sagemaker:createTransformJob.sync` on the local batch transform: create, wait, and return what
 * DescribeTransformJob says; a Failed or Stopped job fails the task with States.TaskFailed and that description as
 * the cause, as the RUN_JOB integration does.
 */
export function transformJobIntegration(transform: LocalBatchTransform, modelName: string): TaskIntegration[] {
  const sync = serviceIntegration(
    'sagemaker:createTransformJob.sync',
    ['arn:aws:states:::sagemaker:createTransformJob.sync'],
    async (invocation) => {
      const request = invocation.parameters as TransformJobRequest;
      if (request.ModelName !== modelName) {
        throw new StatesError('SageMaker.AmazonSageMakerException', `Could not find model "${request.ModelName}".`);
      }
      let created: { TransformJobArn: string };
      try {
        created = transform.create(request);
      } catch (error) {
        throw sageMakerError(error);
      }
      invocation.submitted(created);
      const done = await transform.wait(request.TransformJobName);
      if (done.TransformJobStatus !== 'Completed') {
        throw new StatesError('States.TaskFailed', JSON.stringify(done));
      }
      return done;
    },
  );
  const describe = serviceIntegration(
    'aws-sdk:sagemaker:describeTransformJob',
    ['arn:aws:states:::aws-sdk:sagemaker:describeTransformJob'],
    async (invocation) => {
      const { TransformJobName } = invocation.parameters as { TransformJobName: string };
      try {
        return transform.describe(TransformJobName);
      } catch (error) {
        throw new StatesError('SageMaker.SageMakerException', (error as Error).message);
      }
    },
  );
  const stop = serviceIntegration(
    'aws-sdk:sagemaker:stopTransformJob',
    ['arn:aws:states:::aws-sdk:sagemaker:stopTransformJob'],
    async (invocation) => {
      const { TransformJobName } = invocation.parameters as { TransformJobName: string };
      try {
        transform.stop(TransformJobName);
        return {};
      } catch (error) {
        throw new StatesError('SageMaker.SageMakerException', (error as Error).message);
      }
    },
  );
  return [sync, describe, stop];
}

/** `aws-sdk:s3:listObjectsV2` against the local S3 server (the SDK's own response, minus its metadata). */
export function s3ListIntegration(s3: S3Client): TaskIntegration {
  return serviceIntegration(
    'aws-sdk:s3:listObjectsV2',
    ['arn:aws:states:::aws-sdk:s3:listObjectsV2'],
    async (invocation) => {
      try {
        const { $metadata: _metadata, ...output } = await s3.send(
          new ListObjectsV2Command(invocation.parameters as never),
        );
        return JSON.parse(JSON.stringify(output));
      } catch (error) {
        throw new StatesError(`S3.${(error as Error).name}`, (error as Error).message);
      }
    },
  );
}

/** A local run's notifications: one JSON line per message, appended to a file instead of published to SNS. */
async function appendNotification(
  file: string,
  notification: { topic?: string | undefined; subject?: string | undefined; message: string },
): Promise<void> {
  const { topic, subject, message } = notification;
  await appendFile(file, `${JSON.stringify({ at: new Date().toISOString(), topic, subject, message })}\n`);
}

/** What finalize-failure publishes itself (SNS in AWS), appended to the notifications file. */
export function fileNotifier(file: string): Notifier {
  return { publish: (notification) => appendNotification(file, notification) };
}

/** `sns:publish`: appended to a local file (one JSON line per message) instead of an SNS topic. */
export function snsFileIntegration(
  file: string,
  onMessage?: (message: { subject?: string; message: string }) => void,
): TaskIntegration {
  let count = 0;
  return serviceIntegration('sns:publish', ['arn:aws:states:::sns:publish'], async (invocation) => {
    const params = invocation.parameters as { TopicArn?: string; Subject?: string; Message?: unknown };
    const message = typeof params.Message === 'string' ? params.Message : JSON.stringify(params.Message);
    await appendNotification(file, { topic: params.TopicArn, subject: params.Subject, message });
    onMessage?.({ ...(params.Subject ? { subject: params.Subject } : {}), message });
    count += 1;
    return { MessageId: `local-${count}` };
  });
}
