import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startDynamoServer, startS3Server } from '../../pipeline/local/emulators.ts';
import {
  explainFailedRun,
  explainServerFailure,
  findDeadServers,
  LocalServerDiedError,
  type LocalServerProcess,
} from '../../pipeline/local/local-server-health.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { ConnectionError } from '../../shared/errors.ts';
import { systemClock } from '../../shared/ports.ts';

/** Issue 10, item 7: the local runtime names the server that died, found by its process and port, with its log file. */

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function asProcess(server: RunningEmulator, name: LocalServerProcess['name']): LocalServerProcess {
  return { name, endpoint: server.endpoint, pid: server.pid, log: server.log ?? '' };
}

describe('naming the local server that died (real servers, killed by PID)', () => {
  let home: string;
  let s3: RunningEmulator;
  let dynamo: RunningEmulator;
  let servers: LocalServerProcess[];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'nightshift-health-'));
    [s3, dynamo] = await Promise.all([
      startS3Server({ directory: join(home, 's3'), logFile: join(home, 's3.log') }),
      startDynamoServer({ logFile: join(home, 'dynamodb.log') }),
    ]);
    servers = [asProcess(s3, 'S3'), asProcess(dynamo, 'DynamoDB')];
  }, 60_000);
  afterAll(async () => {
    await Promise.all([s3?.stop(), dynamo?.stop()]);
    await rm(home, { recursive: true, force: true });
  });

  it('finds none dead while both run, and leaves a connection error to a live server as it was', async () => {
    const refused = new ConnectionError(
      'reading run "r" from table t failed: the connection to 127.0.0.1:1 was refused',
    );

    expect(await findDeadServers(servers)).toEqual([]);
    expect(await explainServerFailure(refused, servers, { shared: false })).toBe(refused);
  });

  it('turns a refused call into LocalServerDiedError naming DynamoDB, its endpoint, pid and log, and the redrive', async () => {
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        region: 'us-east-1',
        endpoint: dynamo.endpoint,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      }),
    );
    process.kill(dynamo.pid, 'SIGKILL');
    await dynamo.stop();
    const refused = await rejection(new DynamoRunStore(doc, 'runs', systemClock).get('r'));

    const dead = await findDeadServers(servers);
    const explained = await explainServerFailure(refused, servers, { runId: 'r', shared: false });
    const log = await readFile(join(home, 'dynamodb.log'), 'utf8');

    expect(refused).toBeInstanceOf(ConnectionError);
    expect(dead.map((server) => [server.name, server.state])).toEqual([['DynamoDB', 'exited']]);
    expect(explained).toBeInstanceOf(LocalServerDiedError);
    expect((explained as Error).message).toBe(
      `The local DynamoDB server (${dynamo.endpoint}, pid ${dynamo.pid}) has exited; its log is ${join(home, 'dynamodb.log')}. ` +
        'Read the log for why it stopped, then finish the run with `nightshift redrive r --local`, which starts fresh servers on the same data.',
    );
    expect((explained as Error).cause).toBe(refused);
    expect(log).toContain(`local dynamodb server started, pid ${dynamo.pid}`);
    expect(log).toContain('exited (SIGKILL)');
    doc.destroy();
  }, 60_000);

  it("names a failed execution's dead server in its cause, with the shared servers' advice", async () => {
    const result = await explainFailedRun(
      { status: 'FAILED', error: 'States.TaskFailed', cause: '{}', startDate: new Date(), stopDate: new Date() },
      servers,
      { runId: 'r', shared: true },
    );

    expect(result.error).toBe('LocalServerDiedError');
    expect(result.cause).toContain(`The local DynamoDB server (${dynamo.endpoint}, pid ${dynamo.pid}) has exited`);
    expect(result.cause).toContain('`nightshift local down` then `nightshift local up`');
    expect(result.cause).toMatch(/`nightshift redrive r --local`\. \(the execution stopped with States\.TaskFailed\)$/);
    expect(result.cause).not.toContain('S3 server');
  });
});
