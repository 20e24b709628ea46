import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPredictionStore, partitionOf } from '../../shared/aws/dynamo-prediction-store.ts';
import type { RejectionRecord } from '../../shared/records.ts';
import { PREDICTIONS_TABLE } from '../../shared/tables.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

function rows(runId: string, count: number): RejectionRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    runId,
    key: `images/${String(i).padStart(4, '0')}.png`,
    outcome: 'REJECTED',
    reason: 'CORRUPT_IMAGE',
    message: 'bad',
    stage: 'preprocess',
    updatedAt: '2026-12-01T00:00:00.000Z',
  }));
}

describe('prediction rows sharded over partitions (local DynamoDB server)', () => {
  let aws: LocalAws;
  let table: string;

  beforeAll(async () => {
    aws = await startLocalAws();
    table = (await aws.createTables()).predictionsTable;
  }, 60_000);
  afterAll(async () => aws?.stop());

  it('spreads a run over its shards, records the count, and reads every row once in key order', async () => {
    const store = new DynamoPredictionStore(aws.doc, table, { shards: 8 });
    const written = rows('run-a', 300);

    await store.put(written);
    const listed = [];
    for await (const row of store.list('run-a')) listed.push(row);

    expect(listed.map((row) => row.key)).toEqual(written.map((row) => row.key));
    expect(listed[0]).toEqual(written[0]);
    const layout = await aws.doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': PREDICTIONS_TABLE.partitionKey },
        ExpressionAttributeValues: { ':pk': 'run-a' },
      }),
    );
    expect(layout.Items).toEqual([expect.objectContaining({ key: PREDICTIONS_TABLE.layoutKey, shards: 8 })]);
    const perShard = await Promise.all(
      Array.from({ length: 8 }, async (_, n) => {
        const out = await aws.doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': PREDICTIONS_TABLE.partitionKey },
            ExpressionAttributeValues: { ':pk': `run-a#${n}` },
            Select: 'COUNT',
          }),
        );
        return out.Count ?? 0;
      }),
    );
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(300);
    expect(Math.min(...perShard)).toBeGreaterThan(10);
  });

  it('keeps the shard count a run started with when a later writer defaults to another', async () => {
    await new DynamoPredictionStore(aws.doc, table, { shards: 4 }).put(rows('run-b', 40).slice(0, 20));
    await new DynamoPredictionStore(aws.doc, table, { shards: 16 }).put(rows('run-b', 40).slice(20));

    const reader = new DynamoPredictionStore(aws.doc, table);
    const keys = [];
    for await (const row of reader.list('run-b', { keyPrefix: 'images/003' })) keys.push(row.key);
    const existing = await reader.existing('run-b', ['images/0001.png', 'images/0039.png', 'images/9999.png']);

    expect(keys).toEqual(Array.from({ length: 10 }, (_, i) => `images/003${i}.png`));
    expect([...existing].sort()).toEqual(['images/0001.png', 'images/0039.png']);
    expect(partitionOf('run-b', 'images/0039.png', 4)).toMatch(/^run-b#[0-3]$/);
  });

  it('deletes every row of every shard and the layout, then starts the re-run afresh', async () => {
    const store = new DynamoPredictionStore(aws.doc, table, { shards: 8 });
    await store.put(rows('run-c', 120));

    const deleted = await store.deleteRun('run-c');
    const after = [];
    for await (const row of store.list('run-c')) after.push(row);

    expect(deleted).toBe(120);
    expect(after).toEqual([]);
    const again = new DynamoPredictionStore(aws.doc, table, { shards: 2 });
    await again.put(rows('run-c', 3));
    expect(partitionOf('run-c', 'images/0000.png', 2)).toMatch(/#[01]$/);
    const reread = [];
    for await (const row of new DynamoPredictionStore(aws.doc, table).list('run-c')) reread.push(row.key);
    expect(reread).toEqual(['images/0000.png', 'images/0001.png', 'images/0002.png']);
  });

  it('still reads a run written before sharding, from its single partition', async () => {
    await aws.doc.send(
      new PutCommand({
        TableName: table,
        Item: { ...rows('run-old', 1)[0], [PREDICTIONS_TABLE.partitionKey]: 'run-old' },
      }),
    );

    const listed = [];
    for await (const row of new DynamoPredictionStore(aws.doc, table).list('run-old')) listed.push(row.key);

    expect(listed).toEqual(['images/0000.png']);
    expect(await new DynamoPredictionStore(aws.doc, table).deleteRun('run-old')).toBe(1);
  });
});
