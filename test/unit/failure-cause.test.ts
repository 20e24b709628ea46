import { describe, expect, it } from 'vitest';
import { formatSummary } from '../../pipeline/local/local-run.ts';
import { describeCause } from '../../pipeline/run-backend/failure-cause.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';

/** The shape of a `createTransformJob.sync` failure cause: the DescribeTransformJob output. */
const JOB_CAUSE = JSON.stringify({
  TransformJobName: 'nightshift-run-1-0',
  TransformJobArn: 'arn:aws:sagemaker:us-east-1:123456789012:transform-job/nightshift-run-1-0',
  TransformJobStatus: 'Failed',
  ModelName: 'model',
  TransformInput: { DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: `s3://b/${'x'.repeat(1500)}` } } },
  FailureReason: 'ClientError: See job logs for more information',
});

describe('a failed run says what failed first', () => {
  it("puts SageMaker's FailureReason first, not the job's JSON", () => {
    expect(describeCause(JOB_CAUSE)).toBe(
      'transform job nightshift-run-1-0 failed: ClientError: See job logs for more information',
    );
  });

  it("shows a Lambda task's error type and message, and cuts long text saying how long it was", () => {
    expect(describeCause(JSON.stringify({ errorType: 'ServiceError', errorMessage: 'dynamodb:Query failed' }))).toBe(
      'ServiceError: dynamodb:Query failed',
    );
    expect(describeCause('y'.repeat(600))).toBe(`${'y'.repeat(500)}… (600 characters in all)`);
  });

  it('says how many items were processed before the run stopped, not a false reconciliation', () => {
    const text = formatSummary({
      runId: 'run-1',
      status: 'FAILED',
      error: 'States.TaskFailed',
      cause: JOB_CAUSE,
      run: {
        runId: 'run-1',
        status: 'FAILED',
        dataset: 's3://b/d/',
        settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
        settingsHash: 'h',
        createdAt: '2026-11-23T00:00:00Z',
        updatedAt: '2026-11-23T00:00:00Z',
        counts: { items: 100, predicted: 0, rejected: 3, rejectedByReason: { NOT_AN_IMAGE: 3 } },
      },
      stageSeconds: [],
      wallSeconds: 12,
    });

    expect(text).toContain('  cause: transform job nightshift-run-1-0 failed: ClientError');
    expect(text).toContain('  processed 3 of 100 items before it stopped (predicted 0, rejected 3)');
    expect(text).not.toContain('items 100 = predicted 0 + rejected 3');
  });
});
