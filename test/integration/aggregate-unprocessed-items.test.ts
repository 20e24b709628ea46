import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchWriteCommand, type BatchWriteCommandInput, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { PartialWriteError } from '../../shared/errors.ts';
import { runLayout } from '../../shared/layout.ts';
import { silentLog } from '../../shared/logging.ts';
import type { AggregateBatch } from '../../shared/stage-events.ts';
import { runAggregate } from '../../stages/aggregate/aggregate.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

const PIPELINE = 'aggregate-unprocessed';
const TABLE = 'predictions';
const ROWS = 60;
const ddb = mockClient(DynamoDBDocumentClient);
const geometry = {
  originalWidth: 100,
  originalHeight: 100,
  width: 100,
  height: 100,
  scaleX: 1,
  scaleY: 1,
  offsetX: 0,
  offsetY: 0,
};

type WriteRequest = { PutRequest: { Item: Record<string, unknown> } };
const keyOf = (request: WriteRequest) => String(request.PutRequest.Item.key);
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('aggregate over the local S3 server, DynamoDB faked in-process (aws-sdk-client-mock): the local DynamoDB server never leaves items unprocessed', () => {
  let aws: LocalAws;
  let event: AggregateBatch;
  let outputKey: string;
  const keys = Array.from({ length: ROWS }, (_, i) => `u-${String(i).padStart(2, '0')}.jpg`);

  beforeAll(async () => {
    aws = await startLocalAws();
    await aws.createBucket(PIPELINE);
    const runId = 'run-unprocessed';
    const key = `${runLayout.transformOutput(runId)}part-000000000.jsonl.out`;
    const lines = keys.map((k, i) =>
      JSON.stringify({ id: i, key: k, bucket: 'data', geometry, SageMakerOutput: { text: 'T', confidence: 0.5 } }),
    );
    await aws.s3.send(
      new PutObjectCommand({
        Bucket: PIPELINE,
        Key: `${runLayout.transformIndex(runId)}part-000000000.json`,
        Body: JSON.stringify(keys.map((k, id) => ({ id, key: k, bucket: 'data' }))),
      }),
    );
    await aws.s3.send(new PutObjectCommand({ Bucket: PIPELINE, Key: key, Body: `${lines.join('\n')}\n` }));
    event = { Items: [{ key }], BatchInput: { runId, pipelineBucket: PIPELINE } };
    outputKey = key;
  });
  afterAll(async () => aws?.stop());
  afterEach(() => ddb.reset());

  function storeWith(backoff: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number }) {
    const sleeps: number[] = [];
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const store = new DynamoPredictionStore(doc, TABLE, {
      backoff,
      runtime: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 },
    });
    return { store, sleeps };
  }

  it('re-sends what each of the concurrent writes left unprocessed until every row is written once', async () => {
    const attempts = new Map<string, number>();
    const written = new Map<string, number>();
    ddb.on(BatchWriteCommand).callsFake((input: BatchWriteCommandInput) => {
      const requests = (input.RequestItems?.[TABLE] ?? []) as WriteRequest[];
      const left: WriteRequest[] = [];
      for (const [i, request] of requests.entries()) {
        const key = keyOf(request);
        attempts.set(key, (attempts.get(key) ?? 0) + 1);
        if (attempts.get(key) === 1 && i % 2 === 0) left.push(request);
        else written.set(key, (written.get(key) ?? 0) + 1);
      }
      return { UnprocessedItems: left.length > 0 ? { [TABLE]: left } : {} };
    });
    const { store, sleeps } = storeWith({ maxAttempts: 8, baseDelayMs: 10, maxDelayMs: 100 });

    const { parts } = await runAggregate(event, {
      objects: new S3ObjectStore(aws.s3),
      predictions: store,
      clock: { now: () => new Date() },
      log: silentLog,
    });

    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ lines: ROWS, predicted: ROWS, rejected: 0 });
    expect([...written.keys()].sort()).toEqual(keys);
    expect([...written.values()].every((times) => times === 1)).toBe(true);
    // Three writes (25, 25 and 10 rows), each re-sending its leftovers once after one backoff.
    expect(ddb).toReceiveCommandTimes(BatchWriteCommand, 6);
    expect(sleeps).toEqual([5, 5, 5]); // half of the first ceiling, 10 ms
  });

  it('fails the part with PartialWriteError when rows stay unprocessed, after every write has ended', async () => {
    let inFlight = 0;
    let inFlightAtFailure: number | undefined;
    ddb.on(BatchWriteCommand).callsFake(async (input: BatchWriteCommandInput) => {
      inFlight += 1;
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return { UnprocessedItems: { [TABLE]: (input.RequestItems?.[TABLE] ?? []).slice(0, 1) } };
    });
    const { store } = storeWith({ maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 });

    const attempt = runAggregate(event, {
      objects: new S3ObjectStore(aws.s3),
      predictions: store,
      clock: { now: () => new Date() },
      log: silentLog,
    }).catch((error: unknown) => {
      inFlightAtFailure = inFlight;
      throw error;
    });

    await expect(attempt).rejects.toThrow(PartialWriteError);
    const inPart = `aggregating s3://${PIPELINE}/${outputKey} (part 1 of 1 in this batch): `;
    await expect(attempt).rejects.toThrow(
      new RegExp(`^${escapeRegExp(inPart)}1 of (25|10) rows were not written to table predictions after 2 attempts`),
    );
    expect(inFlightAtFailure).toBe(0);
  });
});
