import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetBucketNotificationConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { ListServiceQuotasCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import type { PreflightClients } from '../../pipeline/cli/aws-clients.ts';
import { type PreflightOptions, runPreflight, transformQuotaName } from '../../pipeline/cli/preflight-checks.ts';

const sts = mockClient(STSClient);
const cloudFormation = mockClient(CloudFormationClient);
const quotas = mockClient(ServiceQuotasClient);
const lambda = mockClient(LambdaClient);
const s3 = mockClient(S3Client);
const mocks = [sts, cloudFormation, quotas, lambda, s3];

const region = 'eu-west-1';
function clients(): PreflightClients {
  return {
    sts: new STSClient({ region }),
    cloudFormation: new CloudFormationClient({ region }),
    serviceQuotas: new ServiceQuotasClient({ region }),
    lambda: new LambdaClient({ region }),
    s3: new S3Client({ region }),
    destroy: () => undefined,
  };
}
const options: PreflightOptions = {
  stack: 'Nightshift',
  instanceType: 'ml.g5.xlarge',
  instanceCount: 2,
  maxConcurrency: 40,
  docker: async () => ({ ok: true, version: '27.0.1' }),
};
const outputs = [
  ['PipelineBucketName', 'nightshift-bucket'],
  ['RunsTableName', 'runs'],
  ['PredictionsTableName', 'predictions'],
  ['StateMachineArn', 'arn:aws:states:eu-west-1:123456789012:stateMachine:x'],
].map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }));

function healthyAccount() {
  sts.on(GetCallerIdentityCommand).resolves({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/dev' });
  cloudFormation
    .on(DescribeStacksCommand, { StackName: 'CDKToolkit' })
    .resolves({ Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date() }] })
    .on(DescribeStacksCommand, { StackName: 'Nightshift' })
    .resolves({
      Stacks: [{ StackName: 'Nightshift', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: outputs }],
    });
  quotas
    .on(ListServiceQuotasCommand)
    .resolvesOnce({
      Quotas: [{ QuotaName: 'ml.g5.xlarge for endpoint usage', QuotaCode: 'L-1', Value: 4 }],
      NextToken: 'page-2',
    })
    .resolvesOnce({ Quotas: [{ QuotaName: transformQuotaName('ml.g5.xlarge'), QuotaCode: 'L-2', Value: 1 }] });
  lambda.on(GetAccountSettingsCommand).resolves({
    AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 },
  });
  s3.on(GetBucketNotificationConfigurationCommand).resolves({ EventBridgeConfiguration: {} });
}

describe('nightshift preflight (aws-sdk-client-mock: checks an AWS account, which no local server stands in for)', () => {
  afterEach(() => {
    for (const mock of mocks) mock.reset();
  });

  it('asks STS, CloudFormation, Service Quotas, Lambda and S3 exactly what it reports on', async () => {
    healthyAccount();

    const checks = await runPreflight(clients(), options);

    expect(sts).toReceiveCommandWith(GetCallerIdentityCommand, {});
    expect(cloudFormation).toReceiveCommandWith(DescribeStacksCommand, { StackName: 'CDKToolkit' });
    expect(cloudFormation).toReceiveCommandWith(DescribeStacksCommand, { StackName: 'Nightshift' });
    expect(quotas).toReceiveCommandWith(ListServiceQuotasCommand, { ServiceCode: 'sagemaker' });
    expect(quotas).toReceiveCommandWith(ListServiceQuotasCommand, { ServiceCode: 'sagemaker', NextToken: 'page-2' });
    expect(lambda).toReceiveCommandWith(GetAccountSettingsCommand, {});
    expect(s3).toReceiveCommandWith(GetBucketNotificationConfigurationCommand, { Bucket: 'nightshift-bucket' });
    expect(checks.map((c) => [c.check, c.ok])).toEqual([
      ['credentials', true],
      ['docker', true],
      ['cdk bootstrap', true],
      ['sagemaker quota', false],
      ['lambda concurrency', true],
      ['stack', true],
      ['manifest trigger', true],
    ]);
    expect(checks.find((c) => c.check === 'sagemaker quota')).toMatchObject({
      detail: '"ml.g5.xlarge for transform job usage" is 1 (the run needs 2)',
      fix: expect.stringContaining('quota code L-2) of at least 2'),
    });
  });

  it('says how to fix a missing bootstrap, a small Lambda pool, an undeployed stack and a stopped Docker', async () => {
    healthyAccount();
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack with id CDKToolkit does not exist'), { name: 'ValidationError' }));
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { UnreservedConcurrentExecutions: 10 } });

    const checks = await runPreflight(clients(), {
      ...options,
      instanceCount: 1,
      docker: async () => ({ ok: false, error: 'Cannot connect to the Docker daemon' }),
    });
    const fixOf = (name: string) => checks.find((c) => c.check === name)?.fix;

    expect(fixOf('cdk bootstrap')).toBe('run `npx cdk bootstrap aws://123456789012/eu-west-1`');
    expect(fixOf('lambda concurrency')).toContain('maxConcurrency of at most 10');
    expect(fixOf('stack')).toContain('npm run deploy');
    expect(fixOf('docker')).toContain('install and start Docker');
    expect(checks.find((c) => c.check === 'sagemaker quota')?.ok).toBe(true);
    expect(s3).not.toReceiveCommand(GetBucketNotificationConfigurationCommand);
  });

  it('does not call the other services when the credentials do not work', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .rejects(Object.assign(new Error('The security token is invalid'), { name: 'InvalidClientTokenId' }));

    const checks = await runPreflight(clients(), options);

    expect(checks[0]).toMatchObject({ check: 'credentials', ok: false, fix: expect.stringContaining('aws configure') });
    expect(checks.filter((c) => c.detail === 'not checked: no working credentials')).toHaveLength(5);
    for (const mock of [cloudFormation, quotas, lambda, s3]) expect(mock).not.toReceiveAnyCommand();
  });
});
