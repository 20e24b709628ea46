import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { silentLog } from '../../shared/logging.ts';
import type { TransformJobControl } from '../../shared/ports.ts';
import type { Notification } from '../../shared/stage-events.ts';
import { transformJobName } from '../../shared/transform-job-name.ts';
import {
  type FinalizeFailureDeps,
  runFinalizeExecution,
  runFinalizeFailure,
} from '../../stages/finalize-failure/finalize-failure.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

describe('finalize-failure stage against the local DynamoDB server', () => {
  let aws: LocalAws;
  let runs: DynamoRunStore;
  let deps: FinalizeFailureDeps & { transformJobs: TransformJobControl };
  /** The jobs finalize-failure asked to stop; `running` are those "in progress" (no SageMaker here). */
  const stopRequests: string[] = [];
  const running = new Set<string>();
  const transformJobs: TransformJobControl = {
    stopIfRunning: async (name) => {
      stopRequests.push(name);
      return running.delete(name) ? 'stopped' : 'not-running';
    },
  };
  const clock = { now: () => new Date('2026-11-23T03:00:00.000Z') };

  beforeAll(async () => {
    aws = await startLocalAws();
    const tables = await aws.createTables();
    runs = new DynamoRunStore(aws.doc, tables.runsTable, clock);
    deps = { runs, clock, log: silentLog, transformJobs };
  });
  afterAll(async () => {
    await aws?.stop();
  });

  it('marks the run FAILED with the Lambda error message from the Catch and says how to start it again', async () => {
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
    expect(notification.message).toContain('start the run again with the same input (run id run-f)');
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

  it('never echoes an invalid run id raw: the notification goes under the execution name', async () => {
    const hostile = 'x\nBcc: victim@example.com <script>'.padEnd(120, '!');

    const notification = await runFinalizeFailure(
      {
        executionName: 'exec-hostile',
        input: { dataset: 's3://data/x/', runId: hostile },
        error: { Error: 'InvalidInputError', Cause: 'execution input is invalid: runId: use 1-80 letters' },
      },
      deps,
    );

    expect(notification.runId).toBe('exec-hostile');
    expect(notification.subject).toBe('Nightshift run exec-hostile failed: InvalidInputError');
    expect(notification.subject).not.toContain('\n');
  });

  describe('from the execution status event (failures left uncaught so the run stays redrivable)', () => {
    const statusEvent = (
      name: string,
      status: 'FAILED' | 'TIMED_OUT' | 'ABORTED',
      redriveCount: number,
      error?: string,
    ) => ({
      source: 'aws.states' as const,
      'detail-type': 'Step Functions Execution Status Change' as const,
      detail: {
        executionArn: `arn:aws:states:us-east-1:123456789012:execution:Nightshift:${name}`,
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Nightshift',
        name,
        status,
        input: JSON.stringify({ dataset: 's3://data/x/', runId: `run-${name}` }),
        error: error ?? null,
        cause: error ? 'Lambda.TooManyRequestsException: Rate exceeded' : null,
        redriveCount,
      },
    });
    const createRun = (runId: string) =>
      runs.create({
        runId,
        status: 'RUNNING',
        dataset: 's3://data/x/',
        settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
        settingsHash: 'h',
        createdAt: '2026-11-23T02:00:00.000Z',
        updatedAt: '2026-11-23T02:00:00.000Z',
      });

    it('marks the run FAILED, publishes once, and announces a failed redrive again', async () => {
      await createRun('run-uncaught');
      const published: Notification[] = [];
      const notifier = { publish: async (n: Notification) => void published.push(n) };

      const first = await runFinalizeExecution(
        statusEvent('uncaught', 'FAILED', 0, 'Lambda.TooManyRequestsException'),
        { ...deps, notifier },
      );
      const duplicate = await runFinalizeExecution(
        statusEvent('uncaught', 'FAILED', 0, 'Lambda.TooManyRequestsException'),
        { ...deps, notifier },
      );
      const redriven = await runFinalizeExecution(
        statusEvent('uncaught', 'FAILED', 1, 'Lambda.TooManyRequestsException'),
        { ...deps, notifier },
      );

      expect(first?.message).toContain('redrive it to resume there: nightshift redrive run-uncaught');
      expect(duplicate).toBeUndefined();
      expect(redriven).toBeDefined();
      expect(published).toHaveLength(2);
      expect(await runs.get('run-uncaught')).toMatchObject({
        status: 'FAILED',
        failedAttempt: 1,
        error: { error: 'Lambda.TooManyRequestsException' },
      });
    });

    it('skips a failure the state machine already finalized through its Catch path', async () => {
      await createRun('run-caught');
      await runFinalizeFailure(
        { executionName: 'caught', runId: 'run-caught', error: { Error: 'ManifestError', Cause: 'bad' }, attempt: 0 },
        deps,
      );
      const published: Notification[] = [];

      const result = await runFinalizeExecution(statusEvent('caught', 'FAILED', 0, 'ManifestError'), {
        ...deps,
        notifier: { publish: async (n) => void published.push(n) },
      });

      expect(result).toBeUndefined();
      expect(published).toEqual([]);
    });

    it('stops the transform job an aborted attempt left running, by the name the state machine gave it', async () => {
      await createRun('run-aborted');
      const job = transformJobName('run-aborted', 'aborted', 1);
      running.add(job);

      const notice = await runFinalizeExecution(statusEvent('aborted', 'ABORTED', 1), {
        ...deps,
        notifier: { publish: async () => undefined },
      });

      expect(stopRequests).toContain(job);
      expect(running.has(job)).toBe(false);
      expect(notice?.subject).toBe('Nightshift run run-aborted failed: ExecutionAborted');
    });

    it('names a time-out when the event carries no error', async () => {
      await createRun('run-slow');

      const notice = await runFinalizeExecution(statusEvent('slow', 'TIMED_OUT', 0), {
        ...deps,
        notifier: { publish: async () => undefined },
      });

      expect(notice?.subject).toBe('Nightshift run run-slow failed: States.Timeout');
      expect((await runs.get('run-slow'))?.error?.cause).toBe('the execution ran past the state machine timeout');
    });
  });

  it('leaves the run record of another execution alone when a run id was reused with other settings', async () => {
    await runs.create({
      runId: 'run-owned',
      status: 'RUNNING',
      dataset: 's3://data/x/',
      settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
      settingsHash: 'h',
      executionId: 'arn:aws:states:us-east-1:123456789012:execution:Nightshift:first',
      createdAt: '2026-11-23T02:00:00.000Z',
      updatedAt: '2026-11-23T02:00:00.000Z',
    });
    const published: Notification[] = [];

    const notice = await runFinalizeFailure(
      {
        executionName: 'second',
        executionArn: 'arn:aws:states:us-east-1:123456789012:execution:Nightshift:second',
        input: { dataset: 's3://data/y/', runId: 'run-owned' },
        error: { Error: 'RunConflictError', Cause: 'run id "run-owned" already exists with a different dataset' },
      },
      deps,
    );
    const fromRule = await runFinalizeExecution(
      {
        source: 'aws.states',
        'detail-type': 'Step Functions Execution Status Change',
        detail: {
          executionArn: 'arn:aws:states:us-east-1:123456789012:execution:Nightshift:second',
          stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Nightshift',
          name: 'second',
          status: 'FAILED',
          input: JSON.stringify({ dataset: 's3://data/y/', runId: 'run-owned' }),
          error: 'RunConflictError',
          cause: 'x',
          redriveCount: 0,
        },
      },
      { ...deps, notifier: { publish: async (n) => void published.push(n) } },
    );

    expect(notice.runId).toBe('run-owned');
    expect(notice.subject).toBe('Nightshift run run-owned: a new start was refused; the run is unchanged');
    expect(notice.message).toContain('Start with a new run id');
    expect(fromRule).toBeUndefined();
    expect(published).toEqual([]);
    expect(await runs.get('run-owned')).toMatchObject({ status: 'RUNNING' });
  });
  describe('a refused start changes nothing about the run it conflicts with', () => {
    const arn = (name: string) => `arn:aws:states:us-east-1:123456789012:execution:Nightshift:${name}`;
    const ended = (runId: string, executionId: string) =>
      runs.create({
        runId,
        status: 'SUCCEEDED',
        dataset: 's3://data/x/',
        settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
        settingsHash: 'h',
        executionId,
        createdAt: '2026-11-23T02:00:00.000Z',
        updatedAt: '2026-11-23T02:30:00.000Z',
        finishedAt: '2026-11-23T02:30:00.000Z',
      });

    it('leaves a SUCCEEDED run alone when a start under the same execution name (a local re-start) is refused', async () => {
      // Locally a re-start with `--run-id X` is an execution named X again, so it has the same ARN as the original.
      await ended('run-done', arn('run-done'));
      const before = await runs.get('run-done');

      const notice = await runFinalizeFailure(
        {
          executionName: 'run-done',
          executionArn: arn('run-done'),
          input: { dataset: 's3://data/y/', runId: 'run-done' },
          error: { Error: 'RunConflictError', Cause: 'run id "run-done" already exists with a different dataset' },
          attempt: 0,
        },
        deps,
      );

      expect(await runs.get('run-done')).toEqual(before);
      expect(notice.subject).toBe('Nightshift run run-done: a new start was refused; the run is unchanged');
      expect(notice.subject).not.toMatch(/failed/);
      expect(notice.message).toContain(`Execution ${arn('run-done')} was refused`);
      expect(notice.message).toContain('already exists with a different dataset');
      expect(notice.message).toContain(
        `Run run-done belongs to execution ${arn('run-done')} and is unchanged (SUCCEEDED)`,
      );
    });

    it('does not announce a run failure for an execution that never owned the run (execution-status rule)', async () => {
      await ended('run-kept', arn('kept-1'));
      const before = await runs.get('run-kept');
      const published: Notification[] = [];

      const notice = await runFinalizeExecution(
        {
          source: 'aws.states',
          'detail-type': 'Step Functions Execution Status Change',
          detail: {
            executionArn: arn('kept-2'),
            stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Nightshift',
            name: 'kept-2',
            status: 'FAILED',
            input: JSON.stringify({ dataset: 's3://data/x/', runId: 'run-kept' }),
            error: 'Lambda.TooManyRequestsException',
            cause: 'Rate exceeded',
            redriveCount: 0,
          },
        },
        { ...deps, notifier: { publish: async (n) => void published.push(n) } },
      );

      expect(await runs.get('run-kept')).toEqual(before);
      expect(published).toHaveLength(1);
      expect(notice?.subject).toBe('Nightshift execution kept-2 failed: Lambda.TooManyRequestsException');
      expect(notice?.message).toContain('Run run-kept belongs to execution');
      expect(notice?.message).toContain('is unchanged (SUCCEEDED)');
    });
  });
});
