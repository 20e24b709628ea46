import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalRunBackend } from '../../pipeline/local/local-run-backend.ts';
import type { CliIo } from '../../pipeline/run-backend/run-backend.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { systemClock } from '../../shared/ports.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

describe('nightshift watch --local follows a run another process executes, from the local run table', () => {
  let aws: LocalAws;
  let runs: DynamoRunStore;
  const stateDir = mkdtempSync(join(tmpdir(), 'nightshift-watch-'));
  const output: string[] = [];
  const io: CliIo = {
    stdout: (t) => void output.push(t),
    stderr: (t) => void output.push(t),
    isTTY: false,
    env: {},
    cwd: stateDir,
  };

  beforeAll(async () => {
    aws = await startLocalAws();
    const tables = await aws.createTables();
    runs = new DynamoRunStore(aws.doc, tables.runsTable, { now: () => new Date() });
    const names = { pipelineBucket: 'b', runsTable: tables.runsTable, predictionsTable: tables.predictionsTable };
    writeFileSync(
      join(stateDir, 'local-endpoints.json'),
      JSON.stringify({ s3: aws.s3Endpoint, dynamodb: aws.dynamoEndpoint, ...names }),
    );
    await runs.create({
      runId: 'watched',
      status: 'RUNNING',
      dataset: 's3://b/d/',
      settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
      settingsHash: 'h',
      createdAt: '2026-11-23T00:00:00.000Z',
      updatedAt: '2026-11-23T00:00:00.000Z',
    });
  });
  /** The local backend over this state dir, polling with `sleep`. */
  const watch = async (run: string, timeoutMs: number, sleep: () => Promise<void>) => {
    const backend = createLocalRunBackend({
      io,
      json: false,
      stateDir,
      projectRoot: stateDir,
      clock: systemClock,
      sleep,
    });
    try {
      return await backend.watch({ run, timeoutMs });
    } finally {
      await backend.close();
    }
  };

  afterAll(async () => {
    await aws?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('prints each status change and exits 0 when the run succeeds', async () => {
    let polls = 0;
    const sleep = async () => {
      polls += 1;
      if (polls === 2)
        await runs.update('watched', {
          status: 'SUCCEEDED',
          counts: { items: 3, predicted: 2, rejected: 1, rejectedByReason: {} },
        });
    };

    const code = await watch('watched', 60_000, sleep);

    expect(code).toBe(0);
    expect(output.join('')).toBe('watched: RUNNING\nwatched: SUCCEEDED items=3 predicted=2 rejected=1\n');
  });

  it('exits 1 naming the run when it does not exist', async () => {
    output.length = 0;

    const code = await watch('nope', 1000, async () => undefined);

    expect(code).toBe(1);
    expect(output.join('')).toContain('run nope not found');
  });
});
