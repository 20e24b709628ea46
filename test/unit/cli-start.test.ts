import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  ListMapRunsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { parseExecutionInput } from '../../shared/execution-input.ts';
import {
  executionArn,
  REGION,
  runCli,
  STATE_MACHINE_ARN,
  SteppingClock,
  stackDescription,
} from '../helpers/cli-harness.ts';

// StartExecution, DescribeStacks and the execution reads exist only on AWS: no local server answers them.
const cloudFormation = mockClient(CloudFormationClient);
const sfn = mockClient(SFNClient);
const sagemaker = mockClient(SageMakerClient);
const NAMES = { bucket: 'pipeline-bucket', runsTable: 'runs', predictionsTable: 'predictions' };

function deployed(): void {
  cloudFormation.on(DescribeStacksCommand).resolves(stackDescription(NAMES));
}

describe('nightshift start (aws-sdk-client-mock for the AWS-only StartExecution and DescribeStacks)', () => {
  afterEach(() => {
    cloudFormation.reset();
    sfn.reset();
    sagemaker.reset();
  });

  it('starts the stack state machine with the validated input, named by the run id, and prints the console link', async () => {
    deployed();
    sfn.on(StartExecutionCommand).resolves({ executionArn: executionArn('receipts-1'), startDate: new Date() });

    const result = await runCli([
      'start',
      '--manifest',
      's3://my-images/manifests/receipts.jsonl',
      '--run-id',
      'receipts-1',
      '--batch-size',
      '25',
      '--instance-type',
      'ml.g5.2xlarge',
      '--region',
      REGION,
    ]);

    expect(result.code).toBe(0);
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'Nightshift' });
    const expectedInput = parseExecutionInput({
      dataset: 's3://my-images/manifests/receipts.jsonl',
      runId: 'receipts-1',
      preprocess: { batchSize: 25 },
      transform: { instanceType: 'ml.g5.2xlarge' },
    });
    expect(sfn).toHaveReceivedCommandExactlyOnceWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE_ARN,
      name: 'receipts-1',
      input: JSON.stringify(expectedInput),
    });
    expect(result.stdout).toContain('started run receipts-1');
    expect(result.stdout).toContain(`execution  ${executionArn('receipts-1')}`);
    expect(result.stdout).toContain(
      `console    https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${executionArn('receipts-1')}`,
    );
  });

  it('names the execution run-<time>-<hex> when no run id is given, and uses --stack', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'NightshiftStaging' }).resolves(stackDescription(NAMES));
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({ executionArn: executionArn(input.name) }));
    const clock = new SteppingClock('2026-11-23T17:05:12Z');

    const result = await runCli(
      [
        'start',
        '--dataset',
        's3://my-images/2026-11-23/',
        '--stack',
        'NightshiftStaging',
        '--region',
        REGION,
        '--json',
      ],
      { deps: { clock } },
    );

    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { runId: string; executionArn: string; console: string };
    expect(printed.runId).toMatch(/^run-20261123-170512-[0-9a-f]{4}$/);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE_ARN,
      name: printed.runId,
      input: JSON.stringify(parseExecutionInput({ dataset: 's3://my-images/2026-11-23/' })),
    });
    expect(printed.executionArn).toBe(executionArn(printed.runId));
  });

  it.each([
    [['--batch-size', '0'], '--batch-size: Too small'],
    [['--instance-type', 'g5.xlarge'], '--instance-type: must look like ml.g5.xlarge'],
    [['--fit', 'cover'], '--fit: Invalid option'],
    [['--max-payload-mb', 'six'], '--max-payload-mb must be a number, got "six"'],
    [['--run-id', 'has space'], '--run-id: use 1-80 letters'],
  ])('refuses %j with exit 2 naming the option, before any AWS call', async (extra, message) => {
    const result = await runCli(['start', '--dataset', 's3://my-images/a/', ...extra, '--region', REGION]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 0);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  it('refuses a dataset that is neither a prefix nor a manifest, naming --dataset', async () => {
    const result = await runCli(['start', '--dataset', 's3://my-images/photo.jpg', '--region', REGION]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--dataset: dataset "s3://my-images/photo.jpg" is neither a prefix nor a manifest');
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  it('refuses a prefix given as --manifest, and neither or both of --dataset/--manifest', async () => {
    const prefixAsManifest = await runCli(['start', '--manifest', 's3://my-images/a/']);
    const neither = await runCli(['start']);
    const both = await runCli(['start', '--dataset', 's3://my-images/a/', '--manifest', 's3://my-images/m.jsonl']);

    expect([prefixAsManifest.code, neither.code, both.code]).toEqual([2, 2, 2]);
    expect(prefixAsManifest.stderr).toContain('--manifest must name a manifest file');
    expect(neither.stderr).toContain('give exactly one of --dataset');
    expect(both.stderr).toContain('give exactly one of --dataset');
  });

  it('prints the validated input with --dry-run and starts nothing', async () => {
    const result = await runCli(['start', '--dataset', 's3://my-images/a/', '--run-id', 'try-1', '--dry-run']);

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      name: 'try-1',
      input: parseExecutionInput({ dataset: 's3://my-images/a/', runId: 'try-1' }),
    });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
  });

  it('says how to follow a run whose name is taken (ExecutionAlreadyExists) and exits 1', async () => {
    deployed();
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

    const result = await runCli([
      'start',
      '--dataset',
      's3://my-images/a/',
      '--run-id',
      'nightly-1',
      '--region',
      REGION,
    ]);

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: run "nightly-1" already exists (execution names stay taken for 90 days): follow it with `nightshift watch nightly-1`, or pick another --run-id\n',
    );
  });

  it('with --wait follows the started run and exits with its outcome', async () => {
    deployed();
    const arn = executionArn('receipts-2');
    sfn.on(StartExecutionCommand).resolves({ executionArn: arn });
    sfn
      .on(DescribeExecutionCommand, { executionArn: arn })
      .resolvesOnce({ executionArn: arn, status: 'RUNNING', startDate: new Date('2026-11-23T17:00:00Z') })
      .resolves({
        executionArn: arn,
        status: 'FAILED',
        startDate: new Date('2026-11-23T17:00:00Z'),
        stopDate: new Date('2026-11-23T17:04:00Z'),
        error: 'ManifestError',
        cause: 'manifest s3://my-images/m.jsonl does not exist',
      });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const clock = new SteppingClock('2026-11-23T17:00:00Z');

    const result = await runCli(
      ['start', '--manifest', 's3://my-images/m.jsonl', '--run-id', 'receipts-2', '--wait', '--region', REGION],
      { deps: { clock, sleep: clock.sleep } },
    );

    expect(result.code).toBe(1);
    expect(result.stdout).toContain('started run receipts-2');
    expect(result.stdout).toContain(
      'run receipts-2 FAILED after 4m 00s: ManifestError: manifest s3://my-images/m.jsonl does not exist',
    );
    expect(sfn).toHaveReceivedCommandTimes(DescribeExecutionCommand, 2);
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 1);
  });
});
