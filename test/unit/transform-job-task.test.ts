import { Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { TransformJobTask, type TransformJobTaskProps } from '../../pipeline/transform-job-task.ts';
import { TRANSFORM_JOB_PREFIX } from '../../shared/layout.ts';
import { TRANSFORM_DATA_PROCESSING } from '../../shared/records.ts';

function taskIn(stack: Stack, props: Partial<TransformJobTaskProps> = {}): TransformJobTask {
  return new TransformJobTask(stack, 'Transform', {
    transformJobName: sfn.JsonPath.stringAt('$.job.name'),
    modelName: 'ocr-model',
    bucket: new s3.Bucket(stack, 'Bucket'),
    inputS3Uri: sfn.JsonPath.stringAt('$.transform.input'),
    outputS3Uri: sfn.JsonPath.stringAt('$.transform.output'),
    instanceType: sfn.JsonPath.stringAt('$.settings.instanceType'),
    instanceCount: sfn.JsonPath.numberAt('$.settings.instanceCount'),
    maxPayloadInMB: 6,
    maxConcurrentTransforms: 0,
    invocationsTimeoutInSeconds: 600,
    invocationsMaxRetries: 1,
    ...props,
  });
}

describe('TransformJobTask', () => {
  it('renders the whole CreateTransformJob request for the .sync integration, DataProcessing included', () => {
    const stack = new Stack();
    const task = taskIn(stack, { tags: { pipeline: 'nightshift' } });

    const state = stack.resolve(task.toStateJson());

    expect(state).toEqual({
      End: true,
      Type: 'Task',
      Resource: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:::sagemaker:createTransformJob.sync']],
      },
      Parameters: {
        'TransformJobName.$': '$.job.name',
        ModelName: 'ocr-model',
        BatchStrategy: 'MultiRecord',
        MaxPayloadInMB: 6,
        MaxConcurrentTransforms: 0,
        ModelClientConfig: { InvocationsTimeoutInSeconds: 600, InvocationsMaxRetries: 1 },
        TransformInput: {
          DataSource: { S3DataSource: { S3DataType: 'S3Prefix', 'S3Uri.$': '$.transform.input' } },
          ContentType: 'application/jsonlines',
          SplitType: 'Line',
          CompressionType: 'None',
        },
        TransformOutput: {
          'S3OutputPath.$': '$.transform.output',
          Accept: 'application/jsonlines',
          AssembleWith: 'Line',
        },
        TransformResources: {
          'InstanceType.$': '$.settings.instanceType',
          'InstanceCount.$': '$.settings.instanceCount',
        },
        DataProcessing: TRANSFORM_DATA_PROCESSING,
        Tags: [{ Key: 'pipeline', Value: 'nightshift' }],
      },
    });
  });

  it('encrypts the output with the given key and leaves KmsKeyId out without one', () => {
    const stack = new Stack();
    const key = new kms.Key(stack, 'Key');

    const withKey = stack.resolve(taskIn(stack, { encryptionKey: key }).toStateJson());
    const without = stack.resolve(taskIn(new Stack()).toStateJson());

    expect(withKey.Parameters.TransformOutput.KmsKeyId).toEqual({
      'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'],
    });
    expect(without.Parameters.TransformOutput).not.toHaveProperty('KmsKeyId');
  });

  it("grants the state machine the job actions on the pipeline's job names only", () => {
    const stack = new Stack();
    const machine = new sfn.StateMachine(stack, 'Machine', {
      definitionBody: sfn.DefinitionBody.fromChainable(taskIn(stack)),
    });

    const policy = machine.role.node.findChild('DefaultPolicy') as iam.Policy;
    const statements = stack.resolve(policy.document).Statement as { Action: unknown; Resource: unknown }[];

    const jobs = statements.find(
      (statement) => Array.isArray(statement.Action) && statement.Action.includes('sagemaker:CreateTransformJob'),
    );
    expect(jobs?.Action).toEqual([
      'sagemaker:CreateTransformJob',
      'sagemaker:DescribeTransformJob',
      'sagemaker:StopTransformJob',
    ]);
    expect(JSON.stringify(jobs?.Resource)).toMatch(new RegExp(`:transform-job/${TRANSFORM_JOB_PREFIX}\\*"`));
  });
});
