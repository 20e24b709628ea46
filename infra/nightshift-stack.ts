import { ArnFormat, CfnOutput, Duration, Names, RemovalPolicy, Stack, type StackProps, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { NightshiftStateMachine } from '../pipeline/state-machine.ts';
import { BUCKET_PREFIXES, runLayout } from '../shared/layout.ts';
import { PREDICTIONS_TABLE, RUNS_TABLE } from '../shared/tables.ts';
import { OcrModel } from './model.ts';
import { acknowledgeNagFindings } from './nag-suppressions.ts';
import { type StageFunctionName, StageFunctions } from './stage-functions.ts';

/** Where manifests are dropped to start a run, in the pipeline bucket. */
export const MANIFEST_PREFIX = BUCKET_PREFIXES.manifests;
/** Where datasets may be uploaded, in the pipeline bucket. */
export const DATASETS_PREFIX = BUCKET_PREFIXES.datasets;

/** The nightly run: when, and over which dataset. */
export interface NightlyScheduleProps {
  /**
   * EventBridge Scheduler expression.
   * @default 'cron(0 2 * * ? *)' (02:00 every day)
   */
  readonly expression?: string;
  /** @default 'UTC' */
  readonly timeZone?: string;
  /**
   * Dataset for each night, `{date}` standing for the scheduled date (YYYY-MM-DD).
   * @default - s3://<pipeline bucket>/datasets/nightly/{date}/
   */
  readonly dataset?: string;
}

/** Properties of {@link NightshiftStack}; every one is optional. */
export interface NightshiftStackProps extends StackProps {
  /**
   * An existing bucket holding datasets; the pipeline gets read access to `datasetPrefix` in it only.
   * @default - datasets live in the pipeline bucket under datasets/
   */
  readonly datasetBucketName?: string;
  /** @default '' (the whole existing bucket) */
  readonly datasetPrefix?: string;
  /** @default - a nightly run at 02:00 UTC of s3://<pipeline bucket>/datasets/nightly/{date}/ */
  readonly nightly?: NightlyScheduleProps | false;
  /** Gets alarm and failure e-mails. @default - no subscription */
  readonly notificationEmail?: string;
  /** Days intermediate run data (runs/, map-results/) is kept. @default 30 */
  readonly runDataRetentionDays?: number;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The AMI of the transform instances (`TransformResources.TransformAmiVersion`); the default has the NVIDIA driver
   * the CUDA 12 model image needs.
   * @default DEFAULT_TRANSFORM_AMI_VERSION ('al2-ami-sagemaker-batch-gpu-535')
   */
  readonly transformAmiVersion?: string;
  /**
   * Reserved concurrency per stage function, e.g. `{ preprocess: 100 }`: guarantees the preprocess map's
   * `maxConcurrency` children can run while other functions share the account's concurrency (Lambda's default
   * account limit is 1,000 concurrent executions per Region; README "Deploying to AWS" says what to raise).
   * @default - none: the functions share the account's unreserved concurrency
   */
  readonly reservedConcurrency?: Partial<Record<StageFunctionName, number>>;
}

/** Everything a Nightshift deployment needs: storage, stages, model, state machine, triggers and alarms. */
export class NightshiftStack extends Stack {
  readonly pipelineBucket: s3.Bucket;
  readonly runsTable: dynamodb.Table;
  readonly predictionsTable: dynamodb.Table;
  readonly pipeline: NightshiftStateMachine;
  readonly topic: sns.Topic;
  readonly stages: StageFunctions;
  readonly model: OcrModel;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: NightshiftStackProps = {}) {
    super(scope, id, props);
    this.key = new kms.Key(this, 'DataKey', {
      enableKeyRotation: true,
      description: 'Nightshift: run data, predictions, notifications, transform volumes',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const key = this.key;

    // Storage
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    const retention = Duration.days(props.runDataRetentionDays ?? 30);
    this.pipelineBucket = new s3.Bucket(this, 'PipelineBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'pipeline/',
      eventBridgeEnabled: true,
      lifecycleRules: [
        { id: 'run-data', prefix: BUCKET_PREFIXES.runs, expiration: retention },
        { id: 'map-results', prefix: BUCKET_PREFIXES.mapResults, expiration: retention },
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(7) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(2) },
      ],
    });
    const bucket = this.pipelineBucket;
    const datasetBucket = props.datasetBucketName
      ? s3.Bucket.fromBucketName(this, 'DatasetBucket', props.datasetBucketName)
      : undefined;
    const datasetPrefix = props.datasetPrefix ?? '';

    this.runsTable = new dynamodb.Table(this, 'RunsTable', {
      partitionKey: { name: RUNS_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: key,
    });
    this.runsTable.addGlobalSecondaryIndex({
      indexName: RUNS_TABLE.statusIndex.name,
      partitionKey: { name: RUNS_TABLE.statusIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: RUNS_TABLE.statusIndex.sortKey, type: dynamodb.AttributeType.STRING },
    });
    this.predictionsTable = new dynamodb.Table(this, 'PredictionsTable', {
      partitionKey: { name: PREDICTIONS_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: PREDICTIONS_TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: key,
    });

    this.topic = new sns.Topic(this, 'Notifications', { masterKey: key, enforceSSL: true });
    // CloudWatch alarms publish to the topic as the service. `enforceSSL` gives the topic a policy of its own (the
    // Deny without TLS), which replaces SNS's default policy, so the service needs an Allow (AWS re:Post "Why didn't
    // I receive an SNS notification for my CloudWatch alarm trigger?"), limited to this account's alarms
    // (aws:SourceAccount / aws:SourceArn, the confused-deputy guard of the SNS access-policy examples). With a
    // customer-managed key the key policy must let the service encrypt too, under the same conditions (SNS
    // "Enable compatibility between event sources from AWS services and encrypted topics").
    const cloudWatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': this.account },
      ArnLike: {
        'aws:SourceArn': this.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: '*',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    };
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: fromOurAlarms,
      }),
    );
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsEncrypt',
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromOurAlarms,
      }),
    );
    if (props.notificationEmail) {
      this.topic.addSubscription(new snsSubscriptions.EmailSubscription(props.notificationEmail));
    }

    // Stages
    const allowed = [
      `s3://${bucket.bucketName}/${DATASETS_PREFIX}`,
      `s3://${bucket.bucketName}/${MANIFEST_PREFIX}`,
      ...(datasetBucket ? [`s3://${datasetBucket.bucketName}/${datasetPrefix}`] : []),
    ];
    this.stages = new StageFunctions(this, 'Stages', {
      environment: {
        PIPELINE_BUCKET: bucket.bucketName,
        RUNS_TABLE: this.runsTable.tableName,
        PREDICTIONS_TABLE: this.predictionsTable.tableName,
        ALLOWED_DATASET_LOCATIONS: allowed.join(','),
        MANIFEST_LOCATION: `s3://${bucket.bucketName}/${MANIFEST_PREFIX}`,
        LOG_LEVEL: 'INFO',
      },
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.reservedConcurrency ? { reservedConcurrency: props.reservedConcurrency } : {}),
    });
    const stages = this.stages;
    const f = stages.functions;
    const readDatasets = (fn: (typeof f)['plan']) => {
      bucket.grantRead(fn, `${DATASETS_PREFIX}*`);
      bucket.grantRead(fn, `${MANIFEST_PREFIX}*`);
      datasetBucket?.grantRead(fn, `${datasetPrefix}*`);
    };
    const runObjects = `${runLayout.root('*')}*`;
    readDatasets(f.plan);
    bucket.grantReadWrite(f.plan, runObjects);
    this.runsTable.grantReadWriteData(f.plan);
    // Plan clears the rows of a run it re-runs (Query + BatchWriteItem deletes).
    this.predictionsTable.grantReadWriteData(f.plan);
    // Writers read a run's shard layout row back when another writer recorded it first (shared/tables.ts).
    const readLayout = 'dynamodb:GetItem';
    readDatasets(f.preprocess);
    bucket.grantPut(f.preprocess, runObjects);
    this.predictionsTable.grantWriteData(f.preprocess);
    this.predictionsTable.grant(f.preprocess, readLayout);
    bucket.grantRead(f.aggregate, runObjects);
    this.predictionsTable.grantWriteData(f.aggregate);
    this.predictionsTable.grant(f.aggregate, readLayout);
    bucket.grantRead(f.report, runObjects);
    bucket.grantRead(f.report, `${BUCKET_PREFIXES.mapResults}*`);
    bucket.grantPut(f.report, `${runLayout.report('*')}*`);
    // The report deletes a succeeded run's transform input, every version of it (DeleteObjects needs
    // s3:DeleteObject, and s3:DeleteObjectVersion for a VersionId, on each key; the ListObjectVersions it pages
    // through needs s3:ListBucketVersions, in grantRead's s3:List*:
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
    bucket.grantDelete(f.report, `${runLayout.transformInput('*')}*`);
    // Report reads the run and its rows, writes NOT_PROCESSED rows for items that never got one, and updates the run;
    // it finds the previous run of the same dataset through the runs table's status index (Query).
    this.runsTable.grant(f.report, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    this.predictionsTable.grantReadData(f.report);
    this.predictionsTable.grant(f.report, 'dynamodb:BatchWriteItem', 'dynamodb:PutItem');
    key.grantEncryptDecrypt(f.report);
    // finalize-failure reads and updates one run record, and stops the failed attempt's transform job.
    this.runsTable.grant(f['finalize-failure'], 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    key.grantEncryptDecrypt(f['finalize-failure']);
    f['finalize-failure'].addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['sagemaker:DescribeTransformJob', 'sagemaker:StopTransformJob'],
        resources: [this.formatArn({ service: 'sagemaker', resource: 'transform-job', resourceName: 'ns-*' })],
      }),
    );

    // Model and state machine
    this.model = new OcrModel(this, 'OcrModel', { pipelineBucket: bucket, encryptionKey: key });
    const model = this.model;
    // Under /aws/vendedlogs/: Step Functions adds each logging state machine's log group to the account's CloudWatch
    // Logs resource policy, which is capped at 5,120 characters, except for groups under this prefix (Step Functions
    // "Avoiding Amazon CloudWatch Logs resource policy size restrictions").
    const executionLogs = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `/aws/vendedlogs/states/${this.stackName}-${Names.uniqueId(this).slice(-8)}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    this.pipeline = new NightshiftStateMachine(this, 'Pipeline', {
      functions: {
        plan: f.plan,
        preprocess: f.preprocess,
        aggregate: f.aggregate,
        report: f.report,
        finalizeFailure: f['finalize-failure'],
      },
      pipelineBucket: bucket,
      modelName: model.modelName,
      notificationTopic: this.topic,
      encryptionKey: key,
      logDestination: executionLogs,
      ...(props.transformAmiVersion ? { transformAmiVersion: props.transformAmiVersion } : {}),
    });
    const stateMachine = this.pipeline.stateMachine;
    // The preprocess ItemReader reads the plan's item parts (ResultWriters grant their own prefixes).
    bucket.grantRead(stateMachine, runObjects);
    key.grantEncryptDecrypt(stateMachine);

    // Triggers: manifest drop -> trigger Lambda; nightly schedule -> trigger Lambda; manual: console/CLI.
    f.trigger.addEnvironment('STATE_MACHINE_ARN', stateMachine.stateMachineArn);
    stateMachine.grantStartExecution(f.trigger);
    new events.Rule(this, 'ManifestDropped', {
      description: 'Starts a Nightshift run for each manifest uploaded under manifests/',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [bucket.bucketName] }, object: { key: [{ prefix: MANIFEST_PREFIX }] } },
      },
      targets: [new eventTargets.LambdaFunction(f.trigger, { retryAttempts: 4, maxEventAge: Duration.hours(2) })],
    });
    if (props.nightly !== false) {
      const nightly = props.nightly ?? {};
      new scheduler.Schedule(this, 'Nightly', {
        description: 'Nightly Nightshift run over the dataset of the scheduled date',
        schedule: scheduler.ScheduleExpression.expression(
          nightly.expression ?? 'cron(0 2 * * ? *)',
          nightly.timeZone ? TimeZone.of(nightly.timeZone) : undefined,
        ),
        target: new schedulerTargets.LambdaInvoke(f.trigger, {
          input: scheduler.ScheduleTargetInput.fromObject({
            source: 'nightshift.schedule',
            scheduledTime: scheduler.ContextAttribute.scheduledTime,
            timeZone: nightly.timeZone ?? 'UTC',
            dataset: nightly.dataset ?? `s3://${bucket.bucketName}/${DATASETS_PREFIX}nightly/{date}/`,
          }),
          retryAttempts: 3,
        }),
      });
    }

    // Failures the state machine does not catch (so they stay redrivable), time-outs and aborts: finalize the run
    // record and notify from the execution status event.
    const finalizeFailure = f['finalize-failure'];
    finalizeFailure.addEnvironment('NOTIFICATION_TOPIC_ARN', this.topic.topicArn);
    this.topic.grantPublish(finalizeFailure);
    new events.Rule(this, 'ExecutionEnded', {
      description: 'Finalizes Nightshift runs whose execution failed, timed out or was aborted',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [stateMachine.stateMachineArn], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      targets: [new eventTargets.LambdaFunction(finalizeFailure, { retryAttempts: 4, maxEventAge: Duration.hours(6) })],
    });

    // Alarms
    const alarmAction = new cwActions.SnsAction(this.topic);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) =>
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(alarmAction);
    const period = { period: Duration.minutes(5), statistic: 'Sum' };
    alarm('ExecutionsFailed', stateMachine.metricFailed(period), 'A Nightshift run failed');
    alarm('ExecutionsTimedOut', stateMachine.metricTimedOut(period), 'A Nightshift run timed out');
    alarm('ExecutionsAborted', stateMachine.metricAborted(period), 'A Nightshift run was aborted');
    for (const [stage, fn] of Object.entries(f)) {
      alarm(`${stage}-errors`, fn.metricErrors(period), `The ${stage} Lambda reported errors`);
    }

    // Outputs (the CLI reads these with --stack)
    new CfnOutput(this, 'PipelineBucketName', { value: bucket.bucketName });
    new CfnOutput(this, 'RunsTableName', { value: this.runsTable.tableName });
    new CfnOutput(this, 'PredictionsTableName', { value: this.predictionsTable.tableName });
    new CfnOutput(this, 'StateMachineArn', { value: stateMachine.stateMachineArn });
    new CfnOutput(this, 'ReportLocation', { value: `s3://${bucket.bucketName}/reports/` });
    new CfnOutput(this, 'ManifestLocation', { value: `s3://${bucket.bucketName}/${MANIFEST_PREFIX}` });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.topic.topicArn });
    acknowledgeNagFindings(this);
  }
}
