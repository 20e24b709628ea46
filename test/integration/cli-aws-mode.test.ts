import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListMapRunsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import type { RunRecord } from '../../shared/records.ts';
import { captureIo, executionArn, REGION, runCli, SteppingClock, stackDescription } from '../helpers/cli-harness.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

// The stack outputs and the execution APIs exist only on AWS (mocked); the tables and the bucket are the local
// servers, reached through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 the way a user points the SDK elsewhere.
const cloudFormation = mockClient(CloudFormationClient);
const sfn = mockClient(SFNClient);
const sagemaker = mockClient(SageMakerClient);

const BUCKET = 'nightshift-pipeline';
const NOW = new Date('2026-11-23T03:00:00Z');
/** The manifest trigger names executions after bucket, key and ETag; the run record keeps the real ARN. */
const TRIGGERED_ARN = executionArn('receipts-jsonl-5f2a9c');

describe('AWS mode: names from the stack outputs, data from the tables and bucket they name', () => {
  let aws: LocalAws;
  let work: string;
  const clock = new SteppingClock(NOW);

  beforeAll(async () => {
    aws = await startLocalAws();
    const { runsTable, predictionsTable } = await aws.createTables();
    await aws.createBucket(BUCKET);
    const run: RunRecord = {
      runId: 'receipts-1',
      status: 'SUCCEEDED',
      dataset: `s3://${BUCKET}/manifests/receipts.jsonl`,
      settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
      settingsHash: 'h',
      executionId: TRIGGERED_ARN,
      createdAt: '2026-11-23T01:00:00.000Z',
      updatedAt: '2026-11-23T01:30:00.000Z',
      finishedAt: '2026-11-23T01:30:00.000Z',
      counts: { items: 2, predicted: 2, rejected: 0, rejectedByReason: {} },
      report: {
        json: `s3://${BUCKET}/reports/receipts-1/report.json`,
        csv: `s3://${BUCKET}/reports/receipts-1/predictions.csv`,
        html: `s3://${BUCKET}/reports/receipts-1/report.html`,
      },
    };
    await new DynamoRunStore(aws.doc, runsTable, clock).create(run);
    for (const [name, body] of [
      ['report.json', '{}'],
      ['predictions.csv', 'key\r\n'],
      ['report.html', '<p>receipts</p>'],
    ]) {
      await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `reports/receipts-1/${name}`, Body: body }));
    }
    cloudFormation
      .on(DescribeStacksCommand)
      .resolves(stackDescription({ bucket: BUCKET, runsTable, predictionsTable }));
    work = await mkdtemp(join(tmpdir(), 'nightshift-work-'));
  });

  afterEach(() => {
    sfn.reset();
    sagemaker.reset();
  });

  afterAll(async () => {
    cloudFormation.restore();
    sfn.restore();
    sagemaker.restore();
    await aws?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const cli = (...argv: string[]) =>
    runCli([...argv, '--region', REGION], {
      io: captureIo({ env: { ...process.env }, cwd: work }),
      deps: { clock, sleep: clock.sleep },
    });

  it('reads the run from the table the stack names, with the execution console link', async () => {
    const result = await cli('status', 'receipts-1');

    expect(result.code).toBe(0);
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'Nightshift' });
    expect(result.stdout).toMatch(/^status\s+SUCCEEDED$/m);
    expect(result.stdout).toContain(
      `https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${TRIGGERED_ARN}\n`,
    );
    expect(result.stdout).toMatch(/^console\s+https:\/\/us-east-1\.console\.aws\.amazon\.com\//m);
  });

  it('downloads the report from the bucket the stack names', async () => {
    const result = await cli('report', 'receipts-1', '--out', 'r');

    expect(result.code).toBe(0);
    expect(await readFile(join(work, 'r', 'report.html'), 'utf8')).toBe('<p>receipts</p>');
  });

  it('watches a run through the execution its record names, even when the name differs from the run id', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: TRIGGERED_ARN, status: 'SUCCEEDED', startDate: NOW, stopDate: NOW });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });

    const result = await cli('watch', 'receipts-1');

    expect(result.code).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: TRIGGERED_ARN });
  });

  it('watches a run with no record yet through the execution named after it', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: executionArn('just-started'), status: 'SUCCEEDED', startDate: NOW });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });

    const result = await cli('watch', 'just-started');

    expect(result.code).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: executionArn('just-started') });
  });
});
