import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  paginateQuery,
} from '@aws-sdk/lib-dynamodb';
import pLimit from 'p-limit';
import { type BackoffPolicy, type BackoffRuntime, realBackoffRuntime } from '../backoff.ts';
import { PartialWriteError, RetryableError } from '../errors.ts';
import type { PredictionStore } from '../ports.ts';
import type { OutcomeRecord } from '../records.ts';
import { BATCH_GET_LIMIT, BATCH_WRITE_LIMIT, PREDICTIONS_TABLE } from '../tables.ts';
import { toNightshiftError } from './aws-errors.ts';
import { sendUntilProcessed } from './unprocessed-retry.ts';

export interface DynamoPredictionStoreOptions {
  /** BatchWriteItem calls in flight at once. @default 4 */
  readonly concurrency?: number;
  /**
   * Calls per batch while DynamoDB leaves requests unprocessed (`UnprocessedItems`/`UnprocessedKeys`); errors are
   * retried by the SDK client (see {@link sendUntilProcessed}). @default 8 attempts, 50 ms base, 3 s cap
   */
  readonly backoff?: BackoffPolicy;
  readonly runtime?: BackoffRuntime;
}

type WriteRequest =
  | { PutRequest: { Item: Record<string, unknown> } }
  | { DeleteRequest: { Key: Record<string, unknown> } };

const DEFAULT_BACKOFF: BackoffPolicy = { maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 3000 };

/**
 * {@link PredictionStore} over a DynamoDB table keyed by (`runId`, `key`).
 *
 * Writes use BatchWriteItem, not transactions: each row is idempotent (a re-run overwrites the same key), and the
 * local DynamoDB server has no TransactWriteItems.
 */
export class DynamoPredictionStore implements PredictionStore {
  private readonly concurrency: number;
  private readonly backoff: BackoffPolicy;
  private readonly runtime: BackoffRuntime;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: DynamoPredictionStoreOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 4;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.runtime = options.runtime ?? realBackoffRuntime;
  }

  async put(records: readonly OutcomeRecord[]): Promise<void> {
    // One call may not name the same key twice; the last record for a key wins, as it would with sequential puts.
    const byKey = new Map<string, OutcomeRecord>();
    for (const record of records) byKey.set(`${record.runId}\u0000${record.key}`, record);
    const unique = [...byKey.values()];
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < unique.length; i += BATCH_WRITE_LIMIT) {
      chunks.push(
        unique.slice(i, i + BATCH_WRITE_LIMIT).map((record) => ({ PutRequest: { Item: stripUndefined(record) } })),
      );
    }
    const limit = pLimit(this.concurrency);
    const leftovers = await Promise.all(chunks.map((chunk) => limit(() => this.writeChunk(chunk))));
    const unwritten = leftovers.reduce((sum, n) => sum + n, 0);
    if (unwritten > 0) {
      throw new PartialWriteError(
        `${unwritten} of ${unique.length} rows were not written to table ${this.tableName} after ` +
          `${this.backoff.maxAttempts} attempts (left unprocessed by DynamoDB); the stage can be retried safely`,
        { details: { unwritten, total: unique.length, table: this.tableName } },
      );
    }
  }

  /** Writes one chunk; returns how many of its items stayed unprocessed. */
  private async writeChunk(chunk: WriteRequest[]): Promise<number> {
    const unwritten = await sendUntilProcessed(
      chunk,
      async (pending) => {
        try {
          const out = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
          return (out.UnprocessedItems?.[this.tableName] ?? []) as WriteRequest[];
        } catch (error) {
          throw toNightshiftError(error, `writing ${pending.length} rows to table ${this.tableName}`);
        }
      },
      this.backoff,
      this.runtime,
    );
    return unwritten.length;
  }

  async deleteRun(runId: string): Promise<number> {
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :runId',
        ProjectionExpression: '#pk, #sk',
        ExpressionAttributeNames: { '#pk': PREDICTIONS_TABLE.partitionKey, '#sk': PREDICTIONS_TABLE.sortKey },
        ExpressionAttributeValues: { ':runId': runId },
      },
    );
    let deleted = 0;
    try {
      for await (const page of pages) {
        const keys = (page.Items ?? []).map((item) => ({ DeleteRequest: { Key: item } }));
        const chunks: WriteRequest[][] = [];
        for (let i = 0; i < keys.length; i += BATCH_WRITE_LIMIT) chunks.push(keys.slice(i, i + BATCH_WRITE_LIMIT));
        const limit = pLimit(this.concurrency);
        const leftovers = await Promise.all(chunks.map((chunk) => limit(() => this.writeChunk(chunk))));
        const unwritten = leftovers.reduce((sum, n) => sum + n, 0);
        if (unwritten > 0) {
          throw new PartialWriteError(
            `${unwritten} rows of run "${runId}" could not be deleted from ${this.tableName}`,
          );
        }
        deleted += keys.length;
      }
    } catch (error) {
      throw toNightshiftError(error, `deleting the rows of run "${runId}" from table ${this.tableName}`);
    }
    return deleted;
  }

  async *list(runId: string, options: { readonly keyPrefix?: string } = {}): AsyncIterable<OutcomeRecord> {
    const names: Record<string, string> = { '#pk': PREDICTIONS_TABLE.partitionKey };
    const values: Record<string, unknown> = { ':runId': runId };
    let condition = '#pk = :runId';
    if (options.keyPrefix) {
      names['#sk'] = PREDICTIONS_TABLE.sortKey;
      values[':prefix'] = options.keyPrefix;
      condition += ' AND begins_with(#sk, :prefix)';
    }
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
    );
    try {
      for await (const page of pages) {
        for (const item of page.Items ?? []) yield item as OutcomeRecord;
      }
    } catch (error) {
      throw toNightshiftError(error, `reading the rows of run "${runId}" from table ${this.tableName}`);
    }
  }

  async existing(runId: string, keys: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += BATCH_GET_LIMIT) {
      const keysOfChunk: Record<string, unknown>[] = unique
        .slice(i, i + BATCH_GET_LIMIT)
        .map((key) => ({ [PREDICTIONS_TABLE.partitionKey]: runId, [PREDICTIONS_TABLE.sortKey]: key }));
      const unread = await sendUntilProcessed(
        keysOfChunk,
        async (pending) => {
          let out: BatchGetCommandOutput;
          try {
            out = await this.client.send(
              new BatchGetCommand({
                RequestItems: {
                  [this.tableName]: {
                    Keys: pending,
                    ProjectionExpression: '#sk',
                    ExpressionAttributeNames: { '#sk': PREDICTIONS_TABLE.sortKey },
                  },
                },
              }),
            );
          } catch (error) {
            throw toNightshiftError(error, `reading ${pending.length} keys from table ${this.tableName}`);
          }
          for (const item of out.Responses?.[this.tableName] ?? []) found.add(String(item[PREDICTIONS_TABLE.sortKey]));
          return (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
        },
        this.backoff,
        this.runtime,
      );
      if (unread.length > 0) {
        throw new RetryableError(`${unread.length} keys stayed unprocessed reading table ${this.tableName}`);
      }
    }
    return found;
  }
}

function stripUndefined(record: OutcomeRecord): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}
