import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
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
  /** Shards of a run this store writes first. @default PREDICTIONS_TABLE.shards */
  readonly shards?: number;
}

type WriteRequest =
  | { PutRequest: { Item: Record<string, unknown> } }
  | { DeleteRequest: { Key: Record<string, unknown> } };

const DEFAULT_BACKOFF: BackoffPolicy = { maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 3000 };

/**
 * {@link PredictionStore} over a DynamoDB table keyed by (`<runId>#<shard>`, `key`): see {@link PREDICTIONS_TABLE}
 * for the shard layout. Callers see rows as before (`runId`, `key`, ...); the partition attribute stays inside.
 *
 * Writes use BatchWriteItem, not transactions: each row is idempotent (a re-run overwrites the same key), and the
 * local DynamoDB server has no TransactWriteItems.
 */
export class DynamoPredictionStore implements PredictionStore {
  private readonly concurrency: number;
  private readonly backoff: BackoffPolicy;
  private readonly runtime: BackoffRuntime;
  private readonly shards: number;
  /** Shard counts of runs already known (only positive answers are kept: a run may get its first row later). */
  private readonly layouts = new Map<string, number>();
  /** Layout writes under way, by run id. */
  private readonly layoutWrites = new Map<string, Promise<number>>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: DynamoPredictionStoreOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 4;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.runtime = options.runtime ?? realBackoffRuntime;
    this.shards = options.shards ?? PREDICTIONS_TABLE.shards;
  }

  /**
   * The run's shard count for a writer: records this store's count unless the run has one already (a conditional
   * put, so concurrent first writers agree on whichever landed first). Puts in flight at once share one request.
   */
  private writeLayout(runId: string): Promise<number> {
    const known = this.layouts.get(runId);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.layoutWrites.get(runId);
    if (pending === undefined) {
      pending = this.recordLayout(runId).finally(() => this.layoutWrites.delete(runId));
      this.layoutWrites.set(runId, pending);
    }
    return pending;
  }

  private async recordLayout(runId: string): Promise<number> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: layoutRow(runId, this.shards),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PREDICTIONS_TABLE.partitionKey },
        }),
      );
      this.layouts.set(runId, this.shards);
      return this.shards;
    } catch (error) {
      if (
        !(error instanceof ConditionalCheckFailedException) &&
        (error as Error).name !== 'ConditionalCheckFailedException'
      ) {
        throw toNightshiftError(error, `recording the shard layout of run "${runId}" in table ${this.tableName}`);
      }
      return this.readLayout(runId);
    }
  }

  /** The run's shard count for a reader; 0 when the run has no layout row (its rows, if any, are in `<runId>`). */
  private async readLayout(runId: string): Promise<number> {
    const known = this.layouts.get(runId);
    if (known !== undefined) return known;
    let shards: number;
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { [PREDICTIONS_TABLE.partitionKey]: runId, [PREDICTIONS_TABLE.sortKey]: PREDICTIONS_TABLE.layoutKey },
          ConsistentRead: true,
        }),
      );
      shards = Number(out.Item?.shards ?? 0);
    } catch (error) {
      throw toNightshiftError(error, `reading the shard layout of run "${runId}" from table ${this.tableName}`);
    }
    if (shards > 0) this.layouts.set(runId, shards);
    return shards;
  }

  async put(records: readonly OutcomeRecord[]): Promise<void> {
    // One call may not name the same key twice; the last record for a key wins, as it would with sequential puts.
    const byKey = new Map<string, OutcomeRecord>();
    for (const record of records) byKey.set(`${record.runId}\u0000${record.key}`, record);
    const unique = [...byKey.values()];
    const shardsOf = new Map<string, number>();
    for (const runId of new Set(unique.map((record) => record.runId))) {
      shardsOf.set(runId, await this.writeLayout(runId));
    }
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < unique.length; i += BATCH_WRITE_LIMIT) {
      chunks.push(
        unique.slice(i, i + BATCH_WRITE_LIMIT).map((record) => ({
          PutRequest: {
            Item: {
              ...stripUndefined(record),
              [PREDICTIONS_TABLE.partitionKey]: partitionOf(record.runId, record.key, shardsOf.get(record.runId) ?? 0),
            },
          },
        })),
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

  /**
   * Deletes every row of the run, all shards at once (one Query per shard, BatchWriteItem deletes with at most
   * `4 x concurrency` calls in flight), then its layout row, so an interrupted delete can simply be repeated.
   * At a million rows that is 40,000 BatchWriteItem calls spread over 16 partitions: about a minute at 25 ms a
   * call, far inside the plan Lambda's 15 minutes (docs/decisions.md, "Prediction shards").
   */
  async deleteRun(runId: string): Promise<number> {
    this.layouts.delete(runId);
    const shards = await this.readLayout(runId);
    this.layouts.delete(runId);
    const limit = pLimit(this.concurrency * 4);
    try {
      const counts = await Promise.all(
        partitionsOf(runId, shards).map((partition) => this.deletePartition(partition, runId, limit)),
      );
      if (shards > 0) {
        const layout = {
          [PREDICTIONS_TABLE.partitionKey]: runId,
          [PREDICTIONS_TABLE.sortKey]: PREDICTIONS_TABLE.layoutKey,
        };
        if ((await this.writeChunk([{ DeleteRequest: { Key: layout } }])) > 0) {
          throw new PartialWriteError(`the layout row of run "${runId}" could not be deleted from ${this.tableName}`);
        }
      }
      return counts.reduce((sum, n) => sum + n, 0);
    } catch (error) {
      throw toNightshiftError(error, `deleting the rows of run "${runId}" from table ${this.tableName}`);
    }
  }

  private async deletePartition(partition: string, runId: string, limit: ReturnType<typeof pLimit>): Promise<number> {
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        ProjectionExpression: '#pk, #sk',
        ExpressionAttributeNames: { '#pk': PREDICTIONS_TABLE.partitionKey, '#sk': PREDICTIONS_TABLE.sortKey },
        ExpressionAttributeValues: { ':pk': partition },
      },
    );
    let deleted = 0;
    for await (const page of pages) {
      const keys = (page.Items ?? [])
        .filter((item) => item[PREDICTIONS_TABLE.sortKey] !== PREDICTIONS_TABLE.layoutKey)
        .map((item) => ({ DeleteRequest: { Key: item } }));
      const chunks: WriteRequest[][] = [];
      for (let i = 0; i < keys.length; i += BATCH_WRITE_LIMIT) chunks.push(keys.slice(i, i + BATCH_WRITE_LIMIT));
      const leftovers = await Promise.all(chunks.map((chunk) => limit(() => this.writeChunk(chunk))));
      const unwritten = leftovers.reduce((sum, n) => sum + n, 0);
      if (unwritten > 0) {
        throw new PartialWriteError(`${unwritten} rows of run "${runId}" could not be deleted from ${this.tableName}`);
      }
      deleted += keys.length;
    }
    return deleted;
  }

  /** Every row of a run in key order: the shards' queries (each in key order) merged. */
  async *list(runId: string, options: { readonly keyPrefix?: string } = {}): AsyncIterable<OutcomeRecord> {
    const shards = await this.readLayout(runId);
    const streams = partitionsOf(runId, shards).map((partition) =>
      this.queryPartition(partition, runId, options.keyPrefix)[Symbol.asyncIterator](),
    );
    const heads = await Promise.all(streams.map((stream) => stream.next()));
    for (;;) {
      let next = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head === undefined || head.done) continue;
        const best = next < 0 ? undefined : heads[next];
        if (best === undefined || best.done || head.value.key < best.value.key) next = i;
      }
      const chosen = next < 0 ? undefined : heads[next];
      const stream = next < 0 ? undefined : streams[next];
      if (chosen === undefined || chosen.done || stream === undefined) return;
      yield chosen.value;
      heads[next] = await stream.next();
    }
  }

  private async *queryPartition(partition: string, runId: string, keyPrefix?: string): AsyncIterable<OutcomeRecord> {
    const names: Record<string, string> = { '#pk': PREDICTIONS_TABLE.partitionKey };
    const values: Record<string, unknown> = { ':pk': partition };
    let condition = '#pk = :pk';
    if (keyPrefix) {
      names['#sk'] = PREDICTIONS_TABLE.sortKey;
      values[':prefix'] = keyPrefix;
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
        for (const item of page.Items ?? []) {
          if (item[PREDICTIONS_TABLE.sortKey] === PREDICTIONS_TABLE.layoutKey) continue;
          const { [PREDICTIONS_TABLE.partitionKey]: _partition, ...row } = item;
          yield row as OutcomeRecord;
        }
      }
    } catch (error) {
      throw toNightshiftError(error, `reading the rows of run "${runId}" from table ${this.tableName}`);
    }
  }

  async existing(runId: string, keys: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const unique = [...new Set(keys)];
    const shards = unique.length > 0 ? await this.readLayout(runId) : 0;
    for (let i = 0; i < unique.length; i += BATCH_GET_LIMIT) {
      const keysOfChunk: Record<string, unknown>[] = unique.slice(i, i + BATCH_GET_LIMIT).map((key) => ({
        [PREDICTIONS_TABLE.partitionKey]: partitionOf(runId, key, shards),
        [PREDICTIONS_TABLE.sortKey]: key,
      }));
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

function layoutRow(runId: string, shards: number): Record<string, unknown> {
  return {
    [PREDICTIONS_TABLE.partitionKey]: runId,
    [PREDICTIONS_TABLE.sortKey]: PREDICTIONS_TABLE.layoutKey,
    runId,
    shards,
  };
}

/** The partition of a row: `<runId>#<n>` with n from the key's FNV-1a hash, or `<runId>` for an unsharded run. */
export function partitionOf(runId: string, key: string, shards: number): string {
  if (shards <= 0) return runId;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return `${runId}#${(hash >>> 0) % shards}`;
}

/** Every partition a run's rows may be in. Run ids cannot contain `#`, so no run's partition is another's. */
function partitionsOf(runId: string, shards: number): string[] {
  return shards > 0 ? Array.from({ length: shards }, (_, n) => `${runId}#${n}`) : [runId];
}

function stripUndefined(record: OutcomeRecord): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}
