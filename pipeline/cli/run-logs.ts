/**
 * `nightshift logs RUN` on AWS: one CloudWatch Logs Insights query over the stack's log groups for the lines that
 * carry the run id (every stage logs Powertools JSON with `runId`, shared/logging.ts).
 *
 * - The log groups come from the stack's resources (ListStackResources, paginated; DescribeStackResources returns
 *   only the first 100: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html).
 * - StartQuery takes up to 50 `logGroupNames`, `startTime`/`endTime` in epoch seconds (inclusive) and the query
 *   string; results come from GetQueryResults by `queryId` once its status is `Complete`
 *   (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html). Logs Insights
 *   discovers the fields of JSON log lines, so `filter runId = "..."` matches our field
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html).
 */
import { type CloudFormationClient, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import {
  type CloudWatchLogsClient,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  StartQueryCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import type { RunRecord } from '../../shared/records.ts';
import { awsCall, CliFailure } from '../run-backend/failures.ts';
import { type StageLogLine, stageLogLine } from '../run-backend/run-backend.ts';

/** StartQuery's `logGroupNames` holds at most 50 names. */
const MAX_LOG_GROUPS = 50;
/** The most lines one query returns: a run's stage lines are a few per batch. */
export const MAX_LOG_LINES = 10_000;
/** Lines are written a little before the run record says it started and after it says it ended. */
const MARGIN_SECONDS = 300;
const FINAL_QUERY_STATUSES = new Set(['Complete', 'Failed', 'Cancelled', 'Timeout', 'Unknown']);

export interface RunLogsQuery {
  readonly logs: CloudWatchLogsClient;
  readonly cloudFormation: CloudFormationClient;
  readonly stackName: string;
  readonly run: RunRecord;
  readonly now: Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** Give up waiting for the query after this long. @default 120 s */
  readonly timeoutMs?: number;
}

/** The Logs Insights query for one run's stage lines, oldest first. */
export function runLogsQueryString(runId: string): string {
  return [
    'fields @timestamp, @message',
    `filter runId = ${JSON.stringify(runId)}`,
    'sort @timestamp asc',
    `limit ${MAX_LOG_LINES}`,
  ].join(' | ');
}

/** Queries the stack's log groups for the run's lines. */
export async function queryRunLogs(query: RunLogsQuery): Promise<StageLogLine[]> {
  const groups = await stackLogGroups(query.cloudFormation, query.stackName);
  if (groups.length === 0) {
    throw new CliFailure('NO_LOGS', `stack ${query.stackName} has no log groups: deploy the current stack`);
  }
  const start = Math.floor(new Date(query.run.createdAt).getTime() / 1000) - MARGIN_SECONDS;
  const end = Math.ceil((query.run.finishedAt ? new Date(query.run.finishedAt) : query.now).getTime() / 1000);
  const started = await awsCall('logs:StartQuery', () =>
    query.logs.send(
      new StartQueryCommand({
        logGroupNames: groups.slice(0, MAX_LOG_GROUPS),
        startTime: start,
        endTime: end + MARGIN_SECONDS,
        queryString: runLogsQueryString(query.run.runId),
        limit: MAX_LOG_LINES,
      }),
    ),
  );
  const queryId = started.queryId as string;
  const deadline = query.now.getTime() + (query.timeoutMs ?? 120_000);
  let waited = query.now.getTime();
  let delay = 500;
  for (;;) {
    const out: GetQueryResultsCommandOutput = await awsCall('logs:GetQueryResults', () =>
      query.logs.send(new GetQueryResultsCommand({ queryId })),
    );
    const status = out.status ?? 'Unknown';
    if (status === 'Complete') return (out.results ?? []).flatMap((row) => lineOf(row));
    if (FINAL_QUERY_STATUSES.has(status)) {
      throw new CliFailure('NO_LOGS', `the Logs Insights query ${queryId} for run ${query.run.runId} ended ${status}`);
    }
    if (waited + delay > deadline) {
      throw new CliFailure(
        'NO_LOGS',
        `the Logs Insights query ${queryId} for run ${query.run.runId} is still ${status}: try again, or open it in the CloudWatch console`,
      );
    }
    await query.sleep(delay);
    waited += delay;
    delay = Math.min(delay * 2, 5000);
  }
}

async function stackLogGroups(cloudFormation: CloudFormationClient, stackName: string): Promise<string[]> {
  const groups: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await awsCall('cloudformation:ListStackResources', () =>
      cloudFormation.send(
        new ListStackResourcesCommand({ StackName: stackName, ...(nextToken ? { NextToken: nextToken } : {}) }),
      ),
    );
    for (const resource of page.StackResourceSummaries ?? []) {
      if (resource.ResourceType === 'AWS::Logs::LogGroup' && resource.PhysicalResourceId) {
        groups.push(resource.PhysicalResourceId);
      }
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return groups;
}

/** One result row (`[{field, value}]`) as a stage line, from its `@message`. */
function lineOf(row: readonly { field?: string; value?: string }[]): StageLogLine[] {
  const message = row.find((cell) => cell.field === '@message')?.value;
  if (message === undefined) return [];
  try {
    const line = stageLogLine(JSON.parse(message));
    return line ? [line] : [];
  } catch {
    return [];
  }
}
