import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { TRANSFORM_JOB_PREFIX } from '../shared/layout.ts';
import { TRANSFORM_DATA_PROCESSING } from '../shared/records.ts';

/** Properties of {@link TransformJobTask}. JSONPath values (`sfn.JsonPath.*`) are accepted where noted. */
export interface TransformJobTaskProps extends sfn.TaskStateBaseProps {
  /** Job name (JSONPath allowed). */
  readonly transformJobName: string;
  /** The SageMaker model the job runs. */
  readonly modelName: string;
  /** The bucket holding the transform input and output. */
  readonly bucket: s3.IBucket;
  /** `s3://...` input prefix (JSONPath allowed). */
  readonly inputS3Uri: string;
  /** `s3://...` output path (JSONPath allowed). */
  readonly outputS3Uri: string;
  /** `TransformResources.InstanceType`, e.g. ml.g5.xlarge (JSONPath allowed). */
  readonly instanceType: string;
  /** `TransformResources.InstanceCount` (JSONPath allowed). */
  readonly instanceCount: number | string;
  /** `MaxPayloadInMB`, 0-100 (JSONPath allowed). */
  readonly maxPayloadInMB: number | string;
  /** `MaxConcurrentTransforms`; 0 asks the container (JSONPath allowed). */
  readonly maxConcurrentTransforms: number | string;
  /** `ModelClientConfig.InvocationsTimeoutInSeconds`, 1-3600 (JSONPath allowed). */
  readonly invocationsTimeoutInSeconds: number | string;
  /** `ModelClientConfig.InvocationsMaxRetries`, 0-3 (JSONPath allowed). */
  readonly invocationsMaxRetries: number | string;
  /**
   * `TransformResources.TransformAmiVersion`: the AMI (and so the NVIDIA driver) the GPU instances boot. Without it
   * SageMaker picks its default for the instance family, which for ml.g5 is driver 470 / CUDA 11.4 (SageMaker
   * "Best practices to minimize interruptions during GPU driver upgrades", inference-gpu-drivers): too old for a
   * CUDA 12 image. Values (CreateTransformJob API, TransformResources): `al2-ami-sagemaker-batch-gpu-470`,
   * `al2-ami-sagemaker-batch-gpu-535`.
   * @default - SageMaker's default AMI for the instance type
   */
  readonly transformAmiVersion?: string;
  /**
   * Encrypts the output objects (`TransformOutput.KmsKeyId`).
   * @default - the output bucket's default encryption
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Tags of the job.
   * @default - none
   */
  readonly tags?: Record<string, string>;
}

/**
 * `sagemaker:createTransformJob.sync` with the whole CreateTransformJob request, `DataProcessing` included.
 *
 * aws-cdk's `SageMakerCreateTransformJob` cannot render `DataProcessing` (aws-cdk#3362), which this pipeline
 * needs: `InputFilter` keeps item ids away from the container and `JoinSource: Input` brings them back beside each
 * prediction. This task renders the request itself, with the same RUN_JOB integration and IAM that the
 * aws-cdk task grants, narrowed to this pipeline's jobs.
 */
export class TransformJobTask extends sfn.TaskStateBase {
  protected readonly taskMetrics?: sfn.TaskMetricsConfig;
  protected readonly taskPolicies?: iam.PolicyStatement[];

  constructor(
    scope: Construct,
    id: string,
    private readonly props: TransformJobTaskProps,
  ) {
    super(scope, id, props);
    this.taskPolicies = this.policies();
  }

  /** The job's request, as the state's Parameters (JSONPath keys get their `.$` suffix from FieldUtils). */
  private request(): Record<string, unknown> {
    const p = this.props;
    const kmsKeyId = p.encryptionKey?.keyArn;
    return {
      TransformJobName: p.transformJobName,
      ModelName: p.modelName,
      BatchStrategy: 'MultiRecord',
      MaxPayloadInMB: p.maxPayloadInMB,
      MaxConcurrentTransforms: p.maxConcurrentTransforms,
      ModelClientConfig: {
        InvocationsTimeoutInSeconds: p.invocationsTimeoutInSeconds,
        InvocationsMaxRetries: p.invocationsMaxRetries,
      },
      TransformInput: {
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: p.inputS3Uri } },
        ContentType: 'application/jsonlines',
        SplitType: 'Line',
        CompressionType: 'None',
      },
      TransformOutput: {
        S3OutputPath: p.outputS3Uri,
        Accept: 'application/jsonlines',
        AssembleWith: 'Line',
        ...(kmsKeyId ? { KmsKeyId: kmsKeyId } : {}),
      },
      TransformResources: {
        InstanceType: p.instanceType,
        InstanceCount: p.instanceCount,
        // The optimised integration hands Parameters to CreateTransformJob as they are (the Step Functions
        // "Create and manage Amazon SageMaker AI jobs" page: the request syntax of the API), so the field the API
        // defines passes through; the template assertion in test/unit/state-machine.test.ts keeps it there.
        ...(p.transformAmiVersion ? { TransformAmiVersion: p.transformAmiVersion } : {}),
        // No VolumeKmsKeyId: SageMaker refuses it for instance types with local NVMe storage (the g5 default among
        // them), whose instance storage is encrypted by the hardware.
      },
      DataProcessing: { ...TRANSFORM_DATA_PROCESSING },
      ...(p.tags ? { Tags: Object.entries(p.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
    };
  }

  /** @internal */
  protected _renderTask(): unknown {
    return {
      Resource: `arn:${Aws.PARTITION}:states:::sagemaker:createTransformJob.sync`,
      Parameters: sfn.FieldUtils.renderObject(this.request()),
    };
  }

  private policies(): iam.PolicyStatement[] {
    const stack = Stack.of(this);
    const jobs = stack.formatArn({
      service: 'sagemaker',
      resource: 'transform-job',
      resourceName: `${TRANSFORM_JOB_PREFIX}*`,
    });
    return [
      new iam.PolicyStatement({
        actions: ['sagemaker:CreateTransformJob', 'sagemaker:DescribeTransformJob', 'sagemaker:StopTransformJob'],
        resources: [jobs],
      }),
      new iam.PolicyStatement({ actions: ['sagemaker:ListTags', 'sagemaker:AddTags'], resources: [jobs] }),
      // RUN_JOB (.sync) for SageMaker is implemented with an EventBridge managed rule of this fixed name.
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForSageMakerTransformJobsRule',
          }),
        ],
      }),
    ];
  }
}
