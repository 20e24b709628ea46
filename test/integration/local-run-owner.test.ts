import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRunning, processIdentity } from '../../pipeline/local/process-identity.ts';
import { failOrphanedRuns, keepUnrecordedFailure, RunHeartbeat } from '../../pipeline/local/run-owner.ts';
import { parseExecutionInput } from '../../shared/execution-input.ts';
import { type RunRecord, RunRecordSchema } from '../../shared/records.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

/** The pid of a process that has ended (a child that ran and exited). */
function endedPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid as number;
}

function runningRecord(runId: string, owner?: RunRecord['owner']): RunRecord {
  const input = parseExecutionInput({ dataset: 's3://local-bucket/datasets/x/' });
  return {
    runId,
    status: 'RUNNING',
    dataset: input.dataset,
    settings: { preprocess: input.preprocess, transform: input.transform },
    settingsHash: 'h',
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
    ...(owner ? { owner } : {}),
  };
}

describe('local run owners on the real DynamoDB server', () => {
  let aws: LocalAws;
  let runsTable: string;
  beforeAll(async () => {
    aws = await startLocalAws();
    ({ runsTable } = await aws.createTables());
  }, 60_000);
  afterAll(() => aws?.stop());

  const read = async (runId: string) =>
    RunRecordSchema.parse((await aws.doc.send(new GetCommand({ TableName: runsTable, Key: { runId } }))).Item);

  it('tells a running process from one that ended, and from a reused pid with another start time', () => {
    const me = processIdentity();
    const gone = { pid: endedPid(), host: me?.host ?? '' };

    expect(me && isRunning(me)).toBe(true);
    expect(isRunning(gone)).toBe(false);
    expect(isRunning({ ...(me as NonNullable<typeof me>), startTime: '1' })).toBe(process.platform !== 'linux');
  });

  it('marks FAILED (interrupted) only the RUNNING runs whose owner is gone', async () => {
    const me = processIdentity() as NonNullable<ReturnType<typeof processIdentity>>;
    for (const record of [
      runningRecord('orphan', { pid: endedPid(), host: me.host }),
      runningRecord('alive', me),
      runningRecord('no-owner'),
    ]) {
      await aws.doc.send(new PutCommand({ TableName: runsTable, Item: record }));
    }

    const marked = await failOrphanedRuns(aws.doc, runsTable);
    const again = await failOrphanedRuns(aws.doc, runsTable);

    expect(marked).toEqual(['orphan']);
    expect(again).toEqual([]);
    const orphan = await read('orphan');
    expect(orphan.status).toBe('FAILED');
    expect(orphan.error?.error).toBe('Interrupted');
    expect(orphan.error?.cause).toMatch(/^interrupted: .*nightshift redrive --local orphan/);
    expect((await read('alive')).status).toBe('RUNNING');
    expect((await read('no-owner')).status).toBe('RUNNING');
  });

  it('records the cause an owner kept when it could not write it (its DynamoDB server died), instead of "interrupted"', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'nightshift-owner-'));
    const host = processIdentity()?.host ?? '';
    await aws.doc.send(
      new PutCommand({ TableName: runsTable, Item: runningRecord('kept', { pid: endedPid(), host }) }),
    );
    const cause = 'The local DynamoDB server (http://127.0.0.1:1, pid 1) has exited; its log is /x/logs/dynamodb.log.';
    await keepUnrecordedFailure(stateDir, 'kept', { error: 'LocalServerDiedError', cause });

    const marked = await failOrphanedRuns(aws.doc, runsTable, stateDir);

    expect(marked).toContain('kept');
    expect((await read('kept')).error).toEqual({ error: 'LocalServerDiedError', cause });
    expect(existsSync(join(stateDir, 'unrecorded-failures', 'kept.json'))).toBe(false);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('writes its owner and heartbeat onto a RUNNING record, and creates no record that does not exist', async () => {
    await aws.doc.send(new PutCommand({ TableName: runsTable, Item: runningRecord('beating') }));

    await new RunHeartbeat(aws.doc, runsTable, 'beating').beat();
    await new RunHeartbeat(aws.doc, runsTable, 'not-there').beat();

    const beating = await read('beating');
    expect(beating.owner?.pid).toBe(process.pid);
    expect(beating.heartbeatAt).toBeDefined();
    expect((await aws.doc.send(new GetCommand({ TableName: runsTable, Key: { runId: 'not-there' } }))).Item).toBe(
      undefined,
    );
  });
});
