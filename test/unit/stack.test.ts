import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { arnResolver, type CfnTemplate, resolveIntrinsics } from '../../pipeline/local/template-definition.ts';
import { parseStageConfig } from '../../shared/config.ts';
import { STAGE_SIZING } from '../../shared/stage-sizing.ts';
import { PREDICTIONS_TABLE, RUNS_TABLE } from '../../shared/tables.ts';
import { synthStack } from '../helpers/synth-stack.ts';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

/**
 * The only places where IAM says `"Resource": "*"`, and why AWS requires it there.
 * A new one fails the test until it is added here with its reason.
 */
const STAR_RESOURCE_ALLOWED: Record<string, string> = {
  'xray:PutTraceSegments': 'X-Ray has no resource-level permissions (Lambda and Step Functions tracing)',
  'xray:PutTelemetryRecords': 'X-Ray has no resource-level permissions',
  'xray:GetSamplingRules': 'X-Ray has no resource-level permissions',
  'xray:GetSamplingTargets': 'X-Ray has no resource-level permissions',
  'logs:CreateLogDelivery': 'CloudWatch Logs vended log delivery (state machine logging) requires "*"',
  'logs:GetLogDelivery': 'vended log delivery',
  'logs:UpdateLogDelivery': 'vended log delivery',
  'logs:DeleteLogDelivery': 'vended log delivery',
  'logs:ListLogDeliveries': 'vended log delivery',
  'logs:PutResourcePolicy': 'vended log delivery',
  'logs:DescribeResourcePolicies': 'vended log delivery',
  'logs:DescribeLogGroups': 'vended log delivery',
  'cloudwatch:PutMetricData': 'no resource-level permissions; narrowed by a cloudwatch:namespace condition',
  'ecr:GetAuthorizationToken': 'ECR login has no resource-level permissions (pulling the model image)',
};

function statements(template: Template): Array<Statement & { policy: string }> {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.entries(policies).flatMap(([policy, resource]) =>
    (resource.Properties.PolicyDocument.Statement as Statement[]).map((statement) => ({ ...statement, policy })),
  );
}
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('the Nightshift stack', () => {
  let template: Template;

  beforeAll(() => {
    template = synthStack().template;
  });

  it('has a pipeline bucket that is KMS-encrypted, versioned, private, logged, TLS-only, with lifecycle and EventBridge', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue() },
      NotificationConfiguration: Match.absent(),
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'runs/', ExpirationInDays: 30 }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } }),
        ]),
      },
    });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: { EventBridgeConfiguration: {} },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('has on-demand, point-in-time-recoverable, KMS-encrypted tables with the shared key schemas', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: RUNS_TABLE.partitionKey, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: RUNS_TABLE.statusIndex.name })],
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: PREDICTIONS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: PREDICTIONS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('runs six stage Lambdas on Node 24 with their log groups, X-Ray, and an environment the stages can parse', () => {
    const functions = template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs24.x' } });

    expect(Object.keys(functions)).toHaveLength(6);
    for (const [id, fn] of Object.entries(functions)) {
      const props = fn.Properties;
      expect(props.Architectures, id).toEqual(['arm64']);
      expect(props.TracingConfig, id).toEqual({ Mode: 'Active' });
      expect(props.LoggingConfig?.LogGroup, id).toBeDefined();
      const env = resolveIntrinsics(
        props.Environment.Variables,
        arnResolver(template.toJSON() as CfnTemplate),
      ) as Record<string, string>;
      expect(() => parseStageConfig(env), id).not.toThrow();
    }
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 7);
  });

  it('sizes the preprocess and aggregate functions as the cost model prices them: arm64, 1,024 MB and 512 MB', () => {
    const sized = (stage: 'preprocess' | 'aggregate') => {
      const found = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([id]) =>
        id.startsWith(`Stages${stage}`),
      );
      expect(found.map(([id]) => id)).toHaveLength(1);
      return found[0]?.[1].Properties;
    };

    expect(sized('preprocess')).toMatchObject({ Architectures: ['arm64'], MemorySize: 1024, Timeout: 120 });
    expect(sized('aggregate')).toMatchObject({ Architectures: ['arm64'], MemorySize: 512, Timeout: 90 });
    expect(STAGE_SIZING.preprocess).toEqual({ memoryMb: 1024, timeoutSeconds: 120, architecture: 'arm64' });
    expect(STAGE_SIZING.aggregate).toEqual({ memoryMb: 512, timeoutSeconds: 90, architecture: 'arm64' });
  });

  it('deploys the model-server image with the OCR files as model artifacts and network isolation', () => {
    template.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: {
        Image: Match.anyValue(),
        ModelDataUrl: Match.anyValue(),
        Environment: { NIGHTSHIFT_EXECUTION_PROVIDER: 'cuda', MODEL_DIR: '/opt/ml/model' },
      },
      EnableNetworkIsolation: true,
    });
  });

  it('starts runs three ways: the nightly schedule and the manifest-drop rule invoke the trigger; people start it by hand', () => {
    const [schedule] = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    const input = resolveIntrinsics(schedule?.Properties.Target.Input, arnResolver(template.toJSON() as CfnTemplate));
    expect(schedule?.Properties).toMatchObject({
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
    });
    expect(JSON.parse(input as string)).toEqual({
      source: 'nightshift.schedule',
      scheduledTime: '<aws.scheduler.scheduled-time>',
      timeZone: 'UTC',
      dataset: 's3://pipelinebucketb967bd35/datasets/nightly/{date}/',
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [Match.anyValue()] }, object: { key: [{ prefix: 'manifests/' }] } },
      },
    });
    const trigger = statements(template).filter(
      (s) => actionsOf(s).includes('states:StartExecution') && s.policy.includes('trigger'),
    );
    expect(trigger).toHaveLength(1);
  });

  it('lets a nightly schedule be configured or turned off', () => {
    const custom = synthStack({
      nightly: { expression: 'cron(30 1 * * ? *)', timeZone: 'Europe/Paris', dataset: 's3://b/{date}/' },
    }).template;
    const none = synthStack({ nightly: false }).template;

    custom.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 1 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Paris',
      Target: {
        Input: Match.serializedJson(Match.objectLike({ timeZone: 'Europe/Paris', dataset: 's3://b/{date}/' })),
      },
    });
    none.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });

  it('reads an existing dataset bucket only under its prefix', () => {
    const { template: withDataset } = synthStack({ datasetBucketName: 'corp-images', datasetPrefix: 'ocr/' });
    const reads = statements(withDataset).filter((s) => JSON.stringify(s.Resource).includes('corp-images'));

    expect(reads.length).toBeGreaterThan(0);
    for (const s of reads) {
      expect(
        actionsOf(s).some((a) => a.startsWith('s3:Put') || a.startsWith('s3:Delete')),
        s.policy,
      ).toBe(false);
      const resources = JSON.stringify(s.Resource);
      expect(resources.includes('corp-images/ocr/*') || !resources.includes('corp-images/'), s.policy).toBe(true);
    }
  });

  it('finalizes executions that fail uncaught, time out or are aborted from their EventBridge status event', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [Match.anyValue()] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('finalizefailure'), 'Arn'] } })],
    });
    const publish = statements(template).filter((s) => actionsOf(s).includes('sns:Publish'));
    expect(publish.map((s) => s.policy).some((policy) => policy.includes('finalizefailure'))).toBe(true);
  });

  it('has state machine logging, tracing, alarms to SNS and the outputs the CLI reads', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        AlarmActions: [Match.anyValue()],
      });
    }
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda' }, 6);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    for (const output of [
      'PipelineBucketName',
      'RunsTableName',
      'PredictionsTableName',
      'StateMachineArn',
      'ReportLocation',
    ]) {
      template.hasOutput(output, {});
    }
  });

  it('uses no "Action": "*" and no "Resource": "*" except where AWS requires it', () => {
    const all = statements(template);
    const star = all.filter((s) => s.Resource === '*' || (Array.isArray(s.Resource) && s.Resource.includes('*')));

    expect(all.some((s) => actionsOf(s).includes('*'))).toBe(false);
    for (const s of star) {
      for (const action of actionsOf(s))
        expect(Object.keys(STAR_RESOURCE_ALLOWED), `${s.policy}: ${action}`).toContain(action);
    }
    expect(star.find((s) => actionsOf(s).includes('cloudwatch:PutMetricData'))?.Condition).toEqual({
      StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' },
    });
  });

  it('grants the state machine what Distributed Map redrive needs, and transform jobs only under its ns- prefix', () => {
    const machine = statements(template).filter((s) => s.policy.startsWith('PipelineStateMachine'));
    const redrive = machine.find((s) => actionsOf(s).includes('states:RedriveExecution'));
    const sagemaker = machine.find((s) => actionsOf(s).includes('sagemaker:CreateTransformJob'));

    expect(JSON.stringify(redrive?.Resource)).toContain('/Preprocess:*');
    expect(JSON.stringify(redrive?.Resource)).toContain('/Aggregate:*');
    expect(JSON.stringify(sagemaker?.Resource)).toContain(':transform-job/ns-*');
    expect(machine.some((s) => actionsOf(s).includes('events:PutRule'))).toBe(true);
  });

  it('lets CloudWatch alarms of this account publish to the TLS-only topic and use its key', () => {
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      ArnLike: { 'aws:SourceArn': Match.anyValue() },
    };
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: fromOurAlarms,
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: fromOurAlarms,
          }),
        ]),
      },
    });
  });

  it('gives SageMaker the model as a .tar.gz it may read by its key, and nothing else of the asset bucket', () => {
    const [model] = Object.values(template.findResources('AWS::SageMaker::Model'));
    const url = JSON.stringify(model?.Properties.PrimaryContainer.ModelDataUrl);
    const role = statements(template).filter((s) => s.policy.startsWith('OcrModelExecutionRole'));
    const assetReads = role.filter((s) => JSON.stringify(s.Resource).includes('cdk-hnb659fds-assets'));

    expect(url).toMatch(/[0-9a-f]{64}\.tar\.gz"/);
    expect(assetReads).toHaveLength(1);
    expect(assetReads[0]?.Action).toBe('s3:GetObject');
    expect(JSON.stringify(assetReads[0]?.Resource)).toMatch(/[0-9a-f]{64}\.tar\.gz/);
  });

  it('grants finalize-failure and report only what they do, and lets finalize-failure stop ns- transform jobs', () => {
    const of = (stage: string) => statements(template).filter((s) => s.policy.startsWith(`Stages${stage}role`));
    const dynamoActions = (stage: string) =>
      new Set(of(stage).flatMap((s) => actionsOf(s).filter((a) => a.startsWith('dynamodb:'))));
    const stop = of('finalizefailure').find((s) => actionsOf(s).includes('sagemaker:StopTransformJob'));

    expect(dynamoActions('finalizefailure')).toEqual(new Set(['dynamodb:GetItem', 'dynamodb:UpdateItem']));
    expect(JSON.stringify(stop?.Resource)).toContain(':transform-job/ns-*');
    const report = dynamoActions('report');
    expect(report).not.toContain('dynamodb:DeleteItem');
    expect(report).toContain('dynamodb:Query');
    for (const writer of ['preprocess', 'aggregate']) {
      expect(dynamoActions(writer), writer).toContain('dynamodb:GetItem');
      expect(dynamoActions(writer), writer).not.toContain('dynamodb:Query');
    }
  });

  it('logs executions under /aws/vendedlogs/states/ and reserves stage concurrency when asked', () => {
    const reserved = synthStack({ reservedConcurrency: { preprocess: 120 } }).template;

    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: Match.stringLikeRegexp('^/aws/vendedlogs/states/'),
    });
    reserved.resourcePropertiesCountIs('AWS::Lambda::Function', { ReservedConcurrentExecutions: 120 }, 1);
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { ReservedConcurrentExecutions: Match.anyValue() }, 0);
  });

  it('has zero unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(() => synthStack({}, { nag: true })).not.toThrow();
  });
});
