/** From a run id to its Step Functions execution, and links to it. */
import { DescribeExecutionCommand, type DescribeExecutionCommandOutput, type SFNClient } from '@aws-sdk/client-sfn';
import { awsCall, awsErrorName, CliFailure } from '../run-backend/failures.ts';

/** `arn:aws:states:us-east-1:123:stateMachine:Name` + `run-1` -> `arn:aws:states:us-east-1:123:execution:Name:run-1` */
export function executionArnFor(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
}

/** The execution name, the last part of an execution ARN. */
export function executionNameOf(executionArn: string): string {
  return executionArn.slice(executionArn.lastIndexOf(':') + 1);
}

/** The region field of an ARN. */
export function regionOf(arn: string): string | undefined {
  return arn.split(':')[3] || undefined;
}

/** The Step Functions console page of an execution. */
export function executionConsoleUrl(executionArn: string): string {
  const region = regionOf(executionArn) ?? 'us-east-1';
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** A run named by the user: its run id (for messages and tables) and its execution ARN. */
export interface RunExecution {
  readonly runId: string;
  readonly executionArn: string;
}

/** DescribeExecution, with RUN_NOT_FOUND when there is no such execution. */
export async function describeExecution(
  sfn: SFNClient,
  execution: RunExecution,
): Promise<DescribeExecutionCommandOutput> {
  return awsCall('states:DescribeExecution', async () => {
    try {
      return await sfn.send(new DescribeExecutionCommand({ executionArn: execution.executionArn }));
    } catch (error) {
      if (awsErrorName(error) === 'ExecutionDoesNotExist') throw runNotFound(execution);
      throw error;
    }
  });
}

export function runNotFound(execution: RunExecution): CliFailure {
  return new CliFailure(
    'RUN_NOT_FOUND',
    `run "${execution.runId}" not found: no execution ${execution.executionArn}; list runs with \`nightshift runs\` ` +
      'or check --stack and --region',
  );
}
