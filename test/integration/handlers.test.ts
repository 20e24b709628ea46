import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

/**
 * The Lambda handlers wire themselves from the environment the stack sets (`PIPELINE_BUCKET`, table names) and the
 * standard SDK configuration (`AWS_ENDPOINT_URL_S3`/`_DYNAMODB`), here pointed at the local servers.
 */
describe('stage handlers wired from the environment', () => {
  let aws: LocalAws;

  beforeAll(async () => {
    aws = await startLocalAws();
    await Promise.all([aws.createBucket('handler-data'), aws.createBucket('handler-pipeline')]);
    const tables = await aws.createTables();
    vi.stubEnv('PIPELINE_BUCKET', 'handler-pipeline');
    vi.stubEnv('RUNS_TABLE', tables.runsTable);
    vi.stubEnv('PREDICTIONS_TABLE', tables.predictionsTable);
    vi.stubEnv('ALLOWED_DATASET_LOCATIONS', 's3://handler-data/');
    vi.stubEnv('LOG_LEVEL', 'SILENT');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await aws?.stop();
  });

  it('plans, then finalizes a failure, through the handlers and the local servers', async () => {
    await aws.s3.send(new PutObjectCommand({ Bucket: 'handler-data', Key: 'in/a.jpg', Body: 'x' }));
    const { handler: plan } = await import('../../stages/plan/handler.ts');
    const { handler: finalizeFailure } = await import('../../stages/finalize-failure/handler.ts');

    const planned = await plan({ input: { dataset: 's3://handler-data/in/' }, execution: { name: 'exec-handler' } });
    const notice = await finalizeFailure({
      executionName: 'exec-handler',
      runId: planned.runId,
      error: { Error: 'States.TaskFailed', Cause: 'transform job failed' },
    });

    expect(planned).toMatchObject({ runId: 'exec-handler', items: { accepted: 1 } });
    expect(notice?.subject).toContain('exec-handler failed');
  });

  it('reports a missing environment variable by name on the first invocation', async () => {
    vi.resetModules();
    vi.stubEnv('RUNS_TABLE', '');
    const { handler } = await import('../../stages/aggregate/handler.ts');

    await expect(handler({ runId: 'r', pipelineBucket: 'handler-pipeline', key: 'x.out' })).rejects.toThrow(
      /RUNS_TABLE/,
    );
  });
});
