import validator from 'asl-validator';
import { beforeAll, describe, expect, it } from 'vitest';
import { NOT_REDRIVABLE_ERRORS } from '../../pipeline/state-machine.ts';
import { CALLER_ERROR_NAMES, RETRYABLE_ERROR_NAMES } from '../../shared/errors.ts';
import { TRANSFORM_DATA_PROCESSING } from '../../shared/records.ts';
import { transformJobBaseName } from '../../shared/transform-job-name.ts';
import { placeholderDefinition, synthStack } from '../helpers/synth-stack.ts';

type State = Record<string, unknown> & { Type: string };
type Definition = { StartAt: string; States: Record<string, State> };

/** Every state, nested ones (Map item processors) included, by name. */
function allStates(definition: Definition): Map<string, State> {
  const found = new Map<string, State>();
  const walk = (states: Record<string, State>) => {
    for (const [name, state] of Object.entries(states)) {
      found.set(name, state);
      const processor = (state.ItemProcessor ?? state.Iterator) as Definition | undefined;
      if (processor) walk(processor.States);
    }
  };
  walk(definition.States);
  return found;
}

describe('the synthesized state machine definition', () => {
  let definition: Definition;
  let states: Map<string, State>;

  beforeAll(() => {
    definition = placeholderDefinition(synthStack().template) as Definition;
    states = allStates(definition);
  });

  it('passes asl-validator, Distributed Map fields included', () => {
    const result = validator(structuredClone(definition));

    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('runs Plan -> Preprocess (Distributed Map over the JSONL item parts) -> Transform -> Aggregate -> Report', () => {
    const plan = states.get('Plan');
    const preprocess = states.get('Preprocess');
    const aggregate = states.get('Aggregate');

    expect(definition.StartAt).toBe('Plan');
    expect(plan?.Parameters).toMatchObject({ 'input.$': '$', execution: { 'name.$': '$$.Execution.Name' } });
    expect(plan?.Resource).toMatch(/^arn:aws:lambda:us-east-1:123456789012:function:Stagesplan/);
    expect(preprocess).toMatchObject({
      Type: 'Map',
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' } },
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSONL' },
        Parameters: { 'Bucket.$': '$.plan.pipelineBucket', 'Key.$': '$.cursor.key' },
      },
      ItemBatcher: {
        MaxItemsPerBatchPath: '$.plan.settings.preprocess.batchSize',
        BatchInput: { 'runId.$': '$.plan.runId' },
      },
      MaxConcurrencyPath: '$.plan.settings.preprocess.maxConcurrency',
      ToleratedFailurePercentagePath: '$.plan.settings.preprocess.toleratedFailurePercentage',
      ResultWriter: { Resource: 'arn:aws:states:::s3:putObject' },
    });
    expect(aggregate).toMatchObject({
      ItemReader: {
        Resource: 'arn:aws:states:::s3:listObjectsV2',
        Parameters: { 'Prefix.$': '$.plan.transformOutputPrefix' },
      },
      ItemSelector: { 'key.$': '$$.Map.Item.Value.Key' },
      Next: 'Report',
    });
    expect(states.get('Transform')?.Next).toBe('MarkAggregateStart');
    expect(states.get('MarkAggregateStart')?.Next).toBe('Aggregate');
    expect(states.get('AnythingToPreprocess?')).toMatchObject({
      Choices: [{ Variable: '$.plan.next', StringEquals: 'empty', Next: 'ReportWithoutTransform' }],
    });
  });

  it('runs the transform as createTransformJob.sync with DataProcessing, JSON Lines split by line, and settings from the input', () => {
    const transform = states.get('Transform');

    expect(transform?.Resource).toBe('arn:aws:states:::sagemaker:createTransformJob.sync');
    expect(transform?.Parameters).toMatchObject({
      'TransformJobName.$': "States.Format('{}-{}', $.plan.transformJobName, $$.Execution.RedriveCount)",
      BatchStrategy: 'MultiRecord',
      'MaxPayloadInMB.$': '$.plan.settings.transform.maxPayloadInMB',
      'MaxConcurrentTransforms.$': '$.plan.settings.transform.maxConcurrentTransforms',
      ModelClientConfig: {
        'InvocationsTimeoutInSeconds.$': '$.plan.settings.transform.invocationTimeoutSeconds',
        'InvocationsMaxRetries.$': '$.plan.settings.transform.invocationRetries',
      },
      TransformInput: {
        ContentType: 'application/jsonlines',
        SplitType: 'Line',
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix' } },
      },
      TransformOutput: {
        AssembleWith: 'Line',
        Accept: 'application/jsonlines',
        KmsKeyId: expect.stringContaining('DataKey'),
      },
      TransformResources: {
        'InstanceType.$': '$.plan.settings.transform.instanceType',
        'InstanceCount.$': '$.plan.settings.transform.instanceCount',
      },
      DataProcessing: TRANSFORM_DATA_PROCESSING,
    });
  });

  it('names the job per execution and redrive, within SageMaker limits, and waits on a job that already exists', () => {
    const naming = states.get('Transform');
    const longest = `${transformJobBaseName('x'.repeat(80), 'e'.repeat(80))}-999`;

    expect(naming?.Parameters).toMatchObject({
      'TransformJobName.$': "States.Format('{}-{}', $.plan.transformJobName, $$.Execution.RedriveCount)",
    });
    expect(states.get('DescribeExistingJob')?.Parameters).toEqual({
      'TransformJobName.$': "States.Format('{}-{}', $.plan.transformJobName, $$.Execution.RedriveCount)",
    });
    expect(longest.length).toBeLessThanOrEqual(63);
    expect(longest).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/);
    expect(transformJobBaseName('run', 'exec-1')).not.toBe(transformJobBaseName('run', 'exec-2'));
    const catches = (states.get('Transform')?.Catch ?? []) as Array<{ ErrorEquals: string[]; Next: string }>;
    expect(catches[0]).toMatchObject({
      Next: 'DescribeExistingJob',
      ErrorEquals: expect.arrayContaining(['SageMaker.AmazonSageMakerException']),
    });
    expect(states.get('ExistingJobStatus?')).toMatchObject({
      Choices: [
        { Variable: '$.transformJob.status', StringEquals: 'Completed', Next: 'MarkAggregateStart' },
        { Next: 'WaitForExistingJob' },
      ],
      Default: 'TransformJobFailed',
    });
  });

  it('catches only what a redrive cannot fix into finalize-failure; anything else fails at its state, redrivable', () => {
    const guarded = [...states.entries()].filter(
      ([name, state]) =>
        (state.Type === 'Task' || state.Type === 'Map') &&
        !['PreprocessBatch', 'AggregatePart', 'DescribeExistingJob'].includes(name) &&
        !name.startsWith('Finalize') &&
        !name.startsWith('Notify'),
    );

    expect(guarded.length).toBeGreaterThanOrEqual(7);
    for (const [name, state] of guarded) {
      const catches = (state.Catch ?? []) as Array<{ ErrorEquals: string[]; Next: string }>;
      const finalizing = catches.find((c) => c.Next.startsWith('Finalize'));
      expect(finalizing?.ErrorEquals, name).toEqual([...NOT_REDRIVABLE_ERRORS]);
      expect(
        catches.some((c) => c.ErrorEquals.includes('States.ALL')),
        name,
      ).toBe(false);
    }
    expect(states.get('FinalizeFailure')).toMatchObject({
      Next: 'NotifyFailure',
      ResultPath: '$.notification',
      Parameters: { 'attempt.$': '$$.Execution.RedriveCount' },
    });
    expect(states.get('NotifyFailure')).toMatchObject({ Resource: 'arn:aws:states:::sns:publish', Next: 'RunFailed' });
    expect(states.get('RunFailed')?.Type).toBe('Fail');
  });

  it('retries transient errors with backoff and jitter, and never retries caller errors', () => {
    const retried = [...states.values()].flatMap(
      (state) => (state.Retry ?? []) as Array<{ ErrorEquals: string[]; BackoffRate?: number }>,
    );
    const plan = (states.get('Plan')?.Retry ?? []) as Array<Record<string, unknown>>;

    expect(plan[0]).toMatchObject({
      ErrorEquals: expect.arrayContaining([
        'Lambda.ServiceException',
        'Lambda.TooManyRequestsException',
        ...RETRYABLE_ERROR_NAMES,
      ]),
      BackoffRate: 2,
      JitterStrategy: 'FULL',
      MaxDelaySeconds: 60,
    });
    expect(((states.get('Transform')?.Retry ?? []) as Array<{ ErrorEquals: string[] }>)[0]?.ErrorEquals).toContain(
      'SageMaker.ThrottlingException',
    );
    for (const retry of retried) {
      for (const callerError of [...CALLER_ERROR_NAMES, 'States.ALL', 'States.TaskFailed']) {
        expect(retry.ErrorEquals).not.toContain(callerError);
      }
    }
  });

  it('keeps the state small: items and results stay in S3, the payload holds references and counts only', () => {
    const preprocess = states.get('Preprocess');
    const aggregate = states.get('Aggregate');

    expect(preprocess?.ResultPath).toBeNull();
    expect(aggregate?.ResultSelector).toEqual({
      'bucket.$': '$.ResultWriterDetails.Bucket',
      'manifestKey.$': '$.ResultWriterDetails.Key',
    });
    expect(JSON.stringify(definition)).not.toContain('"ItemsPath"');
  });
});
