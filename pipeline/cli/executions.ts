/** From a run id to its Step Functions execution, and links to it. */
import { DescribeExecutionCommand, type DescribeExecutionCommandOutput, type SFNClient } from '@aws-sdk/client-sfn';
import { awsCall, awsErrorName, CliFailure } from './cli-errors.ts';
import type { CommandContext } from './command-context.ts';
import { findRun } from './run-records.ts';

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

/**
 * Finds the execution of `run`: an execution ARN as given; else the run record's `executionId` (the plan stage
 * stores `$$.Execution.Id`, which holds even when the execution name differs from the run id); else the execution of
 * that name in the stack's state machine (runs started by `nightshift start` or the triggers are named by run id).
 */
export async function resolveRunExecution(ctx: CommandContext, run: string): Promise<RunExecution> {
  if (run.startsWith('arn:')) return { runId: executionNameOf(run), executionArn: run };
  const data = await ctx.runData();
  // The record is a better guide than the name, not a requirement: watch and redrive need only Step Functions.
  const record = await findRun(data, run, ctx.deps.clock).catch(() => undefined);
  if (record?.executionId?.startsWith('arn:')) return { runId: run, executionArn: record.executionId };
  const stack = await ctx.stack();
  return { runId: run, executionArn: executionArnFor(stack.StateMachineArn, run) };
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
