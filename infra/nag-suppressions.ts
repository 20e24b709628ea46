import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import type { NightshiftStateMachine } from '../pipeline/state-machine.ts';
import { BUCKET_PREFIXES, mapResultsLayout, runLayout, TRANSFORM_JOB_PREFIX } from '../shared/layout.ts';
import type { OcrModel } from './model.ts';
import type { StageFunctions } from './stage-functions.ts';

/**
 * The parts of the Nightshift stack whose findings are acknowledged; the stack passes itself. Declared here rather
 * than imported from the stack's module, so the two modules do not import each other.
 */
export interface NagScope extends IConstruct {
  readonly pipelineBucket: s3.Bucket;
  readonly runsTable: dynamodb.Table;
  readonly pipeline: NightshiftStateMachine;
  readonly stages: StageFunctions;
  readonly model: OcrModel;
}

/**
 * Every cdk-nag AwsSolutions finding this stack accepts, acknowledged on the one construct it concerns, with the
 * reason. cdk-nag 3 acknowledges findings one by one (`RuleId[Finding]`), so a new wildcard anywhere fails synth.
 */
export function acknowledgeNagFindings(stack: NagScope): void {
  const logicalId = (construct: IConstruct) =>
    Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
  const bucket = `<${logicalId(stack.pipelineBucket)}.Arn>`;
  const runsTable = `<${logicalId(stack.runsTable)}.Arn>`;
  const ack = (construct: IConstruct, findings: Record<string, string>) => {
    for (const [finding, reason] of Object.entries(findings)) {
      Validations.of(construct).acknowledge({ id: `AwsSolutions-${finding}`, reason });
    }
  };

  const xray = 'X-Ray tracing: xray:PutTraceSegments/PutTelemetryRecords have no resource-level permissions';
  const kmsData =
    'On the stack-owned DataKey only: SSE-KMS reads/writes of the bucket and tables need GenerateDataKey*/ReEncrypt*';
  const s3Read = 'Bucket.grantRead on the named prefixes only: s3:GetObject*/GetBucket*/List* cover versions and tags';
  const s3Write = 'Bucket.grantPut/grantReadWrite on the named prefixes only (multipart uploads need s3:Abort*)';
  const runData = 'Run data lives under runs/<runId>/; run ids are chosen at start time, so the key has a wildcard';
  const inputs = 'Datasets and manifests are uploaded by users under these prefixes; any key below may be an input';
  const index = 'The runs table byStatus index (for `nightshift runs --status`)';

  // Findings every stage role shares, grouped by the grant that causes them.
  const traced = { 'IAM5[Resource::*]': xray };
  const encrypted = { 'IAM5[Action::kms:GenerateDataKey*]': kmsData, 'IAM5[Action::kms:ReEncrypt*]': kmsData };
  const reads = {
    'IAM5[Action::s3:GetObject*]': s3Read,
    'IAM5[Action::s3:GetBucket*]': s3Read,
    'IAM5[Action::s3:List*]': s3Read,
  };
  const writes = { 'IAM5[Action::s3:Abort*]': s3Write };
  const datasets = {
    [`IAM5[Resource::${bucket}/datasets/*]`]: inputs,
    [`IAM5[Resource::${bucket}/manifests/*]`]: inputs,
  };
  const runObjects = { [`IAM5[Resource::${bucket}/${runLayout.root('*')}*]`]: runData };
  const statusIndex = { [`IAM5[Resource::${runsTable}/index/*]`]: index };

  const fn = stack.stages.roles;
  ack(fn.plan, {
    ...traced,
    ...encrypted,
    ...reads,
    ...writes,
    'IAM5[Action::s3:DeleteObject*]':
      "Plan clears a re-run's old data under runs/<runId>/ (grantReadWrite on runs/ only)",
    ...datasets,
    ...runObjects,
    ...statusIndex,
  });
  ack(fn.preprocess, { ...traced, ...encrypted, ...reads, ...writes, ...datasets, ...runObjects });
  ack(fn.aggregate, { ...traced, ...encrypted, ...reads, ...runObjects });
  ack(fn.report, {
    ...traced,
    ...encrypted,
    ...reads,
    ...writes,
    ...runObjects,
    [`IAM5[Resource::${bucket}/${BUCKET_PREFIXES.mapResults}*]`]:
      'Distributed Map ResultWriter output (one folder per map run)',
    [`IAM5[Resource::${bucket}/${runLayout.report('*')}*]`]: 'Reports are written under reports/<runId>/',
    'IAM5[Action::s3:DeleteObject*]':
      "The report deletes a succeeded run's transform input, every version (grantDelete on runs/*/transform-input/ only)",
    [`IAM5[Resource::${bucket}/${runLayout.transformInput('*')}*]`]:
      'Transform input of any run (run ids are chosen at start)',
    ...statusIndex,
  });
  const transformJobs = `IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:transform-job/${TRANSFORM_JOB_PREFIX}*]`;
  const jobsNamedPerRun = `Transform jobs are named per run at run time; every job this pipeline creates starts with ${TRANSFORM_JOB_PREFIX}`;
  ack(fn['finalize-failure'], { ...traced, ...encrypted, ...statusIndex, [transformJobs]: jobsNamedPerRun });
  ack(fn.trigger, traced);

  const stateMachine = stack.pipeline.stateMachine;
  const execution = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId(stateMachine)}"}]}]}`;
  const lambdaVersions = 'LambdaInvoke grants the function and its versions/aliases (`<arn>:*`); no other function';
  ack(stateMachine, {
    'IAM5[Resource::*]':
      'X-Ray tracing and CloudWatch Logs vended delivery (logs:*LogDelivery, DescribeResourcePolicies) require "*"',
    ...encrypted,
    ...reads,
    'IAM5[Action::s3:GetObject*]': 'Distributed Map ItemReader reads the item parts (runs/) and ResultWriter output',
    ...runObjects,
    [`IAM5[Resource::${bucket}/${mapResultsLayout.preprocess}/*]`]:
      'Preprocess ResultWriter output (a folder per map run)',
    [`IAM5[Resource::${bucket}/${mapResultsLayout.aggregate}/*]`]:
      'Aggregate ResultWriter output (a folder per map run)',
    [transformJobs]: jobsNamedPerRun,
    ...Object.fromEntries(
      Object.values(stack.stages.functions).map((f) => [`IAM5[Resource::<${logicalId(f)}.Arn>:*]`, lambdaVersions]),
    ),
    [`IAM5[Resource::${execution}:*]`]:
      'Distributed Map child executions are named at run time; DescribeExecution/StopExecution on this machine only',
    [`IAM5[Resource::${execution}/Preprocess:*]`]:
      'Redriving the Preprocess map run re-runs its failed children (states:RedriveExecution, aws-cdk#35390)',
    [`IAM5[Resource::${execution}/Aggregate:*]`]:
      'Redriving the Aggregate map run re-runs its failed children (states:RedriveExecution, aws-cdk#35390)',
  });

  ack(stack.model.role, {
    'IAM5[Resource::*]':
      'cloudwatch:PutMetricData has no resource-level permissions (narrowed by a namespace condition); ' +
      'ecr:GetAuthorizationToken likewise',
    ...encrypted,
    ...reads,
    'IAM5[Action::s3:GetObject*]': 'Reads the transform input of any run (the model archive is granted by its key)',
    'IAM5[Action::s3:Abort*]': 'Batch Transform uploads large outputs in parts',
    [`IAM5[Resource::${bucket}/${runLayout.transformInput('*')}*]`]:
      'Transform input of any run (run ids are chosen at start)',
    [`IAM5[Resource::${bucket}/${runLayout.transformOutput('*')}*]`]:
      'Transform output of any run (run ids are chosen at start)',
    'IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TransformJobs*]':
      'SageMaker writes transform job logs to this fixed log group family',
  });

  const scheduleRole = stack.node.children.find((child) => child.node.id.startsWith('SchedulerRoleForTarget'));
  if (scheduleRole) {
    ack(scheduleRole, {
      [`IAM5[Resource::<${logicalId(stack.stages.functions.trigger)}.Arn>:*]`]:
        'EventBridge Scheduler invokes the trigger function (and its versions) only',
    });
  }
  const notifications = stack.node.children.find((child) => child.node.id.startsWith('BucketNotificationsHandler'));
  if (notifications) {
    ack(notifications, {
      'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
        "aws-cdk's own handler that turns on the bucket's EventBridge notifications at deploy time; not ours to change",
    });
  }
}
