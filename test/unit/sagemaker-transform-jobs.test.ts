import { DescribeTransformJobCommand, SageMakerClient, StopTransformJobCommand } from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { SageMakerTransformJobs } from '../../shared/aws/sagemaker-transform-jobs.ts';

const sagemaker = mockClient(SageMakerClient);

describe('SageMakerTransformJobs.stopIfRunning (aws-sdk-client-mock: no local SageMaker exists)', () => {
  afterEach(() => sagemaker.reset());

  it('stops a job that is in progress', async () => {
    sagemaker.on(DescribeTransformJobCommand).resolves({ TransformJobStatus: 'InProgress' });
    sagemaker.on(StopTransformJobCommand).resolves({});

    const result = await new SageMakerTransformJobs(new SageMakerClient({ region: 'us-east-1' })).stopIfRunning(
      'ns-a-0',
    );

    expect(result).toBe('stopped');
    expect(sagemaker).toReceiveCommandWith(StopTransformJobCommand, { TransformJobName: 'ns-a-0' });
  });

  it('leaves a finished job alone and treats an unknown name as nothing to stop', async () => {
    const jobs = new SageMakerTransformJobs(new SageMakerClient({ region: 'us-east-1' }));
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: 'ns-done-0' })
      .resolves({ TransformJobStatus: 'Completed' });
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: 'ns-none-0' })
      .rejects(
        Object.assign(new Error('Could not find requested job with name ns-none-0'), { name: 'ValidationException' }),
      );

    expect(await jobs.stopIfRunning('ns-done-0')).toBe('not-running');
    expect(await jobs.stopIfRunning('ns-none-0')).toBe('not-running');
    expect(sagemaker).not.toReceiveCommand(StopTransformJobCommand);
  });

  it('fails on any other error, so the EventBridge delivery is retried', async () => {
    sagemaker
      .on(DescribeTransformJobCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await expect(
      new SageMakerTransformJobs(new SageMakerClient({ region: 'us-east-1' })).stopIfRunning('ns-a-0'),
    ).rejects.toThrow(/stopping transform job ns-a-0/);
  });
});
