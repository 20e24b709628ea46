import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import {
  DescribeExecutionCommand,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  ListMapRunsCommand,
  RedriveExecutionCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { executionArn, REGION, runCli, SteppingClock } from '../helpers/cli-harness.ts';

// DescribeExecution and RedriveExecution exist only on AWS: no local server answers them.
const sfn = mockClient(SFNClient);
const sagemaker = mockClient(SageMakerClient);

const RUN = 'nightly-2026-11-20';
const ARN = executionArn(RUN);
const NOW = '2026-11-23T12:00:00Z';
const DAY = 86_400_000;

function stoppedDaysAgo(days: number, status: 'FAILED' | 'TIMED_OUT' | 'ABORTED' = 'FAILED') {
  const stopDate = new Date(new Date(NOW).getTime() - days * DAY);
  return {
    executionArn: ARN,
    status,
    startDate: new Date(stopDate.getTime() - 3_600_000),
    stopDate,
    redriveCount: 0,
    redriveStatus: 'REDRIVABLE' as const,
  };
}

describe('nightshift redrive (aws-sdk-client-mock: DescribeExecution and RedriveExecution exist only on AWS)', () => {
  afterEach(() => {
    sfn.reset();
    sagemaker.reset();
  });

  it.each(['FAILED', 'TIMED_OUT', 'ABORTED'] as const)(
    'redrives a run that ended %s within 14 days',
    async (status) => {
      sfn.on(DescribeExecutionCommand).resolves(stoppedDaysAgo(3, status));
      sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date(NOW) });
      const clock = new SteppingClock(NOW);

      const result = await runCli(['redrive', ARN, '--region', REGION], { deps: { clock } });

      expect(result.code).toBe(0);
      expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: ARN });
      expect(sfn).toHaveReceivedCommandExactlyOnceWith(RedriveExecutionCommand, { executionArn: ARN });
      expect(result.stdout).toContain(`redriving run ${RUN} (redrive 1) from where it ${status}`);
      expect(result.stdout).toContain(`follow it with: nightshift watch ${RUN}`);
    },
  );

  it('refuses a run that stopped more than 14 days ago (exit 2, an input mistake) without calling RedriveExecution', async () => {
    sfn.on(DescribeExecutionCommand).resolves(stoppedDaysAgo(15));
    const clock = new SteppingClock(NOW);

    const result = await runCli(['redrive', ARN, '--region', REGION], { deps: { clock } });

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: run "${RUN}" stopped 2026-11-08 12:00:00 UTC (15 days ago): Step Functions redrives only runs that stopped within 14 days; start a new run with \`nightshift start\` and a new --run-id\n`,
    );
    expect(sfn).toHaveReceivedCommandTimes(RedriveExecutionCommand, 0);
  });

  it.each([
    ['RUNNING', 'only FAILED, TIMED_OUT or ABORTED runs can be redriven'],
    ['SUCCEEDED', 'there is nothing to redrive'],
  ] as const)('refuses a %s run, saying why', async (status, why) => {
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: ARN, status, startDate: new Date(NOW) });

    const result = await runCli(['redrive', ARN, '--region', REGION], { deps: { clock: new SteppingClock(NOW) } });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`run "${RUN}" is ${status}: ${why}`);
    expect(sfn).toHaveReceivedCommandTimes(RedriveExecutionCommand, 0);
  });

  it('passes on the reason Step Functions gives in redriveStatusReason', async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      ...stoppedDaysAgo(1),
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution history event limit exceeded',
    });

    const result = await runCli(['redrive', ARN, '--region', REGION], { deps: { clock: new SteppingClock(NOW) } });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `Step Functions will not redrive run "${RUN}": Execution history event limit exceeded`,
    );
    expect(sfn).toHaveReceivedCommandTimes(RedriveExecutionCommand, 0);
  });

  it('maps ExecutionNotRedrivable to a one-line message', async () => {
    sfn.on(DescribeExecutionCommand).resolves(stoppedDaysAgo(1));
    sfn
      .on(RedriveExecutionCommand)
      .rejects(new ExecutionNotRedrivable({ message: 'Execution redrivable period exceeded', $metadata: {} }));

    const result = await runCli(['redrive', ARN, '--region', REGION, '--json'], {
      deps: { clock: new SteppingClock(NOW) },
    });

    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr)).toEqual({
      error: expect.objectContaining({
        code: 'NOT_REDRIVABLE',
        message: `Step Functions refused to redrive run "${RUN}": Execution redrivable period exceeded; start a new run with \`nightshift start\``,
      }),
    });
  });

  it('with --wait follows the redriven run to its end', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce(stoppedDaysAgo(1))
      .resolves({
        executionArn: ARN,
        status: 'SUCCEEDED',
        startDate: new Date(NOW),
        stopDate: new Date(NOW),
        redriveCount: 1,
      });
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date(NOW) });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const clock = new SteppingClock(NOW);

    const result = await runCli(['redrive', ARN, '--wait', '--region', REGION], {
      deps: { clock, sleep: clock.sleep },
    });

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`run ${RUN} SUCCEEDED`);
  });
});
