import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { PipelineStateError } from '../errors.ts';
import type { ClaimRunResult, Clock, CreateRunResult, RunStore } from '../ports.ts';
import { type RunRecord, RunRecordSchema } from '../records.ts';
import { RUNS_TABLE } from '../tables.ts';
import { toNightshiftError } from './aws-errors.ts';

/** Runs of the index read at most when looking for the previous run of a dataset. */
export const PREVIOUS_RUN_SCAN_LIMIT = 1000;

/** {@link RunStore} over a DynamoDB table keyed by `runId`. */
export class DynamoRunStore implements RunStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock,
  ) {}

  async create(record: RunRecord): Promise<CreateRunResult> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: record,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': RUNS_TABLE.partitionKey },
        }),
      );
      return { created: true };
    } catch (error) {
      if (
        !(error instanceof ConditionalCheckFailedException) &&
        (error as Error).name !== 'ConditionalCheckFailedException'
      ) {
        throw toNightshiftError(error, `creating run "${record.runId}" in table ${this.tableName}`);
      }
    }
    const existing = await this.get(record.runId);
    if (!existing) throw new PipelineStateError(`run "${record.runId}" existed a moment ago and is now gone`);
    return { created: false, existing };
  }

  /**
   * One UpdateItem whose ConditionExpression names the owning execution: DynamoDB applies a write only when its
   * condition evaluates to true, and fails it with ConditionalCheckFailedException otherwise
   * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.SpecifyingConditions.html), so of
   * two executions that read the run as ended at the same moment, only the first to write takes it over. The
   * owner is `$$.Execution.Id`, which a redrive keeps ("Redriven executions use the same ... execution ARN",
   * RedriveExecution API), so a redriven plan claims its own run again.
   */
  async claim(
    runId: string,
    owner: { readonly executionId: string; readonly settingsHash: string },
  ): Promise<ClaimRunResult> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [RUNS_TABLE.partitionKey]: runId },
          UpdateExpression:
            'SET #status = :running, #execution = :execution, #updated = :now REMOVE #finished, #error, #failedAttempt',
          ConditionExpression:
            'attribute_exists(#pk) AND #hash = :hash AND (#status <> :running OR #execution = :execution)',
          ExpressionAttributeNames: {
            '#pk': RUNS_TABLE.partitionKey,
            '#status': 'status',
            '#execution': 'executionId',
            '#updated': 'updatedAt',
            '#finished': 'finishedAt',
            '#error': 'error',
            '#failedAttempt': 'failedAttempt',
            '#hash': 'settingsHash',
          },
          ExpressionAttributeValues: {
            ':running': 'RUNNING',
            ':execution': owner.executionId,
            ':now': this.clock.now().toISOString(),
            ':hash': owner.settingsHash,
          },
        }),
      );
      return { claimed: true };
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') {
        throw toNightshiftError(error, `claiming run "${runId}" in table ${this.tableName}`);
      }
    }
    const existing = await this.get(runId);
    if (!existing) {
      throw new PipelineStateError(`run "${runId}" does not exist in table ${this.tableName}; the plan creates it`);
    }
    return { claimed: false, existing };
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { [RUNS_TABLE.partitionKey]: runId }, ConsistentRead: true }),
      );
      item = out.Item;
    } catch (error) {
      throw toNightshiftError(error, `reading run "${runId}" from table ${this.tableName}`);
    }
    if (!item) return undefined;
    const parsed = RunRecordSchema.safeParse(item);
    if (!parsed.success) {
      throw new PipelineStateError(
        `run "${runId}" in table ${this.tableName} is not a run record: ${parsed.error.message}`,
      );
    }
    return parsed.data;
  }

  /**
   * Reads the `byStatus` index (SUCCEEDED, createdAt before this run's), newest first, and filters on the dataset.
   * A filter expression is applied after the Query has read its page, and may not name key attributes
   * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.FilterExpression.html), so the run id
   * is compared here, and at most {@link PREVIOUS_RUN_SCAN_LIMIT} newer runs of other datasets are read.
   */
  async previousRun(run: Pick<RunRecord, 'runId' | 'dataset' | 'createdAt'>): Promise<RunRecord | undefined> {
    let startKey: QueryCommandOutput['LastEvaluatedKey'];
    let read = 0;
    do {
      let page: QueryCommandOutput;
      try {
        page = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: RUNS_TABLE.statusIndex.name,
            KeyConditionExpression: '#status = :status AND #created < :created',
            FilterExpression: '#dataset = :dataset',
            ExpressionAttributeNames: {
              '#status': RUNS_TABLE.statusIndex.partitionKey,
              '#created': RUNS_TABLE.statusIndex.sortKey,
              '#dataset': 'dataset',
            },
            ExpressionAttributeValues: {
              ':status': 'SUCCEEDED',
              ':created': run.createdAt,
              ':dataset': run.dataset,
            },
            ScanIndexForward: false,
            Limit: 100,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
      } catch (error) {
        throw toNightshiftError(error, `finding the run before "${run.runId}" in table ${this.tableName}`);
      }
      read += page.ScannedCount ?? 0;
      for (const item of page.Items ?? []) {
        const parsed = RunRecordSchema.safeParse(item);
        if (parsed.success && parsed.data.runId !== run.runId) return parsed.data;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey && read < PREVIOUS_RUN_SCAN_LIMIT);
    return undefined;
  }

  async update(runId: string, changes: Partial<Omit<RunRecord, 'runId'>>): Promise<void> {
    const entries = Object.entries({ ...changes, updatedAt: this.clock.now().toISOString() }).filter(
      ([, value]) => value !== undefined,
    );
    const names: Record<string, string> = { '#pk': RUNS_TABLE.partitionKey };
    const values: Record<string, unknown> = {};
    const sets = entries.map(([name, value], index) => {
      names[`#a${index}`] = name;
      values[`:v${index}`] = value;
      return `#a${index} = :v${index}`;
    });
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [RUNS_TABLE.partitionKey]: runId },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') {
        throw new PipelineStateError(
          `run "${runId}" does not exist in table ${this.tableName}; it is created by the plan stage`,
        );
      }
      throw toNightshiftError(error, `updating run "${runId}" in table ${this.tableName}`);
    }
  }
}
