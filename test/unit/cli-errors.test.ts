import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { CliFailure, explainAwsError } from '../../pipeline/run-backend/failures.ts';
import { ServiceError } from '../../shared/errors.ts';
import { REGION, runCli, stackDescription } from '../helpers/cli-harness.ts';

// DescribeStacks and StartExecution exist only on AWS; the failures below are AWS's own.
const cloudFormation = mockClient(CloudFormationClient);
const sfn = mockClient(SFNClient);

function awsError(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
}

describe('CLI errors (aws-sdk-client-mock for the AWS-only DescribeStacks and StartExecution)', () => {
  afterEach(() => {
    cloudFormation.reset();
    sfn.reset();
  });

  it('says a missing stack is missing, in which region, and how to fix it', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(awsError('ValidationError', 'Stack with id Nightshift does not exist'));

    const result = await runCli(['start', '--dataset', 's3://my-images/a/', '--region', 'eu-west-1']);

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: stack Nightshift not found in eu-west-1: deploy it with `npm run deploy` or pass --stack NAME\n',
    );
  });

  it('says which outputs a stack that is not (yet) a Nightshift stack lacks', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'Other', StackStatus: 'CREATE_IN_PROGRESS', CreationTime: new Date(), Outputs: [] }],
    });

    const result = await runCli(['start', '--dataset', 's3://my-images/a/', '--stack', 'Other', '--region', REGION]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('stack Other in us-east-1 (CREATE_IN_PROGRESS) lacks the Nightshift outputs');
    expect(result.stderr).toContain('StateMachineArn');
  });

  it('says there are no credentials and how to provide them', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(awsError('CredentialsProviderError', 'Could not load credentials from any providers'));

    const result = await runCli(['start', '--dataset', 's3://my-images/a/', '--region', REGION]);

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: no AWS credentials found for cloudformation:DescribeStacks: run `aws configure` or `aws sso login`, set AWS_PROFILE, or pass --profile NAME\n',
    );
  });

  it('says access was denied for which call, even through the shared starter', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .resolves(stackDescription({ bucket: 'b-1', runsTable: 'r', predictionsTable: 'p' }));
    sfn
      .on(StartExecutionCommand)
      .rejects(
        awsError(
          'AccessDeniedException',
          'User: arn:aws:iam::1:user/me is not authorized to perform: states:StartExecution',
          403,
        ),
      );

    const result = await runCli(['start', '--dataset', 's3://my-images/a/', '--region', REGION]);

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: access denied for states:StartExecution (User: arn:aws:iam::1:user/me is not authorized to perform: states:StartExecution): use a profile that may call it (--profile) or ask for the permission\n',
    );
  });

  it('hints at --verbose for an unexpected failure, and prints the stack trace and cause with it', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(awsError('InternalFailure', 'boom', 400));

    const quiet = await runCli(['start', '--dataset', 's3://my-images/a/', '--region', REGION]);
    const verbose = await runCli(['start', '--dataset', 's3://my-images/a/', '--region', REGION, '--verbose']);

    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toBe(
      'error: cloudformation:DescribeStacks failed (InternalFailure: boom) (run again with --verbose for the stack trace)\n',
    );
    expect(quiet.stderr.split('\n')).toHaveLength(2);
    expect(verbose.stderr).toMatch(/^error: cloudformation:DescribeStacks failed \(InternalFailure: boom\)\n/);
    expect(verbose.stderr).toMatch(/ServiceError: cloudformation:DescribeStacks failed[\s\S]*\n\s+at /);
    expect(verbose.stderr).toContain('caused by: InternalFailure: boom');
  });
});

describe('explainAwsError', () => {
  it('names a missing region', () => {
    const error = explainAwsError(new Error('Region is missing'), 'states:DescribeExecution');

    expect(error).toBeInstanceOf(CliFailure);
    expect(error.message).toBe('no AWS region set: pass --region (for example --region us-east-1) or set AWS_REGION');
  });

  it('names expired credentials', () => {
    const error = explainAwsError(
      awsError('ExpiredTokenException', 'The security token included in the request is expired'),
      'x',
    );

    expect((error as CliFailure).code).toBe('EXPIRED_CREDENTIALS');
  });

  it('says AWS could not be reached', () => {
    const error = explainAwsError(
      Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }),
      'dynamodb:Query',
    );

    expect(error.message).toBe(
      'could not reach AWS for dynamodb:Query (ENOTFOUND): check the network, or AWS_ENDPOINT_URL_* if you set one',
    );
  });

  it('leaves other service errors to the shared family, naming the call', () => {
    const error = explainAwsError(awsError('ValidationException', 'bad'), 'states:ListMapRuns');

    expect(error).toBeInstanceOf(ServiceError);
    expect(error.message).toBe('states:ListMapRuns failed (ValidationException: bad)');
  });
});
