/** Reading the runs table for `status`, `runs`, `report` and `predictions`. */
import { QueryCommand, type QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { type Clock, systemClock } from '../../shared/ports.ts';
import { RUN_STATUSES, type RunRecord, RunRecordSchema, type RunStatus } from '../../shared/records.ts';
import { RUNS_TABLE } from '../../shared/tables.ts';
import { awsCall, CliFailure } from './cli-errors.ts';
import type { RunData } from './command-context.ts';

/** The run's record, or RUN_NOT_FOUND saying where the CLI looked and how to list what is there. */
export async function getRun(data: RunData, runId: string, clock: Clock = systemClock): Promise<RunRecord> {
  const run = await findRun(data, runId, clock);
  if (!run) {
    throw new CliFailure(
      'RUN_NOT_FOUND',
      `run "${runId}" not found in table ${data.runsTable} (${data.where}): list runs with \`nightshift runs${data.local ? ' --local' : ''}\``,
    );
  }
  return run;
}

/** The run's record, or undefined when there is none. */
export function findRun(data: RunData, runId: string, clock: Clock = systemClock): Promise<RunRecord | undefined> {
  return awsCall(`dynamodb:GetItem on ${data.runsTable}`, () =>
    new DynamoRunStore(data.doc, data.runsTable, clock).get(runId),
  );
}

export interface ListRunsOptions {
  readonly limit: number;
  readonly status?: RunStatus;
}

/** What {@link listRuns} found: the newest runs first, and rows skipped because they are not run records. */
export interface RunListing {
  readonly runs: readonly RunRecord[];
  readonly skipped: number;
}

/**
 * The newest runs first. One status: a Query on the `byStatus` index (status, createdAt), newest first. Every
 * status: the same Query once per status, merged by `createdAt` — a Scan returns rows in hash order, so it would
 * have to read the whole table to find the newest; three bounded Queries read at most `limit` rows each.
 */
export async function listRuns(data: RunData, options: ListRunsOptions): Promise<RunListing> {
  const statuses: readonly RunStatus[] = options.status ? [options.status] : RUN_STATUSES;
  const pages = await Promise.all(statuses.map((status) => newestWithStatus(data, status, options.limit)));
  const runs = pages
    .flatMap((page) => page.runs)
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
    .slice(0, options.limit);
  return { runs, skipped: pages.reduce((sum, page) => sum + page.skipped, 0) };
}

async function newestWithStatus(data: RunData, status: RunStatus, limit: number): Promise<RunListing> {
  const runs: RunRecord[] = [];
  let skipped = 0;
  let startKey: QueryCommandOutput['LastEvaluatedKey'];
  do {
    const page: QueryCommandOutput = await awsCall(`dynamodb:Query on ${data.runsTable}`, () =>
      data.doc.send(
        new QueryCommand({
          TableName: data.runsTable,
          IndexName: RUNS_TABLE.statusIndex.name,
          KeyConditionExpression: '#status = :status',
          ExpressionAttributeNames: { '#status': RUNS_TABLE.statusIndex.partitionKey },
          ExpressionAttributeValues: { ':status': status },
          ScanIndexForward: false,
          Limit: limit - runs.length - skipped,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      ),
    );
    for (const item of page.Items ?? []) {
      const parsed = RunRecordSchema.safeParse(item);
      if (parsed.success) runs.push(parsed.data);
      else skipped += 1;
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey && runs.length + skipped < limit);
  return { runs, skipped };
}
