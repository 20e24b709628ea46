import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { silentLog } from '../../shared/logging.ts';
import { type FinalizeFailureDeps, runFinalizeFailure } from '../../stages/finalize-failure/finalize-failure.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

describe('finalize-failure stage against the local DynamoDB server', () => {
  let aws: LocalAws;
  let runs: DynamoRunStore;
  let deps: FinalizeFailureDeps;
  const clock = { now: () => new Date('2026-11-23T03:00:00.000Z') };

  beforeAll(async () => {
    aws = await startLocalAws();
    const tables = await aws.createTables();
    runs = new DynamoRunStore(aws.doc, tables.runsTable, clock);
    deps = { runs, clock, log: silentLog };
  });
  afterAll(async () => {
    await aws?.stop();
  });

  it('marks the run FAILED with the Lambda error message from the Catch and says how to redrive', async () => {
    await runs.create({
      runId: 'run-f',
      status: 'RUNNING',
      dataset: 's3://data/x/',
      settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
      settingsHash: 'h',
      createdAt: '2026-11-23T02:00:00.000Z',
      updatedAt: '2026-11-23T02:00:00.000Z',
    });
    const cause = JSON.stringify({
      errorType: 'PartialWriteError',
      errorMessage: '3 of 25 rows were not written',
      trace: ['at x'],
    });

    const notification = await runFinalizeFailure(
      {
        executionName: 'exec-f',
        runId: 'run-f',
        error: { Error: 'PartialWriteError', Cause: cause },
        failedState: 'Aggregate',
      },
      deps,
    );

    const run = await runs.get('run-f');
    expect(run).toMatchObject({
      status: 'FAILED',
      finishedAt: '2026-11-23T03:00:00.000Z',
      error: { error: 'PartialWriteError', cause: '3 of 25 rows were not written' },
    });
    expect(notification.subject).toBe('Nightshift run run-f failed: PartialWriteError');
    expect(notification.message).toContain('in state Aggregate');
    expect(notification.message).toContain('nightshift redrive run-f');
  });

  it('still notifies when the run never got a record (bad input), telling the user to fix the input', async () => {
    const notification = await runFinalizeFailure(
      {
        executionName: 'exec-bad',
        error: { Error: 'InvalidInputError', Cause: 'execution input is invalid: dataset: ...' },
      },
      deps,
    );

    expect(notification.runId).toBe('exec-bad');
    expect(notification.message).toContain('This is a problem with the input');
    expect(await runs.get('exec-bad')).toBeUndefined();
  });
});
