import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StageLogFile } from '../../pipeline/local/stage-log-file.ts';
import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import type { Wire } from '../../shared/stage-handler.ts';
import { createHandler as createAggregate } from '../../stages/aggregate/handler.ts';
import { createHandler as createFinalizeFailure } from '../../stages/finalize-failure/handler.ts';
import { createHandler as createPlan } from '../../stages/plan/handler.ts';
import { createHandler as createPreprocess } from '../../stages/preprocess/handler.ts';
import { createHandler as createReport } from '../../stages/report/handler.ts';
import { createHandler as createTrigger } from '../../stages/trigger/handler.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { testWire } from '../helpers/stage-wiring.ts';

/**
 * Every stage handler has one shape: `createHandler(wire)` parses the event at the edge, builds its ports once
 * from the wiring, logs with stage and run id. Lambda wires from its environment (`AWS_ENDPOINT_URL_S3`/`_DYNAMODB`
 * here point the SDK at the local servers); tests pass their own wiring, and nothing needs a module reset.
 */
describe('stage handlers as factories over injected wiring', () => {
  let aws: LocalAws;
  let env: Record<string, string | undefined>;
  const logs = mkdtempSync(join(tmpdir(), 'nightshift-handler-logs-'));

  beforeAll(async () => {
    aws = await startLocalAws();
    await Promise.all([aws.createBucket('handler-data'), aws.createBucket('handler-pipeline')]);
    const tables = await aws.createTables();
    env = {
      ...process.env,
      PIPELINE_BUCKET: 'handler-pipeline',
      RUNS_TABLE: tables.runsTable,
      PREDICTIONS_TABLE: tables.predictionsTable,
      ALLOWED_DATASET_LOCATIONS: 's3://handler-data/',
      LOG_LEVEL: 'SILENT',
    };
  });
  afterAll(async () => {
    await aws?.stop();
    rmSync(logs, { recursive: true, force: true });
  });

  it('plans, then finalizes a failure, through handlers wired from the environment and the local servers', async () => {
    await aws.s3.send(new PutObjectCommand({ Bucket: 'handler-data', Key: 'in/a.jpg', Body: 'x' }));
    const fromEnv: Wire = wireFrom(env, lambdaClients(env));
    const plan = createPlan(fromEnv);
    const finalizeFailure = createFinalizeFailure(fromEnv);

    const planned = await plan({ input: { dataset: 's3://handler-data/in/' }, execution: { name: 'exec-handler' } });
    const notice = await finalizeFailure({
      executionName: 'exec-handler',
      runId: planned.runId,
      error: { Error: 'States.TaskFailed', Cause: 'transform job failed' },
    });

    expect(planned).toMatchObject({ runId: 'exec-handler', items: { accepted: 1 } });
    expect(notice?.subject).toContain('exec-handler failed');
  });

  it('reports a missing environment variable by name on the first invocation, and wires again on the next', async () => {
    const current: Record<string, string | undefined> = { ...env, RUNS_TABLE: '' };
    const handler = createAggregate(wireFrom(current, lambdaClients(current)));
    const event = {
      Items: [{ key: 'runs/r/transform-output/x.jsonl.out' }],
      BatchInput: { runId: 'r', pipelineBucket: 'handler-pipeline' },
    };

    await expect(handler(event)).rejects.toThrow(
      expect.objectContaining({ name: 'ServiceError', message: expect.stringMatching(/RUNS_TABLE/) }),
    );
    current.RUNS_TABLE = env.RUNS_TABLE;
    // Configured now: the wiring succeeds and the stage runs (and finds no index for this made-up part).
    await expect(handler(event)).rejects.toThrow(/the index .* written by preprocess is missing/);
  });

  it('builds the wiring once, on the first invocation, not at creation', async () => {
    let wired = 0;
    const wire: Wire = (stage) => {
      wired += 1;
      return testWire({ objects: new S3ObjectStore(aws.s3) })(stage);
    };
    const handler = createAggregate(wire);
    const event = {
      Items: [{ key: 'runs/r/transform-output/x.jsonl.out' }],
      BatchInput: { runId: 'r', pipelineBucket: 'handler-pipeline' },
    };

    expect(wired).toBe(0);
    await handler(event).catch(() => undefined);
    await handler(event).catch(() => undefined);

    expect(wired).toBe(1);
  });

  it.each([
    ['plan', createPlan, { input: {}, execution: {} }, /plan event is invalid: execution\.name: /],
    ['preprocess', createPreprocess, { Items: [] }, /preprocess batch is invalid: Items: .*BatchInput: /],
    [
      'aggregate',
      createAggregate,
      { Items: [{ key: 3 }] },
      /aggregate batch is invalid: Items\.0\.key: .*BatchInput: /,
    ],
    ['report', createReport, { runId: '', pipelineBucket: 'x', extra: 1 }, /report event is invalid: runId: .*"extra"/],
    ['finalize-failure', createFinalizeFailure, { error: {} }, /finalize-failure event is invalid: executionName: /],
    ['trigger', createTrigger, { source: 'nightshift.schedule' }, /trigger event is invalid: scheduledTime: /],
  ] as const)(
    '%s rejects a malformed event at the edge with InvalidInputError naming the fields',
    async (_stage, create, event, message) => {
      const handler = create(testWire({}, { MANIFEST_LOCATION: 's3://handler-pipeline/manifests/' }));

      const attempt = handler(event);

      await expect(attempt).rejects.toThrow(expect.objectContaining({ name: 'InvalidInputError' }));
      await expect(attempt).rejects.toThrow(message);
    },
  );

  it('logs a failure in one form: level ERROR, "<stage> failed", with stage, run id and the error by name', async () => {
    const file = join(logs, 'failure.jsonl');
    const wire = testWire({ objects: new S3ObjectStore(aws.s3), logger: StageLogFile.forStage(file, 'aggregate') });
    const handler = createAggregate(wire);

    const batch = {
      Items: [{ key: 'elsewhere.out' }],
      BatchInput: { runId: 'run-7', pipelineBucket: 'handler-pipeline' },
    };
    await expect(handler(batch)).rejects.toThrow(/is not a transform output object of run run-7/);

    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'aggregate failed',
        service: 'nightshift',
        stage: 'aggregate',
        runId: 'run-7',
        error: expect.objectContaining({ name: 'PipelineStateError' }),
      }),
    ]);
  });
});
