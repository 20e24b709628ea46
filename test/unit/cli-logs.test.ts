import { CloudFormationClient, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, GetQueryResultsCommand, StartQueryCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { renderLogLine } from '../../pipeline/cli/commands/logs.ts';
import { painter } from '../../pipeline/cli/output.ts';
import { queryRunLogs } from '../../pipeline/cli/run-logs.ts';
import { stageLogLine } from '../../pipeline/run-backend/run-backend.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import type { RunRecord } from '../../shared/records.ts';
import { SteppingClock } from '../helpers/cli-harness.ts';

// Logs Insights and the stack's resource list exist only on AWS: no local server answers them.
const logs = mockClient(CloudWatchLogsClient);
const cloudFormation = mockClient(CloudFormationClient);

const RUN: RunRecord = {
  runId: 'nightly-2026-11-23',
  status: 'FAILED',
  dataset: 's3://b/datasets/',
  settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
  settingsHash: 'h',
  createdAt: '2026-11-23T02:00:00.000Z',
  updatedAt: '2026-11-23T02:10:00.000Z',
  finishedAt: '2026-11-23T02:10:00.000Z',
};
const LINE = {
  level: 'WARN',
  message: 'rejected',
  timestamp: '2026-11-23T02:00:05.000Z',
  service: 'nightshift',
  stage: 'plan',
  runId: RUN.runId,
  reason: 'UNSUPPORTED_TYPE',
};

describe('nightshift logs on AWS (aws-sdk-client-mock: Logs Insights and ListStackResources exist only on AWS)', () => {
  afterEach(() => {
    logs.reset();
    cloudFormation.reset();
  });

  it("queries the stack's log groups over the run's time range for lines with its run id", async () => {
    cloudFormation
      .on(ListStackResourcesCommand, { StackName: 'Nightshift' })
      .resolvesOnce({
        StackResourceSummaries: [
          {
            LogicalResourceId: 'PlanLogs',
            ResourceType: 'AWS::Logs::LogGroup',
            PhysicalResourceId: 'Nightshift-PlanLogs-1',
            ResourceStatus: 'CREATE_COMPLETE',
            LastUpdatedTimestamp: new Date(),
          },
          {
            LogicalResourceId: 'Bucket',
            ResourceType: 'AWS::S3::Bucket',
            PhysicalResourceId: 'bucket',
            ResourceStatus: 'CREATE_COMPLETE',
            LastUpdatedTimestamp: new Date(),
          },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        StackResourceSummaries: [
          {
            LogicalResourceId: 'PreprocessLogs',
            ResourceType: 'AWS::Logs::LogGroup',
            PhysicalResourceId: 'Nightshift-PreprocessLogs-2',
            ResourceStatus: 'CREATE_COMPLETE',
            LastUpdatedTimestamp: new Date(),
          },
        ],
      });
    logs.on(StartQueryCommand).resolves({ queryId: 'q-1' });
    logs
      .on(GetQueryResultsCommand)
      .resolvesOnce({ status: 'Running' })
      .resolves({
        status: 'Complete',
        results: [
          [
            { field: '@timestamp', value: '2026-11-23 02:00:05.000' },
            { field: '@message', value: JSON.stringify(LINE) },
          ],
        ],
      });
    const clock = new SteppingClock('2026-11-23T03:00:00Z');

    const lines = await queryRunLogs({
      logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
      cloudFormation: new CloudFormationClient({ region: 'us-east-1' }),
      stackName: 'Nightshift',
      run: RUN,
      now: clock.now(),
      sleep: clock.sleep,
    });

    expect(logs).toHaveReceivedCommandWith(StartQueryCommand, {
      logGroupNames: ['Nightshift-PlanLogs-1', 'Nightshift-PreprocessLogs-2'],
      startTime: Date.parse('2026-11-23T02:00:00Z') / 1000 - 300,
      endTime: Date.parse('2026-11-23T02:10:00Z') / 1000 + 300,
      queryString:
        'fields @timestamp, @message | filter runId = "nightly-2026-11-23" | sort @timestamp asc | limit 10000',
      limit: 10_000,
    });
    expect(logs).toHaveReceivedCommandWith(GetQueryResultsCommand, { queryId: 'q-1' });
    expect(clock.sleeps).toEqual([500]);
    expect(lines).toEqual([stageLogLine(LINE)]);
  });

  it('says which query failed when Logs Insights ends it', async () => {
    cloudFormation.on(ListStackResourcesCommand).resolves({
      StackResourceSummaries: [
        {
          LogicalResourceId: 'PlanLogs',
          ResourceType: 'AWS::Logs::LogGroup',
          PhysicalResourceId: 'g',
          ResourceStatus: 'CREATE_COMPLETE',
          LastUpdatedTimestamp: new Date(),
        },
      ],
    });
    logs.on(StartQueryCommand).resolves({ queryId: 'q-2' });
    logs.on(GetQueryResultsCommand).resolves({ status: 'Failed' });
    const clock = new SteppingClock('2026-11-23T03:00:00Z');

    await expect(
      queryRunLogs({
        logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
        cloudFormation: new CloudFormationClient({ region: 'us-east-1' }),
        stackName: 'Nightshift',
        run: RUN,
        now: clock.now(),
        sleep: clock.sleep,
      }),
    ).rejects.toThrow('the Logs Insights query q-2 for run nightly-2026-11-23 ended Failed');
  });
});

describe('a stage log line for people', () => {
  it('shows time, level, stage, message and the line’s own fields, escaping control characters', () => {
    const line = stageLogLine({ ...LINE, key: 'a\u001b[2Jb.png' });

    expect(renderLogLine(line as NonNullable<typeof line>, painter({ isTTY: false, env: {} }))).toBe(
      '2026-11-23T02:00:05.000Z  WARN   plan        rejected  reason=UNSUPPORTED_TYPE  key=a\\x1b[2Jb.png',
    );
  });
});
