import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoPredictionStore, partitionOf } from '../../shared/aws/dynamo-prediction-store.ts';
import { PartialWriteError, RetryableError, ServiceError } from '../../shared/errors.ts';
import type { RejectionRecord } from '../../shared/records.ts';
import { PREDICTIONS_TABLE } from '../../shared/tables.ts';

const TABLE = 'predictions';
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const ddb = mockClient(DynamoDBDocumentClient);

function rows(count: number): RejectionRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    runId: 'run-1',
    key: `img-${String(i).padStart(3, '0')}.jpg`,
    outcome: 'REJECTED',
    reason: 'CORRUPT_IMAGE',
    message: 'bad',
    stage: 'preprocess',
    updatedAt: '2026-11-23T00:00:00.000Z',
  }));
}
/** The row as written: with its shard partition (the layout put is answered by the mock, so the default count). */
const put = (row: RejectionRecord) => ({
  PutRequest: { Item: { ...row, partition: partitionOf(row.runId, row.key, PREDICTIONS_TABLE.shards) } },
});

/** Records the backoff delays instead of sleeping; `random` = 1 gives the ceiling of each delay. */
function recordingRuntime() {
  const sleeps: number[] = [];
  return { sleeps, runtime: { sleep: async (ms: number) => void sleeps.push(ms), random: () => 0.999999 } };
}

describe('DynamoPredictionStore retries (aws-sdk-client-mock: the local server never throttles or leaves items unprocessed)', () => {
  afterEach(() => ddb.reset());

  it('writes 60 rows as BatchWriteItem calls of at most 25', async () => {
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });
    const store = new DynamoPredictionStore(doc, TABLE, { concurrency: 2 });
    const input = rows(60);

    await store.put(input);

    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 3);
    expect(ddb).toReceiveCommandWith(BatchWriteCommand, { RequestItems: { [TABLE]: input.slice(0, 25).map(put) } });
    expect(ddb).toReceiveCommandWith(BatchWriteCommand, { RequestItems: { [TABLE]: input.slice(50).map(put) } });
  });

  it('re-sends exactly the UnprocessedItems after a backoff until they are written', async () => {
    const input = rows(5);
    const leftover = input.slice(3).map(put);
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: leftover } })
      .resolves({ UnprocessedItems: {} });
    const { sleeps, runtime } = recordingRuntime();
    const store = new DynamoPredictionStore(doc, TABLE, { runtime });

    await store.put(input);

    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 2);
    expect(ddb).toReceiveNthCommandWith(BatchWriteCommand, 2, { RequestItems: { [TABLE]: leftover } });
    expect(sleeps).toHaveLength(1);
  });

  it('re-sends UnprocessedItems with capped exponential backoff and jitter', async () => {
    const input = rows(2);
    const unprocessed = { UnprocessedItems: { [TABLE]: input.map(put) } };
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce(unprocessed)
      .resolvesOnce(unprocessed)
      .resolvesOnce(unprocessed)
      .resolves({ UnprocessedItems: {} });
    const { sleeps, runtime } = recordingRuntime();
    const store = new DynamoPredictionStore(doc, TABLE, {
      runtime,
      backoff: { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 250 },
    });

    await store.put(input);

    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 4);
    expect(sleeps).toEqual([99, 199, 249]); // ceilings 100, 200, then capped at 250
  });

  it("leaves a throttling error to the SDK client's own retries: one send, then a RetryableError", async () => {
    const throttled = Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
    ddb.on(BatchWriteCommand).rejects(throttled);
    const { sleeps, runtime } = recordingRuntime();
    const store = new DynamoPredictionStore(doc, TABLE, { runtime });

    const attempt = store.put(rows(2));

    await expect(attempt).rejects.toThrow(RetryableError);
    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 1);
    expect(sleeps).toEqual([]);
  });

  it('gives up after the last attempt with a PartialWriteError naming how many rows were not written', async () => {
    const input = rows(30);
    ddb.on(BatchWriteCommand).callsFake((command: { RequestItems: Record<string, unknown[]> }) => {
      const requests = command.RequestItems[TABLE] ?? [];
      return { UnprocessedItems: { [TABLE]: requests.slice(0, 2) } };
    });
    const { runtime } = recordingRuntime();
    const store = new DynamoPredictionStore(doc, TABLE, {
      runtime,
      backoff: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
    });

    const attempt = store.put(input);

    await expect(attempt).rejects.toThrow(PartialWriteError);
    await expect(attempt).rejects.toThrow(/^4 of 30 rows were not written to table predictions after 3 attempts/);
    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 6);
  });

  it('does not retry a caller error such as a missing table', async () => {
    ddb
      .on(BatchWriteCommand)
      .rejects(Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException' }));
    const store = new DynamoPredictionStore(doc, TABLE, { runtime: recordingRuntime().runtime });

    const attempt = store.put(rows(1));

    await expect(attempt).rejects.toThrow(ServiceError);
    await expect(attempt).rejects.toThrow(/writing 1 rows to table predictions failed \(ResourceNotFoundException/);
    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 1);
  });

  it("records a run's shard layout with one conditional put when several puts start at once", async () => {
    ddb.on(PutCommand).resolves({});
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });
    const store = new DynamoPredictionStore(doc, TABLE);
    const input = rows(75);

    await Promise.all([store.put(input.slice(0, 25)), store.put(input.slice(25, 50)), store.put(input.slice(50))]);

    expect(ddb).toReceiveCommandTimes(PutCommand, 1);
    expect(ddb).toReceiveCommandWith(PutCommand, {
      TableName: TABLE,
      Item: { partition: 'run-1', key: PREDICTIONS_TABLE.layoutKey, runId: 'run-1', shards: PREDICTIONS_TABLE.shards },
      ConditionExpression: 'attribute_not_exists(#pk)',
    });
    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 3);
  });

  it('sends a key once per call when the same row is written twice in one batch', async () => {
    ddb.on(BatchWriteCommand).resolves({});
    const [first] = rows(1) as [RejectionRecord];
    const store = new DynamoPredictionStore(doc, TABLE);

    await store.put([first, { ...first, message: 'second wins' }]);

    expect(ddb).toReceiveCommandWith(BatchWriteCommand, {
      RequestItems: { [TABLE]: [put({ ...first, message: 'second wins' })] },
    });
  });
});
