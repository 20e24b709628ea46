import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { PipelineStateError } from '../errors.ts';
import type { Clock, CreateRunResult, RunStore } from '../ports.ts';
import { type RunRecord, RunRecordSchema } from '../records.ts';
import { RUNS_TABLE } from '../tables.ts';
import { toNightshiftError } from './aws-errors.ts';

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
