import { DescribeTransformJobCommand, type SageMakerClient, StopTransformJobCommand } from '@aws-sdk/client-sagemaker';
import type { TransformJobControl } from '../ports.ts';
import { toNightshiftError } from './aws-errors.ts';

/**
 * {@link TransformJobControl} over SageMaker: DescribeTransformJob, then StopTransformJob while the job is
 * `InProgress`. SageMaker answers a job name it does not know with a ValidationException ("Could not find requested
 * job"), which here means there is nothing to stop.
 */
export class SageMakerTransformJobs implements TransformJobControl {
  constructor(private readonly client: SageMakerClient) {}

  async stopIfRunning(name: string): Promise<'stopped' | 'not-running'> {
    try {
      const job = await this.client.send(new DescribeTransformJobCommand({ TransformJobName: name }));
      if (job.TransformJobStatus !== 'InProgress') return 'not-running';
      await this.client.send(new StopTransformJobCommand({ TransformJobName: name }));
      return 'stopped';
    } catch (error) {
      const { name: errorName, message } = error as Error;
      if (errorName === 'ValidationException' && /could not find/i.test(message)) return 'not-running';
      if (errorName === 'ResourceNotFound') return 'not-running';
      throw toNightshiftError(error, `stopping transform job ${name}`);
    }
  }
}
