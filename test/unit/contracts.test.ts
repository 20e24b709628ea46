import { describe, expect, it } from 'vitest';
import { parseStageConfig } from '../../shared/config.ts';
import {
  CALLER_ERROR_NAMES,
  ConnectionError,
  DatasetAccessError,
  InvalidInputError,
  ManifestError,
  ObjectNotFoundError,
  PartialWriteError,
  PipelineStateError,
  RETRYABLE_ERROR_NAMES,
  RetryableError,
  RunConflictError,
  ServiceError,
} from '../../shared/errors.ts';
import { classifyDataset, parseExecutionInput } from '../../shared/execution-input.ts';
import { isInside, parseS3Uri } from '../../shared/s3-location.ts';

describe('execution input', () => {
  it('fills every preprocessing and transform default from a dataset alone', () => {
    const input = parseExecutionInput({ dataset: 's3://my-data/images/' });

    expect(input.preprocess).toMatchObject({
      width: 960,
      height: 960,
      fit: 'inside',
      batchSize: 200,
      maxInputPixels: 100_000_000,
    });
    expect(input.transform).toMatchObject({ instanceType: 'ml.g5.xlarge', instanceCount: 1, maxPayloadInMB: 6 });
    expect(Object.isFrozen(input)).toBe(true);
  });

  it('names every bad field and unknown key in one message', () => {
    const attempt = () =>
      parseExecutionInput({
        dataset: 's3://my-data/images/',
        transform: { instanceType: 'g5.xlarge', count: 2 },
        runId: 'bad id!',
      });

    expect(attempt).toThrow(InvalidInputError);
    expect(attempt).toThrow(/runId: use 1-80 letters/);
    expect(attempt).toThrow(/transform: unknown field\(s\) "count"/);
    expect(attempt).toThrow(/transform.instanceType: must look like ml.g5.xlarge/);
  });

  it('tells a prefix from a manifest, and refuses anything else with the accepted shapes', () => {
    expect(classifyDataset('s3://b-1/p/')).toMatchObject({ type: 'prefix', location: { bucket: 'b-1', key: 'p/' } });
    expect(classifyDataset('s3://b-1/m/run.jsonl')).toMatchObject({ type: 'manifest', format: 'jsonl' });
    expect(classifyDataset('s3://b-1/m/run.json')).toMatchObject({ type: 'manifest', format: 'manifest-file' });
    expect(() => classifyDataset('s3://b-1/photo.jpg')).toThrow(/end a prefix with "\/"/);
    expect(() => classifyDataset('https://b-1/p/')).toThrow(/not an S3 URI; write it as s3:\/\/bucket\/key/);
  });
});

describe('S3 locations', () => {
  it('treats keys with .. segments as outside any prefix', () => {
    const scope = parseS3Uri('s3://data/images/');

    expect(isInside({ bucket: 'data', key: 'images/a.jpg' }, scope)).toBe(true);
    expect(isInside({ bucket: 'data', key: 'images/../secrets/a.jpg' }, scope)).toBe(false);
    expect(isInside({ bucket: 'other', key: 'images/a.jpg' }, scope)).toBe(false);
  });
});

describe('stage configuration', () => {
  it('parses the Lambda environment once, defaulting the allowed locations to the pipeline bucket', () => {
    const config = parseStageConfig({ PIPELINE_BUCKET: 'pipe', RUNS_TABLE: 'runs', PREDICTIONS_TABLE: 'preds' });

    expect(config.allowedDatasetLocations).toEqual([{ bucket: 'pipe', key: '' }]);
    expect(config.logLevel).toBe('INFO');
  });

  it('names each missing variable', () => {
    expect(() => parseStageConfig({ PIPELINE_BUCKET: 'pipe' })).toThrow(/RUNS_TABLE: .*PREDICTIONS_TABLE/);
  });
});

describe('error family', () => {
  it('reports stable class names for Step Functions Retry/Catch, split into caller and retryable', () => {
    const callers = [
      new InvalidInputError('x'),
      new ManifestError('x'),
      new DatasetAccessError('x'),
      new RunConflictError('x'),
      new ObjectNotFoundError('x'),
    ];
    const retryables = [new RetryableError('x'), new PartialWriteError('x'), new ConnectionError('x')];

    expect(callers.map((e) => e.name)).toEqual([...CALLER_ERROR_NAMES]);
    expect(callers.every((e) => e.kind === 'caller' && !e.retryable)).toBe(true);
    expect(retryables.map((e) => e.name)).toEqual([...RETRYABLE_ERROR_NAMES]);
    expect(retryables.every((e) => e.retryable)).toBe(true);
    expect(
      [new ServiceError('x'), new PipelineStateError('x')].every((e) => e.kind === 'internal' && !e.retryable),
    ).toBe(true);
  });

  it('keeps the cause and serialises to JSON for the run record', () => {
    const cause = new Error('socket hang up');
    const error = new RetryableError('reading s3://b/k failed', { cause, details: { key: 'k' } });

    expect(error.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'RetryableError',
      code: 'RETRYABLE',
      kind: 'internal',
      message: 'reading s3://b/k failed',
      details: { key: 'k' },
    });
  });
});
