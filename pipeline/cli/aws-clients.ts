/**
 * The CLI's one wiring place for AWS: every AWS SDK client of the AWS backend is built here (the local backend
 * builds the local servers' clients in pipeline/local/local-servers.ts).
 * Clients are built on first use, so a command configures only what it calls and `--help` touches nothing.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { documentClient, s3ClientConfig } from '../../shared/aws/client-config.ts';

/** How to reach AWS: the standard chain (env, profile, SSO, roles) with the `--region` / `--profile` overrides. */
export interface AwsClientOptions {
  /** @default - the SDK's chain: AWS_REGION, then the profile's region */
  readonly region?: string;
  /** @default - AWS_PROFILE, then `default` */
  readonly profile?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The data clients the read commands need: S3 (reports) and DynamoDB (runs, predictions). */
export interface DataClients {
  readonly s3: S3Client;
  readonly doc: DynamoDBDocumentClient;
  destroy(): void;
}

/** Every AWS client of the CLI. */
export interface AwsClients extends DataClients {
  readonly sfn: SFNClient;
  readonly sagemaker: SageMakerClient;
  readonly cloudFormation: CloudFormationClient;
  /** CloudWatch Logs, for `nightshift logs` (Logs Insights). */
  readonly logs: CloudWatchLogsClient;
  /** The region the clients resolve to; rejects with the SDK's "Region is missing" when there is none. */
  region(): Promise<string>;
}

/** Builds the AWS clients lazily; AWS_ENDPOINT_URL_* and the credential chain apply the standard way. */
export function createAwsClients(options: AwsClientOptions): AwsClients {
  const common = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
  };
  const built: { destroy(): void }[] = [];
  const lazy = <T extends { destroy(): void }>(make: () => T) => {
    let client: T | undefined;
    return () => {
      if (!client) {
        client = make();
        built.push(client);
      }
      return client;
    };
  };
  const sfn = lazy(() => new SFNClient(common));
  const sagemaker = lazy(() => new SageMakerClient(common));
  const cloudFormation = lazy(() => new CloudFormationClient(common));
  const logs = lazy(() => new CloudWatchLogsClient(common));
  const s3 = lazy(() => new S3Client({ ...s3ClientConfig(options.env), ...common }));
  const dynamo = lazy(() => new DynamoDBClient(common));
  // The document client wraps the DynamoDB client and owns nothing to destroy itself.
  let docClient: DynamoDBDocumentClient | undefined;
  const doc = () => {
    docClient ??= documentClient(dynamo());
    return docClient;
  };
  return {
    get sfn() {
      return sfn();
    },
    get sagemaker() {
      return sagemaker();
    },
    get cloudFormation() {
      return cloudFormation();
    },
    get logs() {
      return logs();
    },
    get s3() {
      return s3();
    },
    get doc() {
      return doc();
    },
    region: () => cloudFormation().config.region(),
    destroy: () => {
      for (const client of built.splice(0)) client.destroy();
    },
  };
}

/** The clients `nightshift preflight` checks an account with (only it needs STS, Service Quotas and Lambda). */
export interface PreflightClients {
  readonly sts: STSClient;
  readonly cloudFormation: CloudFormationClient;
  readonly serviceQuotas: ServiceQuotasClient;
  readonly lambda: LambdaClient;
  readonly s3: S3Client;
  destroy(): void;
}

/** Builds the preflight clients with the same credential chain and overrides as {@link createAwsClients}. */
export function createPreflightClients(options: AwsClientOptions): PreflightClients {
  const common = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
  };
  const clients = {
    sts: new STSClient(common),
    cloudFormation: new CloudFormationClient(common),
    serviceQuotas: new ServiceQuotasClient(common),
    lambda: new LambdaClient(common),
    s3: new S3Client({ ...s3ClientConfig(options.env), ...common }),
  };
  return {
    ...clients,
    destroy: () => {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}
