import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startDynamoServer, startS3Server } from '../../pipeline/local/emulators.ts';
import { documentClient } from '../../shared/aws/client-config.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { ConnectionError, RETRYABLE_ERROR_NAMES } from '../../shared/errors.ts';
import { runLayout } from '../../shared/layout.ts';
import { silentLog } from '../../shared/logging.ts';
import { systemClock } from '../../shared/ports.ts';
import { runAggregate } from '../../stages/aggregate/aggregate.ts';
import { predictionsTableDefinition } from '../helpers/local-aws.ts';

/**
 * Issue 10, item 7: a refused or reset connection is a typed ConnectionError naming the call and the endpoint, never
 * Node's bare `connect ECONNREFUSED 127.0.0.1:PORT`, and never "throttled" or "unprocessed". The servers are the real
 * local ones, killed by PID.
 */

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const BUCKET = 'connection-failures';

function dynamoClient(endpoint: string): DynamoDBDocumentClient {
  return documentClient(new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: CREDENTIALS }));
}

function s3Client(endpoint: string): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint, credentials: CREDENTIALS, forcePathStyle: true });
}

/** Kills a server by PID and waits until it is gone, so the next connect is refused. */
async function kill(server: RunningEmulator): Promise<void> {
  process.kill(server.pid, 'SIGKILL');
  await server.stop();
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('connection failures against the real local servers', () => {
  let directory: string;
  let s3Server: RunningEmulator;
  let dynamoServer: RunningEmulator;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'nightshift-conn-'));
    [s3Server, dynamoServer] = await Promise.all([startS3Server({ directory }), startDynamoServer()]);
  });
  afterAll(async () => {
    await Promise.all([s3Server?.stop(), dynamoServer?.stop()]);
    await rm(directory, { recursive: true, force: true });
  });

  it('aggregate over a killed DynamoDB server fails with a ConnectionError naming the table and endpoint, not "throttled or unprocessed"', async () => {
    const s3 = s3Client(s3Server.endpoint);
    const doc = dynamoClient(dynamoServer.endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await doc.send(new CreateTableCommand(predictionsTableDefinition('predictions')));
    const runId = 'run-conn';
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `${runLayout.transformIndex(runId)}part-000000001.json`,
        Body: JSON.stringify([{ id: 1, key: 'a.jpg', bucket: 'data' }]),
      }),
    );
    const key = `${runLayout.transformOutput(runId)}part-000000001.jsonl.out`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: '' }));
    const port = new URL(dynamoServer.endpoint).port;
    await kill(dynamoServer);

    const error = await rejection(
      runAggregate(
        { Items: [{ key }], BatchInput: { runId, pipelineBucket: BUCKET } },
        {
          objects: new S3ObjectStore(s3),
          predictions: new DynamoPredictionStore(doc, 'predictions'),
          clock: systemClock,
          log: silentLog,
        },
      ),
    );

    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.name).toBe('ConnectionError');
    expect(RETRYABLE_ERROR_NAMES).toContain(error.name);
    expect(error.message).toContain('table predictions');
    expect(error.message).toContain(`the connection to 127.0.0.1:${port} was refused`);
    expect(error.message).not.toMatch(/ECONNREFUSED|throttl|unprocessed/i);
    expect((error as ConnectionError).details).toEqual({ code: 'ECONNREFUSED', endpoint: `127.0.0.1:${port}` });
    s3.destroy();
    doc.destroy();
  }, 60_000);

  it('the run store over a killed DynamoDB server names the run, the table and the refused endpoint', async () => {
    const server = await startDynamoServer();
    const doc = dynamoClient(server.endpoint);
    const port = new URL(server.endpoint).port;
    await kill(server);

    const error = await rejection(new DynamoRunStore(doc, 'runs', systemClock).get('run-x'));

    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toBe(
      `reading run "run-x" from table runs failed: the connection to 127.0.0.1:${port} was refused: nothing listens there (the server is down or the endpoint is wrong)`,
    );
    doc.destroy();
  }, 60_000);
});

describe('a connection reset mid-request (a TCP server that resets every connection: no emulator does that on demand)', () => {
  let server: Server;
  let endpoint: string;

  beforeAll(async () => {
    server = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('reading from S3 fails with a ConnectionError saying the connection was reset, not ECONNRESET', async () => {
    const s3 = s3Client(endpoint);

    const error = await rejection(new S3ObjectStore(s3).get({ bucket: BUCKET, key: 'a.txt' }));

    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/^reading s3:\/\/connection-failures\/a\.txt failed: the connection .*was reset/);
    expect(error.message).not.toContain('ECONNRESET');
    expect((error as ConnectionError).details.code).toBe('ECONNRESET');
    s3.destroy();
  }, 60_000);
});
