import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { NOT_REDRIVABLE_ERROR_NAMES, RETRYABLE_ERROR_NAMES } from '../shared/errors.ts';
import { mapResultsLayout, TRANSFORM_JOB_PREFIX } from '../shared/layout.ts';
import { AGGREGATE_PARTS_PER_CHILD } from '../shared/stage-sizing.ts';
import { TransformJobTask } from './transform-job-task.ts';

/** Re-exported from its own module, which the local progress display imports without aws-cdk-lib. */
export { STAGE_OF_STATE } from './state-stages.ts';

/** The Lambda functions of the stages the state machine calls. */
export interface PipelineFunctions {
  /** stages/plan */
  readonly plan: lambda.IFunction;
  /** stages/preprocess: the Preprocess map's child task */
  readonly preprocess: lambda.IFunction;
  /** stages/aggregate: the Aggregate map's child task */
  readonly aggregate: lambda.IFunction;
  /** stages/report */
  readonly report: lambda.IFunction;
  /** stages/finalize-failure */
  readonly finalizeFailure: lambda.IFunction;
}

/** Properties of {@link NightshiftStateMachine}. */
export interface NightshiftStateMachineProps {
  /** The stage Lambdas the tasks invoke. */
  readonly functions: PipelineFunctions;
  /** Holds run data, transform input/output and reports. */
  readonly pipelineBucket: s3.IBucket;
  /** SageMaker model the transform job runs. */
  readonly modelName: string;
  /** Failure notifications go here. */
  readonly notificationTopic: sns.ITopic;
  /** Encrypts the transform output and volumes. @default - the bucket's default encryption */
  readonly encryptionKey?: kms.IKey;
  /**
   * Child workflows of both Distributed Maps. EXPRESS: each child is one Lambda batch, well inside Express's
   * five minutes, and costs about a fifth of STANDARD at a million images (docs/cost.md).
   * @default sfn.StateMachineType.EXPRESS
   */
  readonly childWorkflowType?: sfn.StateMachineType;
  /** @default - no execution logging */
  readonly logDestination?: logs.ILogGroup;
  /** @default true */
  readonly tracingEnabled?: boolean;
  /** @default Duration.hours(48) */
  readonly timeout?: Duration;
  /**
   * `TransformResources.TransformAmiVersion` of every transform job (see {@link TransformJobTaskProps}).
   * @default DEFAULT_TRANSFORM_AMI_VERSION
   */
  readonly transformAmiVersion?: string;
}

/**
 * NVIDIA driver 535 (CUDA 12.2 driver API, with forward compatibility for the image's CUDA 12.8 runtime): the
 * model image is CUDA 12 + cuDNN 9, and SageMaker's default AMI for ml.g5 batch transform has driver 470
 * (CUDA 11.4), on which the container cannot start (SageMaker inference-gpu-drivers; TransformResources API).
 */
export const DEFAULT_TRANSFORM_AMI_VERSION = 'al2-ami-sagemaker-batch-gpu-535';

/**
 * How the wait for an existing job backs off: the first wait, doubled each time up to the cap. With the cap, a loop
 * adds at most ~13 history events per `maxSeconds`, so even a whole 48-hour execution stays far below Step
 * Functions' 25,000-event history quota (asserted in test/unit/state-machine.test.ts).
 */
export const EXISTING_JOB_WAIT = { firstSeconds: 30, maxSeconds: 600 } as const;

/** Lambda errors worth another attempt: the service's own, throttling, and our retryable family. */
const TRANSIENT_LAMBDA_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
  ...RETRYABLE_ERROR_NAMES,
];

/**
 * The error names the optimised SageMaker integration reports for CreateTransformJob (docs/decisions.md, "SageMaker
 * error names"): `SageMaker.ResourceLimitExceededException` when the account's instance quota is used up, and
 * `SageMaker.AmazonSageMakerException` for every other API error (validation, a name in use, throttling). A job
 * that ran and failed is `States.TaskFailed`.
 */
export const SAGEMAKER_ERRORS = {
  resourceLimit: 'SageMaker.ResourceLimitExceededException',
  api: 'SageMaker.AmazonSageMakerException',
} as const;

/** Lambda errors that mean the function never ran (the invoke was throttled), so no time-out was spent. */
const LAMBDA_THROTTLED = ['Lambda.TooManyRequestsException'];

/** Where each part of the state lives. */
const P = {
  plan: '$.plan',
  runId: '$.plan.runId',
  bucket: '$.plan.pipelineBucket',
  preprocess: '$.plan.settings.preprocess',
  transform: '$.plan.settings.transform',
  cursor: '$.cursor',
  job: '$.transformJob',
  aggregate: '$.aggregate',
  error: '$.error',
} as const;

/**
 * The Nightshift pipeline as one Standard state machine:
 * Plan -> (nothing to do? Report) -> Preprocess (a Distributed Map per item part) -> Transform (Batch Transform,
 * RUN_JOB) -> Aggregate (Distributed Map over the .out objects) -> Report -> Succeed, with every step caught into
 * finalize-failure -> SNS -> Fail.
 *
 * Nothing in the state grows with the dataset: item lists stay in S3 (ItemReader), map results go to S3
 * (ResultWriter), and the parent history grows by about a dozen events per 100,000 items.
 */
export class NightshiftStateMachine extends Construct {
  /** The Standard state machine. */
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: NightshiftStateMachineProps) {
    super(scope, id);
    const { functions: fn, pipelineBucket: bucket } = props;
    const childType = props.childWorkflowType ?? sfn.StateMachineType.EXPRESS;
    const transformJobs = Stack.of(this).formatArn({
      service: 'sagemaker',
      resource: 'transform-job',
      resourceName: `${TRANSFORM_JOB_PREFIX}*`,
    });
    // Unique per execution (plan's base name) and per redrive: a redriven Transform creates a new job instead of
    // colliding with the failed one; a retry within one attempt finds its own job and waits on it
    // (shared/transform-job-name.ts builds the same name for finalize-failure).
    const jobName = sfn.JsonPath.format(
      '{}-{}',
      sfn.JsonPath.stringAt('$.plan.transformJobName'),
      sfn.JsonPath.stringAt('$$.Execution.RedriveCount'),
    );

    // Failure path: finalize-failure marks the run FAILED and words the notification.
    const notify = new tasks.SnsPublish(this, 'NotifyFailure', {
      topic: props.notificationTopic,
      subject: sfn.JsonPath.stringAt('$.notification.subject'),
      message: sfn.TaskInput.fromJsonPathAt('$.notification.message'),
      resultPath: sfn.JsonPath.DISCARD,
    });
    const fail = new sfn.Fail(this, 'RunFailed', { errorPath: '$.error.Error', causePath: '$.notification.message' });
    notify.next(fail);
    const finalize = (id: string, withRunId: boolean) => {
      const task = this.lambdaStep(
        id,
        fn.finalizeFailure,
        {
          executionName: sfn.JsonPath.stringAt('$$.Execution.Name'),
          executionArn: sfn.JsonPath.stringAt('$$.Execution.Id'),
          // Before the plan there is no run id in the state, only the execution input that may name one.
          ...(withRunId
            ? { runId: sfn.JsonPath.stringAt(P.runId) }
            : { input: sfn.JsonPath.objectAt('$$.Execution.Input') }),
          error: sfn.JsonPath.objectAt(P.error),
          attempt: sfn.JsonPath.numberAt('$$.Execution.RedriveCount'),
        },
        '$.notification',
      );
      task.addRetry(this.lambdaRetry());
      // Even if finalizing fails, the failure is still announced and the execution fails.
      task.addCatch(notifyRaw, { resultPath: '$.finalizeError' });
      return task.next(notify);
    };
    // Stops this attempt's transform job before finalizing: a job left running keeps billing GPU instances. Most
    // failures reach here with no job running; StopTransformJob then fails (no such job, or it already ended) and
    // that is fine.
    const stopJobThen = (next: sfn.IChainable) => {
      const stop = new tasks.CallAwsService(this, 'StopTransformJob', {
        service: 'sagemaker',
        action: 'stopTransformJob',
        parameters: { TransformJobName: jobName },
        iamResources: [transformJobs],
        iamAction: 'sagemaker:StopTransformJob',
        resultPath: sfn.JsonPath.DISCARD,
      });
      stop.addCatch(next, { errors: [sfn.Errors.ALL], resultPath: '$.stopError' });
      return stop.next(next);
    };
    const notifyRaw = new tasks.SnsPublish(this, 'NotifyFailureUnfinalized', {
      topic: props.notificationTopic,
      subject: 'Nightshift run failed (run record not updated)',
      message: sfn.TaskInput.fromObject({
        execution: sfn.JsonPath.stringAt('$$.Execution.Id'),
        error: sfn.JsonPath.objectAt(P.error),
        finalizeError: sfn.JsonPath.objectAt('$.finalizeError'),
      }),
      resultPath: sfn.JsonPath.DISCARD,
    }).next(new sfn.Fail(this, 'RunFailedUnfinalized', { errorPath: '$.error.Error', causePath: '$.error.Cause' }));
    const failBeforePlan = finalize('FinalizePlanFailure', false);
    const failAfterPlan = stopJobThen(finalize('FinalizeFailure', true));
    // Only errors a redrive cannot fix are caught here (the caller's input, our own data): any other failure ends the
    // execution at the failed state, so `RedriveExecution` resumes there (a redrive from a Catch's Fail state would
    // just fail again). Those executions are finalized by the EventBridge rule on FAILED/TIMED_OUT/ABORTED
    // executions (infra/nightshift-stack.ts), which also covers time-outs and aborts that no Catch sees.
    const catchInto = <T extends sfn.TaskStateBase | sfn.DistributedMap>(state: T, handler: sfn.IChainable): T => {
      state.addCatch(handler, { errors: [...NOT_REDRIVABLE_ERRORS], resultPath: P.error });
      return state;
    };

    // Plan
    const plan = this.lambdaStep(
      'Plan',
      fn.plan,
      {
        input: sfn.JsonPath.entirePayload,
        execution: {
          name: sfn.JsonPath.stringAt('$$.Execution.Name'),
          id: sfn.JsonPath.stringAt('$$.Execution.Id'),
          startTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        },
      },
      P.plan,
    );
    plan.addRetry({ ...this.lambdaRetry() });
    // Until the plan has run, the state is the execution input, which may be a string or an array: a ResultPath such
    // as `$.error` cannot be set on those (States.ResultPathMatchFailure would hide the plan's InvalidInputError).
    // The caught error replaces the state instead, and finalize reads the input from the context object.
    plan.addCatch(new sfn.Pass(this, 'FinalizePlanError', { parameters: { 'error.$': '$' } }).next(failBeforePlan), {
      errors: [...NOT_REDRIVABLE_ERRORS],
      resultPath: '$',
    });

    // Report: with the aggregate Map's results, or with none when nothing reached the transform.
    const report = (id: string, withAggregate: boolean) => {
      const task = this.lambdaStep(id, fn.report, {
        runId: sfn.JsonPath.stringAt(P.runId),
        pipelineBucket: sfn.JsonPath.stringAt(P.bucket),
        ...(withAggregate
          ? {
              aggregateResults: sfn.JsonPath.objectAt(P.aggregate),
              // When each stage started, recorded by the Mark* states (ISO times from the context object).
              stageTimes: {
                plan: {
                  startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
                  finishedAt: sfn.JsonPath.stringAt('$.times.preprocess.at'),
                },
                preprocess: {
                  startedAt: sfn.JsonPath.stringAt('$.times.preprocess.at'),
                  finishedAt: sfn.JsonPath.stringAt('$.times.transform.at'),
                },
                transform: {
                  startedAt: sfn.JsonPath.stringAt('$.times.transform.at'),
                  finishedAt: sfn.JsonPath.stringAt('$.times.aggregate.at'),
                },
                aggregate: {
                  startedAt: sfn.JsonPath.stringAt('$.times.aggregate.at'),
                  finishedAt: sfn.JsonPath.stringAt('$$.State.EnteredTime'),
                },
              },
            }
          : {}),
      });
      task.addRetry(this.lambdaRetry());
      return catchInto(task, failAfterPlan).next(new sfn.Succeed(this, `${id}Done`));
    };
    const reportNoTransform = report('ReportWithoutTransform', false);

    // Preprocess: one Distributed Map run per item part (plan writes parts of up to 100,000 items).
    const firstPart = new sfn.Pass(this, 'FirstPart', {
      parameters: { index: 0 },
      resultPath: P.cursor,
    });
    const partKey = new sfn.Pass(this, 'PartKey', {
      parameters: {
        index: sfn.JsonPath.numberAt('$.cursor.index'),
        key: sfn.JsonPath.format(
          '{}part-{}.jsonl',
          sfn.JsonPath.stringAt('$.plan.items.partsPrefix'),
          sfn.JsonPath.stringAt('$.cursor.index'),
        ),
      },
      resultPath: P.cursor,
    });
    const preprocessBatch = this.lambdaStep('PreprocessBatch', fn.preprocess, 'whole-input');
    for (const retry of childRetries()) preprocessBatch.addRetry(retry);
    const preprocess = new sfn.DistributedMap(this, 'Preprocess', {
      // bucketNamePath rather than bucket: the construct then grants nothing itself, and the stack grants
      // reads of runs/ only instead of the whole bucket.
      itemReader: new sfn.S3JsonLItemReader({
        bucketNamePath: sfn.JsonPath.stringAt(P.bucket),
        key: sfn.JsonPath.stringAt('$.cursor.key'),
      }),
      itemBatcher: new sfn.ItemBatcher({
        maxItemsPerBatchPath: `${P.preprocess}.batchSize`,
        // A Lambda payload and a child's input are capped at 256 KiB; keep room for BatchInput.
        maxInputBytesPerBatch: 200 * 1024,
        // ItemBatcher renders BatchInput verbatim (no JsonPath token handling), so the `.$` keys are written out.
        batchInput: {
          'runId.$': P.runId,
          'pipelineBucket.$': P.bucket,
          'settings.$': P.preprocess,
        },
      }),
      maxConcurrencyPath: `${P.preprocess}.maxConcurrency`,
      toleratedFailurePercentagePath: `${P.preprocess}.toleratedFailurePercentage`,
      mapExecutionType: childType,
      resultWriterV2: new PrefixScopedResultWriter(bucket, mapResultsLayout.preprocess),
      resultPath: sfn.JsonPath.DISCARD,
      label: 'Preprocess',
    });
    preprocess.itemProcessor(preprocessBatch);
    catchInto(preprocess, failAfterPlan);
    const nextPart = new sfn.Pass(this, 'NextPart', {
      parameters: { index: sfn.JsonPath.mathAdd(sfn.JsonPath.numberAt('$.cursor.index'), 1) },
      resultPath: P.cursor,
    });

    // Transform: skipped when every item was rejected (an empty input prefix would fail the job).
    const countInput = new tasks.CallAwsService(this, 'CountTransformInput', {
      service: 's3',
      action: 'listObjectsV2',
      parameters: {
        Bucket: sfn.JsonPath.stringAt(P.bucket),
        Prefix: sfn.JsonPath.stringAt('$.plan.transformInputPrefix'),
        MaxKeys: 1,
      },
      iamResources: [bucket.bucketArn],
      iamAction: 's3:ListBucket',
      resultSelector: { objects: sfn.JsonPath.numberAt('$.KeyCount') },
      resultPath: '$.transformInput',
    });
    countInput.addRetry({
      errors: ['S3.SdkClientException', 'S3.S3Exception'],
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
    });
    catchInto(countInput, failAfterPlan);

    const transformProps = {
      transformJobName: jobName,
      modelName: props.modelName,
      bucket,
      inputS3Uri: sfn.JsonPath.format(
        's3://{}/{}',
        sfn.JsonPath.stringAt(P.bucket),
        sfn.JsonPath.stringAt('$.plan.transformInputPrefix'),
      ),
      outputS3Uri: sfn.JsonPath.format(
        's3://{}/{}',
        sfn.JsonPath.stringAt(P.bucket),
        sfn.JsonPath.stringAt('$.plan.transformOutputPrefix'),
      ),
      instanceType: sfn.JsonPath.stringAt(`${P.transform}.instanceType`),
      instanceCount: sfn.JsonPath.numberAt(`${P.transform}.instanceCount`),
      maxPayloadInMB: sfn.JsonPath.numberAt(`${P.transform}.maxPayloadInMB`),
      maxConcurrentTransforms: sfn.JsonPath.numberAt(`${P.transform}.maxConcurrentTransforms`),
      invocationsTimeoutInSeconds: sfn.JsonPath.numberAt(`${P.transform}.invocationTimeoutSeconds`),
      invocationsMaxRetries: sfn.JsonPath.numberAt(`${P.transform}.invocationRetries`),
      transformAmiVersion: props.transformAmiVersion ?? DEFAULT_TRANSFORM_AMI_VERSION,
      ...(props.encryptionKey ? { encryptionKey: props.encryptionKey } : {}),
      resultSelector: {
        name: sfn.JsonPath.stringAt('$.TransformJobName'),
        status: sfn.JsonPath.stringAt('$.TransformJobStatus'),
      },
      resultPath: P.job,
      taskTimeout: sfn.Timeout.duration(Duration.hours(24)),
    };
    // The instance quota may free up as other jobs end: wait for it a while. Past that the error stays uncaught, so
    // the execution fails at this state and a redrive (after a quota increase) resumes here with a new job name.
    const capacityRetry: sfn.RetryProps = {
      errors: [SAGEMAKER_ERRORS.resourceLimit],
      interval: Duration.minutes(1),
      backoffRate: 2,
      maxAttempts: 3,
      maxDelay: Duration.minutes(10),
      jitterStrategy: sfn.JitterType.FULL,
    };
    const transform = new TransformJobTask(this, 'Transform', transformProps);
    transform.addRetry(capacityRetry);
    // Any other API error is not retried blindly: the job may exist already (created by an attempt whose answer was
    // lost, which a retry would collide with), so the catch path looks for it first.
    const describeJob = new tasks.CallAwsService(this, 'DescribeExistingJob', {
      service: 'sagemaker',
      action: 'describeTransformJob',
      parameters: { TransformJobName: jobName },
      iamResources: [transformJobs],
      resultSelector: {
        name: sfn.JsonPath.stringAt('$.TransformJobName'),
        status: sfn.JsonPath.stringAt('$.TransformJobStatus'),
        job: sfn.JsonPath.entirePayload,
      },
      resultPath: P.job,
    });
    // No such job: the CreateTransformJob error was real (a refused parameter, throttling). One more request, with no
    // Catch for API errors: if it is refused again the execution fails at that state with SageMaker's message, is
    // finalized by the execution-status rule, and can be redriven once the cause is fixed.
    const transformAgain = new TransformJobTask(this, 'TransformAgain', transformProps);
    transformAgain.addRetry(capacityRetry);
    describeJob.addCatch(
      new sfn.Wait(this, 'BeforeTransformAgain', { time: sfn.WaitTime.duration(Duration.seconds(30)) }).next(
        transformAgain,
      ),
      {
        errors: [sfn.Errors.ALL],
        resultPath: '$.describeError',
      },
    );
    const firstJobWait = new sfn.Pass(this, 'FirstJobWait', {
      parameters: { seconds: EXISTING_JOB_WAIT.firstSeconds },
      resultPath: '$.jobWait',
    });
    transform.addCatch(firstJobWait.next(describeJob), { errors: [SAGEMAKER_ERRORS.api], resultPath: P.error });
    catchInto(transform, failAfterPlan);
    // Backs off (doubling, capped) so the loop cannot fill the execution history before the state machine times out.
    const waitForJob = new sfn.Wait(this, 'WaitForExistingJob', {
      time: sfn.WaitTime.secondsPath('$.jobWait.seconds'),
    });
    const longerWait = new sfn.Choice(this, 'LongerJobWait?')
      .when(
        sfn.Condition.numberGreaterThanEquals('$.jobWait.seconds', EXISTING_JOB_WAIT.maxSeconds / 2),
        new sfn.Pass(this, 'LongestJobWait', {
          parameters: { seconds: EXISTING_JOB_WAIT.maxSeconds },
          resultPath: '$.jobWait',
        }).next(describeJob),
      )
      .otherwise(
        new sfn.Pass(this, 'DoubleJobWait', {
          parameters: {
            seconds: sfn.JsonPath.mathAdd(
              sfn.JsonPath.numberAt('$.jobWait.seconds'),
              sfn.JsonPath.numberAt('$.jobWait.seconds'),
            ),
          },
          resultPath: '$.jobWait',
        }).next(describeJob),
      );
    const jobFailed = new sfn.Pass(this, 'TransformJobFailed', {
      parameters: {
        Error: 'TransformJobFailed',
        Cause: sfn.JsonPath.format(
          'Transform job {} ended {}: {}',
          sfn.JsonPath.stringAt('$.transformJob.name'),
          sfn.JsonPath.stringAt('$.transformJob.status'),
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.transformJob.job')),
        ),
      },
      resultPath: P.error,
    }).next(failAfterPlan);

    // Aggregate: one child per AGGREGATE_PARTS_PER_CHILD .out objects (a child start is a Standard transition, an
    // Express request and a Lambda request, whatever the child does); per-part statistics go to S3 through
    // ResultWriter. ItemSelector shapes each listed object before ItemBatcher groups them into the child's `Items`.
    const aggregatePart = this.lambdaStep('AggregatePart', fn.aggregate, 'whole-input');
    for (const retry of childRetries()) aggregatePart.addRetry(retry);
    const aggregate = new sfn.DistributedMap(this, 'Aggregate', {
      itemReader: new sfn.S3ObjectsItemReader({
        bucket,
        prefix: sfn.JsonPath.stringAt('$.plan.transformOutputPrefix'),
      }),
      itemSelector: { key: sfn.JsonPath.stringAt('$$.Map.Item.Value.Key') },
      itemBatcher: new sfn.ItemBatcher({
        maxItemsPerBatch: AGGREGATE_PARTS_PER_CHILD,
        // As for Preprocess: BatchInput is rendered verbatim, so the `.$` keys are written out.
        batchInput: { 'runId.$': P.runId, 'pipelineBucket.$': P.bucket },
      }),
      maxConcurrencyPath: `${P.preprocess}.maxConcurrency`,
      toleratedFailurePercentagePath: `${P.preprocess}.toleratedFailurePercentage`,
      mapExecutionType: childType,
      resultWriterV2: new PrefixScopedResultWriter(bucket, mapResultsLayout.aggregate),
      resultSelector: {
        bucket: sfn.JsonPath.stringAt('$.ResultWriterDetails.Bucket'),
        manifestKey: sfn.JsonPath.stringAt('$.ResultWriterDetails.Key'),
      },
      resultPath: P.aggregate,
      label: 'Aggregate',
    });
    aggregate.itemProcessor(aggregatePart);
    catchInto(aggregate, failAfterPlan);
    const reportAll = report('Report', true);
    aggregate.next(reportAll);
    const mark = (stage: string) =>
      new sfn.Pass(this, `Mark${stage[0]?.toUpperCase()}${stage.slice(1)}Start`, {
        parameters: { at: sfn.JsonPath.stringAt('$$.State.EnteredTime') },
        resultPath: `$.times.${stage}`,
      });
    const markAggregate = mark('aggregate').next(aggregate);
    const markPreprocess = mark('preprocess');
    const markTransform = mark('transform');

    transform.next(markAggregate);
    transformAgain.next(markAggregate);
    describeJob.next(
      new sfn.Choice(this, 'ExistingJobStatus?')
        .when(sfn.Condition.stringEquals('$.transformJob.status', 'Completed'), markAggregate)
        .when(
          sfn.Condition.or(
            sfn.Condition.stringEquals('$.transformJob.status', 'InProgress'),
            sfn.Condition.stringEquals('$.transformJob.status', 'Stopping'),
          ),
          waitForJob.next(longerWait),
        )
        .otherwise(jobFailed),
    );

    const definition = plan.next(
      new sfn.Choice(this, 'AnythingToPreprocess?')
        .when(sfn.Condition.stringEquals('$.plan.next', 'empty'), reportNoTransform)
        .otherwise(
          markPreprocess
            .next(firstPart)
            .next(partKey)
            .next(preprocess)
            .next(nextPart)
            .next(
              new sfn.Choice(this, 'MoreParts?')
                .when(sfn.Condition.numberLessThanJsonPath('$.cursor.index', '$.plan.items.partCount'), partKey)
                .otherwise(
                  markTransform
                    .next(countInput)
                    .next(
                      new sfn.Choice(this, 'AnythingToTransform?')
                        .when(sfn.Condition.numberGreaterThan('$.transformInput.objects', 0), transform)
                        .otherwise(reportNoTransform),
                    ),
                ),
            ),
        ),
    );

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: props.timeout ?? Duration.hours(48),
      tracingEnabled: props.tracingEnabled ?? true,
      ...(props.logDestination
        ? { logs: { destination: props.logDestination, level: sfn.LogLevel.ALL, includeExecutionData: false } }
        : {}),
    });
  }

  /** A Lambda task that returns the function's own payload. */
  private lambdaStep(
    id: string,
    fn: lambda.IFunction,
    payload: Record<string, unknown> | 'whole-input',
    resultPath?: string,
  ) {
    return new tasks.LambdaInvoke(this, id, {
      lambdaFunction: fn,
      // Without a payload the function gets the whole state input; `TaskInput.fromJsonPathAt('$')` would render
      // `"Parameters": "$"` with payloadResponseOnly, which is not valid ASL (the local engine refuses it).
      ...(payload === 'whole-input' ? {} : { payload: sfn.TaskInput.fromObject(payload) }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      ...(resultPath ? { resultPath } : {}),
    });
  }

  private lambdaRetry(): sfn.RetryProps {
    return {
      errors: TRANSIENT_LAMBDA_ERRORS,
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 6,
      maxDelay: Duration.seconds(60),
      jitterStrategy: sfn.JitterType.FULL,
    };
  }
}

/**
 * Retries of a Distributed Map child's Lambda task. An EXPRESS child lives at most five minutes (Step Functions
 * quotas: "Maximum execution duration" of Express workflows), so every attempt and back-off must fit in it:
 * a throttled invoke never runs the function and costs only its delay (1+2+4+8 s); any other transient error gets
 * one more run. Worst case: 2 x the function time-out + 2 s + 15 s, which test/unit/state-machine.test.ts checks
 * against the synthesized time-outs (infra/stage-functions.ts). A child that still fails is counted against the
 * map's tolerated failures and is rerun by a redrive.
 */
export function childRetries(): sfn.RetryProps[] {
  return [
    {
      errors: LAMBDA_THROTTLED,
      interval: Duration.seconds(1),
      backoffRate: 2,
      maxAttempts: 4,
      maxDelay: Duration.seconds(8),
      jitterStrategy: sfn.JitterType.FULL,
    },
    {
      errors: TRANSIENT_LAMBDA_ERRORS.filter((name) => !LAMBDA_THROTTLED.includes(name)),
      interval: Duration.seconds(2),
      maxAttempts: 1,
    },
  ];
}

/** Step Functions' limit on one Express execution's duration, in seconds. */
export const EXPRESS_MAX_SECONDS = 300;

/**
 * A ResultWriter whose IAM covers only its own prefix: aws-cdk's grants the whole bucket (or, with a bucket path,
 * every bucket).
 */
class PrefixScopedResultWriter extends sfn.ResultWriterV2 {
  constructor(
    private readonly target: s3.IBucket,
    private readonly keyPrefix: string,
  ) {
    super({ bucket: target, prefix: keyPrefix });
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.target.arnForObjects(`${this.keyPrefix}/*`)],
      }),
    ];
  }
}

/** Errors caught into finalize-failure (see shared/errors.ts). */
export const NOT_REDRIVABLE_ERRORS = NOT_REDRIVABLE_ERROR_NAMES;
