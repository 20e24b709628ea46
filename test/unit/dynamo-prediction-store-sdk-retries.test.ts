import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { RetryableError } from '../../shared/errors.ts';

const TABLE = 'predictions';
const row = {
  runId: 'run-1',
  key: 'img-000.jpg',
  outcome: 'REJECTED',
  reason: 'CORRUPT_IMAGE',
  message: 'bad',
  stage: 'preprocess',
  updatedAt: '2026-11-23T00:00:00.000Z',
} as const;

describe('DynamoPredictionStore over HTTP (a local server that always throttles: the DynamoDB emulator never does)', () => {
  let server: Server;
  let requests = 0;
  let endpoint = '';

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests += 1;
      request.resume();
      request.on('end', () => {
        response.writeHead(400, {
          'content-type': 'application/x-amz-json-1.0',
          'x-amzn-errortype': 'ProvisionedThroughputExceededException',
        });
        response.end(JSON.stringify({ __type: 'ProvisionedThroughputExceededException', message: 'slow down' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("sends a throttled batch the client's maxAttempts times in all, not that many times the store's own attempts", async () => {
    const client = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: 'us-east-1',
        endpoint,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 3,
      }),
    );
    const sleeps: number[] = [];
    const store = new DynamoPredictionStore(client, TABLE, {
      runtime: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 },
    });

    const attempt = store.put([row]);

    await expect(attempt).rejects.toThrow(RetryableError);
    expect(requests).toBe(3);
    expect(sleeps).toEqual([]);
  });
});
