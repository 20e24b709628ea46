import { DescribeTransformJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListMapRunsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { currentStateIn, mapLabelOf, transformJobNameIn } from '../../pipeline/cli/execution-progress.ts';
import { DEFAULT_POLL_POLICY } from '../../pipeline/cli/execution-watch.ts';
import { executionArn, mapRunArn, REGION, runCli, SteppingClock } from '../helpers/cli-harness.ts';

// DescribeExecution, GetExecutionHistory, ListMapRuns, DescribeMapRun and DescribeTransformJob exist only on AWS.
const sfn = mockClient(SFNClient);
const sagemaker = mockClient(SageMakerClient);

const RUN = 'nightly-2026-11-23';
const ARN = executionArn(RUN);
const STARTED = new Date('2026-11-23T02:00:00Z');
const JOB = 'ns-nightly-2026-11-23-0123456789abcdef-0';

const entered = (name: string, id: number): HistoryEvent => ({
  id,
  timestamp: new Date(STARTED.getTime() + id * 1000),
  type: name === 'Preprocess' ? 'MapStateEntered' : 'TaskStateEntered',
  stateEnteredEventDetails: { name },
});
const transformScheduled = (id: number): HistoryEvent => ({
  id,
  timestamp: new Date(STARTED.getTime() + id * 1000),
  type: 'TaskScheduled',
  taskScheduledEventDetails: {
    resourceType: 'sagemaker',
    resource: 'createTransformJob.sync',
    region: REGION,
    parameters: JSON.stringify({ TransformJobName: JOB, ModelName: 'nightshift-ocr' }),
  },
});

/** What the SDK throws when Step Functions throttles (the client exports no class for it). */
function throttled(): Error {
  return Object.assign(new Error('Rate exceeded'), {
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

function running(): void {
  sfn
    .on(DescribeExecutionCommand, { executionArn: ARN })
    .resolves({ executionArn: ARN, status: 'RUNNING', startDate: STARTED });
}

function watchArgs(...extra: string[]): string[] {
  return ['watch', ARN, '--region', REGION, ...extra];
}

describe('nightshift watch (aws-sdk-client-mock: Step Functions and SageMaker execution APIs exist only on AWS)', () => {
  afterEach(() => {
    sfn.reset();
    sagemaker.reset();
  });

  it('shows the current state, the Distributed Map item counts and the transform job, and exits 0 on SUCCEEDED', async () => {
    sfn
      .on(DescribeExecutionCommand, { executionArn: ARN })
      .resolvesOnce({ executionArn: ARN, status: 'RUNNING', startDate: STARTED })
      .resolvesOnce({ executionArn: ARN, status: 'RUNNING', startDate: STARTED })
      .resolves({
        executionArn: ARN,
        status: 'SUCCEEDED',
        startDate: STARTED,
        stopDate: new Date('2026-11-23T03:02:00Z'),
      });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [entered('Preprocess', 12), entered('PartKey', 11)] })
      .resolves({ events: [transformScheduled(31), entered('Transform', 30), entered('Preprocess', 12)] });
    const preprocessRun = mapRunArn('Preprocess', 'a1');
    sfn.on(ListMapRunsCommand, { executionArn: ARN }).resolves({
      mapRuns: [{ executionArn: ARN, mapRunArn: preprocessRun, stateMachineArn: 'x', startDate: STARTED }],
    });
    sfn
      .on(DescribeMapRunCommand, { mapRunArn: preprocessRun })
      .resolvesOnce({
        mapRunArn: preprocessRun,
        executionArn: ARN,
        status: 'RUNNING',
        startDate: STARTED,
        maxConcurrency: 40,
        toleratedFailurePercentage: 5,
        toleratedFailureCount: 0,
        itemCounts: {
          pending: 280,
          running: 40,
          succeeded: 75,
          failed: 5,
          timedOut: 0,
          aborted: 0,
          total: 400,
          resultsWritten: 80,
        },
        executionCounts: {
          pending: 0,
          running: 1,
          succeeded: 1,
          failed: 0,
          timedOut: 0,
          aborted: 0,
          total: 2,
          resultsWritten: 1,
        },
      })
      .resolves({
        mapRunArn: preprocessRun,
        executionArn: ARN,
        status: 'SUCCEEDED',
        startDate: STARTED,
        maxConcurrency: 40,
        toleratedFailurePercentage: 5,
        toleratedFailureCount: 0,
        itemCounts: {
          pending: 0,
          running: 0,
          succeeded: 395,
          failed: 5,
          timedOut: 0,
          aborted: 0,
          total: 400,
          resultsWritten: 400,
        },
        executionCounts: {
          pending: 0,
          running: 0,
          succeeded: 8,
          failed: 0,
          timedOut: 0,
          aborted: 0,
          total: 8,
          resultsWritten: 8,
        },
      });
    sagemaker
      .on(DescribeTransformJobCommand, { TransformJobName: JOB })
      .resolves({ TransformJobName: JOB, TransformJobStatus: 'InProgress' } as never);
    const clock = new SteppingClock('2026-11-23T02:30:00Z');

    const result = await runCli(watchArgs(), { deps: { clock, sleep: clock.sleep } });

    expect(result.code).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: ARN });
    expect(sfn).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: ARN,
      reverseOrder: true,
      maxResults: 100,
      includeExecutionData: true,
    });
    expect(sfn).toHaveReceivedCommandWith(ListMapRunsCommand, { executionArn: ARN });
    expect(sfn).toHaveReceivedCommandWith(DescribeMapRunCommand, { mapRunArn: preprocessRun });
    expect(sagemaker).toHaveReceivedCommandWith(DescribeTransformJobCommand, { TransformJobName: JOB });
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('02:30:00  RUNNING  Preprocess  Preprocess 75/400 (5 failed, 40 running, 280 pending)');
    expect(lines[1]).toBe(`02:30:02  RUNNING  Transform  Preprocess 395/400 (5 failed)  transform ${JOB} InProgress`);
    expect(lines.at(-1)).toContain(`run ${RUN} SUCCEEDED after 1h 02m`);
  });

  it('describes a finished map run only once', async () => {
    const mapRun = mapRunArn('Aggregate', 'b2');
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ executionArn: ARN, status: 'RUNNING', startDate: STARTED })
      .resolvesOnce({ executionArn: ARN, status: 'RUNNING', startDate: STARTED })
      .resolves({ executionArn: ARN, status: 'SUCCEEDED', startDate: STARTED, stopDate: STARTED });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [entered('Report', 50)] });
    sfn
      .on(ListMapRunsCommand)
      .resolves({ mapRuns: [{ executionArn: ARN, mapRunArn: mapRun, stateMachineArn: 'x', startDate: STARTED }] });
    sfn.on(DescribeMapRunCommand).resolves({
      mapRunArn: mapRun,
      executionArn: ARN,
      status: 'SUCCEEDED',
      startDate: STARTED,
      maxConcurrency: 40,
      toleratedFailurePercentage: 5,
      toleratedFailureCount: 0,
      itemCounts: {
        pending: 0,
        running: 0,
        succeeded: 8,
        failed: 0,
        timedOut: 0,
        aborted: 0,
        total: 8,
        resultsWritten: 8,
      },
      executionCounts: {
        pending: 0,
        running: 0,
        succeeded: 8,
        failed: 0,
        timedOut: 0,
        aborted: 0,
        total: 8,
        resultsWritten: 8,
      },
    });
    const clock = new SteppingClock(STARTED);

    const result = await runCli(watchArgs(), { deps: { clock, sleep: clock.sleep } });

    expect(result.code).toBe(0);
    expect(sfn).toHaveReceivedCommandTimes(ListMapRunsCommand, 3);
    expect(sfn).toHaveReceivedCommandTimes(DescribeMapRunCommand, 1);
  });

  it.each([
    ['FAILED', 'States.TaskFailed', 'Transform job failed'],
    ['TIMED_OUT', 'States.Timeout', 'execution timed out'],
    ['ABORTED', undefined, undefined],
  ] as const)('exits 1 when the run ends %s and says how to redrive it', async (status, error, cause) => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      status,
      startDate: STARTED,
      stopDate: new Date('2026-11-23T02:10:00Z'),
      ...(error ? { error } : {}),
      ...(cause ? { cause } : {}),
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const clock = new SteppingClock(STARTED);

    const result = await runCli(watchArgs(), { deps: { clock, sleep: clock.sleep } });

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`run ${RUN} ${status} after 10m 00s`);
    if (error) expect(result.stdout).toContain(`${error}: ${cause}`);
    expect(result.stdout).toContain(`redrive it with \`nightshift redrive ${RUN}\``);
  });

  it('backs off from 2 s by half up to 30 s, and gives up at --timeout with exit 1', async () => {
    running();
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [transformScheduled(31), entered('Transform', 30)] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    sagemaker
      .on(DescribeTransformJobCommand)
      .resolves({ TransformJobName: JOB, TransformJobStatus: 'InProgress' } as never);
    const clock = new SteppingClock(STARTED);

    const result = await runCli(watchArgs('--timeout', '5m'), { deps: { clock, sleep: clock.sleep } });

    expect(result.code).toBe(1);
    expect(clock.sleeps.slice(0, 8)).toEqual([2000, 3000, 4500, 6750, 10125, 15188, 22782, 30000]);
    expect(Math.max(...clock.sleeps)).toBe(DEFAULT_POLL_POLICY.maxDelayMs);
    expect(clock.sleeps.reduce((sum, ms) => sum + ms, 0)).toBe(5 * 60_000);
    expect(result.stdout).toContain(`stopped watching run ${RUN} after 5m 00s: it is still RUNNING`);
    // One line while nothing changes, not one per poll.
    expect(result.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('rides out throttling between polls and warns on stderr', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ executionArn: ARN, status: 'RUNNING', startDate: STARTED })
      .rejectsOnce(throttled())
      .resolves({ executionArn: ARN, status: 'SUCCEEDED', startDate: STARTED, stopDate: STARTED });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const clock = new SteppingClock(STARTED);

    const result = await runCli(watchArgs(), { deps: { clock, sleep: clock.sleep } });

    expect(result.code).toBe(0);
    expect(result.stderr).toContain('warning: could not read the run');
    expect(result.stderr).toContain('Rate exceeded');
  });

  it('prints one JSON object per change with --json', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({ executionArn: ARN, status: 'RUNNING', startDate: STARTED })
      .resolves({ executionArn: ARN, status: 'SUCCEEDED', startDate: STARTED, stopDate: STARTED });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [entered('Plan', 2)] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const clock = new SteppingClock(STARTED);

    const result = await runCli(watchArgs('--json'), { deps: { clock, sleep: clock.sleep } });

    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; status: string; currentState?: string });
    expect(events.map((e) => [e.event, e.status, e.currentState])).toEqual([
      ['progress', 'RUNNING', 'Plan'],
      ['progress', 'SUCCEEDED', 'Plan'],
      ['finished', 'SUCCEEDED', 'Plan'],
    ]);
  });

  it('says the run was not found when the execution does not exist', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));

    const result = await runCli(watchArgs());

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: run "${RUN}" not found: no execution ${ARN}; list runs with \`nightshift runs\` or check --stack and --region\n`,
    );
  });
});

describe('reading the execution history', () => {
  it('takes the label of a map run from its ARN', () => {
    expect(mapLabelOf(mapRunArn('Preprocess', '5e1c'))).toBe('Preprocess');
    expect(mapLabelOf('arn:aws:states:us-east-1:1:mapRun:Machine:5e1c')).toBe('Map');
  });

  it('finds the newest state entered and the newest transform job name', () => {
    const newestFirst = [transformScheduled(31), entered('Transform', 30), entered('Preprocess', 12)];

    expect(currentStateIn(newestFirst)).toBe('Transform');
    expect(transformJobNameIn(newestFirst)).toBe(JOB);
    expect(transformJobNameIn([entered('Plan', 2)])).toBeUndefined();
  });
});
