import validator from 'asl-validator';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TRANSFORM_AMI_VERSION,
  EXISTING_JOB_WAIT,
  EXPRESS_MAX_SECONDS,
  NOT_REDRIVABLE_ERRORS,
  SAGEMAKER_ERRORS,
} from '../../pipeline/state-machine.ts';
import { CALLER_ERROR_NAMES, RETRYABLE_ERROR_NAMES } from '../../shared/errors.ts';
import { TRANSFORM_DATA_PROCESSING } from '../../shared/records.ts';
import { AGGREGATE_PARTS_PER_CHILD } from '../../shared/stage-sizing.ts';
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
  let template: Template;

  beforeAll(() => {
    template = synthStack().template;
    definition = placeholderDefinition(template) as Definition;
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
      ItemBatcher: {
        MaxItemsPerBatch: AGGREGATE_PARTS_PER_CHILD,
        BatchInput: { 'runId.$': '$.plan.runId', 'pipelineBucket.$': '$.plan.pipelineBucket' },
      },
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
        TransformAmiVersion: DEFAULT_TRANSFORM_AMI_VERSION,
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
    expect(catches[0]).toMatchObject({ Next: 'FirstJobWait', ErrorEquals: [SAGEMAKER_ERRORS.api] });
    expect(states.get('FirstJobWait')?.Next).toBe('DescribeExistingJob');
    expect(states.get('ExistingJobStatus?')).toMatchObject({
      Choices: [
        { Variable: '$.transformJob.status', StringEquals: 'Completed', Next: 'MarkAggregateStart' },
        { Next: 'WaitForExistingJob' },
      ],
      Default: 'TransformJobFailed',
    });
    // No such job: one more request, whose API errors stay uncaught (the execution fails there, redrivable).
    expect(states.get('DescribeExistingJob')?.Catch).toEqual([
      expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'BeforeTransformAgain' }),
    ]);
    expect(states.get('BeforeTransformAgain')?.Next).toBe('TransformAgain');
    expect(states.get('TransformAgain')).toMatchObject({
      Resource: 'arn:aws:states:::sagemaker:createTransformJob.sync',
      Next: 'MarkAggregateStart',
      Parameters: states.get('Transform')?.Parameters,
    });
    expect(states.get('TransformAgain')?.Catch).toBeUndefined();
  });

  it('waits on an existing job with a capped back-off, so the loop cannot reach the history limit first', () => {
    const timeoutSeconds = (definition as { TimeoutSeconds?: number }).TimeoutSeconds ?? 0;
    const loop = ['WaitForExistingJob', 'LongerJobWait?', 'DoubleJobWait', 'DescribeExistingJob', 'ExistingJobStatus?'];
    // Per state: entered + exited; a task adds scheduled, started and succeeded.
    const eventsPerLoop = loop.reduce((sum, name) => sum + (states.get(name)?.Type === 'Task' ? 5 : 2), 0);
    const doublings = Math.ceil(Math.log2(EXISTING_JOB_WAIT.maxSeconds / EXISTING_JOB_WAIT.firstSeconds));
    const loops = doublings + Math.ceil(timeoutSeconds / EXISTING_JOB_WAIT.maxSeconds);

    expect(states.get('WaitForExistingJob')).toMatchObject({
      SecondsPath: '$.jobWait.seconds',
      Next: 'LongerJobWait?',
    });
    expect(states.get('LongestJobWait')?.Parameters).toEqual({ seconds: EXISTING_JOB_WAIT.maxSeconds });
    expect(states.get('DoubleJobWait')?.Parameters).toEqual({
      'seconds.$': 'States.MathAdd($.jobWait.seconds, $.jobWait.seconds)',
    });
    expect(timeoutSeconds).toBe(48 * 3600);
    // Step Functions quota: 25,000 events in one execution's history; leave most of it for the rest of the run.
    expect(loops * eventsPerLoop).toBeLessThan(5_000);
  });

  it("stops the attempt's transform job before finalizing a failure, whatever StopTransformJob answers", () => {
    const stop = states.get('StopTransformJob');

    expect(stop).toMatchObject({
      Resource: 'arn:aws:states:::aws-sdk:sagemaker:stopTransformJob',
      Parameters: {
        'TransformJobName.$': "States.Format('{}-{}', $.plan.transformJobName, $$.Execution.RedriveCount)",
      },
      ResultPath: null,
      Next: 'FinalizeFailure',
      Catch: [expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'FinalizeFailure' })],
    });
    const intoFinalize = [...states.entries()].filter(([, state]) =>
      ((state.Catch ?? []) as Array<{ Next: string }>).some((c) => c.Next === 'FinalizeFailure'),
    );
    expect(intoFinalize.map(([name]) => name)).toEqual(['StopTransformJob']);
  });

  it('uses only the error names the SageMaker integration emits, and retries only the quota error at Transform', () => {
    const named = [...states.values()].flatMap((state) =>
      [
        ...((state.Retry ?? []) as Array<{ ErrorEquals: string[] }>),
        ...((state.Catch ?? []) as Array<{ ErrorEquals: string[] }>),
      ]
        .flatMap((rule) => rule.ErrorEquals)
        .filter((name) => name.startsWith('SageMaker.')),
    );

    expect(new Set(named)).toEqual(new Set(Object.values(SAGEMAKER_ERRORS)));
    for (const name of ['Transform', 'TransformAgain']) {
      expect(states.get(name)?.Retry, name).toEqual([
        expect.objectContaining({ ErrorEquals: [SAGEMAKER_ERRORS.resourceLimit], MaxAttempts: 3 }),
      ]);
    }
  });

  it('fits every Distributed Map child (Lambda attempts, time-outs and back-offs) inside the five minutes of an Express execution', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    const timeoutOf = (stage: string) =>
      Object.entries(functions).find(([id]) => id.startsWith(`Stages${stage}`))?.[1].Properties.Timeout as number;

    for (const [task, stage] of [
      ['PreprocessBatch', 'preprocess'],
      ['AggregatePart', 'aggregate'],
    ] as const) {
      const retries = (states.get(task)?.Retry ?? []) as Array<{
        ErrorEquals: string[];
        IntervalSeconds: number;
        MaxAttempts: number;
        BackoffRate?: number;
        MaxDelaySeconds?: number;
      }>;
      const delays = retries.reduce((sum, r) => {
        let total = 0;
        for (let k = 0; k < r.MaxAttempts; k++) {
          total += Math.min(
            r.IntervalSeconds * (r.BackoffRate ?? 2) ** k,
            r.MaxDelaySeconds ?? Number.POSITIVE_INFINITY,
          );
        }
        return sum + total;
      }, 0);
      // A throttled invoke never runs the function; every other retry runs it once more.
      const runs =
        1 +
        retries
          .filter((r) => !r.ErrorEquals.includes('Lambda.TooManyRequestsException'))
          .reduce((n, r) => n + r.MaxAttempts, 0);
      const worst = runs * timeoutOf(stage) + delays;

      expect(timeoutOf(stage), stage).toBeGreaterThan(0);
      expect(worst, `${task}: ${runs} runs x ${timeoutOf(stage)} s + ${delays} s`).toBeLessThanOrEqual(
        EXPRESS_MAX_SECONDS,
      );
    }
  });

  it('catches only what a redrive cannot fix into finalize-failure; anything else fails at its state, redrivable', () => {
    const guarded = [...states.entries()].filter(
      ([name, state]) =>
        (state.Type === 'Task' || state.Type === 'Map') &&
        // Children, the existing-job path, the last transform request (uncaught so it stays redrivable), the stop.
        !['PreprocessBatch', 'AggregatePart', 'DescribeExistingJob', 'TransformAgain', 'StopTransformJob'].includes(
          name,
        ) &&
        !name.startsWith('Finalize') &&
        !name.startsWith('Notify'),
    );

    expect(guarded.length).toBeGreaterThanOrEqual(7);
    for (const [name, state] of guarded) {
      const catches = (state.Catch ?? []) as Array<{ ErrorEquals: string[]; Next: string }>;
      const finalizing = catches.find((c) => c.Next.startsWith('Finalize') || c.Next === 'StopTransformJob');
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
    // Before the plan the state may be a string or an array, where `$.error` cannot be written: the error replaces it.
    expect(states.get('Plan')?.Catch).toEqual([
      { ErrorEquals: [...NOT_REDRIVABLE_ERRORS], ResultPath: '$', Next: 'FinalizePlanError' },
    ]);
    expect(states.get('FinalizePlanError')).toMatchObject({ Type: 'Pass', Parameters: { 'error.$': '$' } });
    expect(states.get('FinalizePlanFailure')).toMatchObject({ Parameters: { 'input.$': '$$.Execution.Input' } });
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
