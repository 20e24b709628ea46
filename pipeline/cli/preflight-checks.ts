/**
 * The checks of `nightshift preflight`, apart from the command so that the CLI imports the AWS SDK clients they use
 * only when preflight runs.
 */
import { execFile } from 'node:child_process';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetAccountSettingsCommand } from '@aws-sdk/client-lambda';
import { GetBucketNotificationConfigurationCommand } from '@aws-sdk/client-s3';
import { paginateListServiceQuotas } from '@aws-sdk/client-service-quotas';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { awsErrorName } from '../run-backend/failures.ts';
import type { PreflightClients } from './aws-clients.ts';
import { readStackOutputs } from './stack-outputs.ts';

/** One check's verdict: `fix` says what to do when it is not ok. */
export interface PreflightCheck {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

/** What preflight checks against. */
export interface PreflightOptions {
  readonly stack: string;
  /** The transform instance type whose SageMaker quota is checked (e.g. ml.g5.xlarge). */
  readonly instanceType: string;
  readonly instanceCount: number;
  /** The preprocess map's maxConcurrency: at most this many Lambda invocations at once. */
  readonly maxConcurrency: number;
  /** Whether Docker answers (`cdk deploy` builds the model image with it); the error text when not. */
  readonly docker: () => Promise<{ ok: true; version: string } | { ok: false; error: string }>;
}

/**
 * The SageMaker quota of an instance type for batch transform, as Service Quotas names it
 * (e.g. "ml.g5.xlarge for transform job usage", service code `sagemaker`). Found by name, not by a quota code
 * copied here, because each instance type has its own code.
 */
export function transformQuotaName(instanceType: string): string {
  return `${instanceType} for transform job usage`;
}

/**
 * Checks, with the caller's credentials, what a first deploy and run need: credentials and region, the CDK bootstrap
 * stack, Docker, the SageMaker transform quota, Lambda concurrency, the deployed stack's outputs and its bucket's
 * EventBridge notifications. Every check runs; those that need credentials are reported as not run without them.
 */
export async function runPreflight(clients: PreflightClients, options: PreflightOptions): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  let identity: { account: string; region: string } | undefined;
  try {
    const who = await clients.sts.send(new GetCallerIdentityCommand({}));
    const region = await clients.sts.config.region();
    identity = { account: who.Account ?? '?', region };
    checks.push({ check: 'credentials', ok: true, detail: `account ${identity.account} as ${who.Arn} in ${region}` });
  } catch (error) {
    checks.push({
      check: 'credentials',
      ok: false,
      detail: `${awsErrorName(error) ?? 'error'}: ${(error as Error).message}`,
      fix: 'configure credentials and a region (aws configure, AWS_PROFILE / --profile, AWS_REGION / --region)',
    });
  }

  const docker = await options.docker();
  checks.push(
    docker.ok
      ? { check: 'docker', ok: true, detail: `Docker ${docker.version} answers` }
      : {
          check: 'docker',
          ok: false,
          detail: docker.error,
          fix: 'install and start Docker: `cdk deploy` builds the model-server image (stages/transform/Dockerfile)',
        },
  );

  if (!identity) {
    for (const check of ['cdk bootstrap', 'sagemaker quota', 'lambda concurrency', 'stack', 'manifest trigger']) {
      checks.push({
        check,
        ok: false,
        detail: 'not checked: no working credentials',
        fix: 'fix the credentials first',
      });
    }
    return checks;
  }
  const { account, region } = identity;

  checks.push(await bootstrapCheck(clients, account, region));
  checks.push(await quotaCheck(clients, options));
  checks.push(await concurrencyCheck(clients, options));
  checks.push(...(await stackChecks(clients, options.stack, region)));
  return checks;
}

async function bootstrapCheck(clients: PreflightClients, account: string, region: string): Promise<PreflightCheck> {
  const fix = `run \`npx cdk bootstrap aws://${account}/${region}\``;
  try {
    const out = await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: 'CDKToolkit' }));
    const status = out.Stacks?.[0]?.StackStatus ?? 'missing';
    const ok = /_COMPLETE$/.test(status) && !status.startsWith('DELETE') && !status.includes('ROLLBACK_COMPLETE');
    return { check: 'cdk bootstrap', ok, detail: `stack CDKToolkit is ${status}`, ...(ok ? {} : { fix }) };
  } catch (error) {
    return {
      check: 'cdk bootstrap',
      ok: false,
      detail: `no CDKToolkit stack in ${region} (${awsErrorName(error)})`,
      fix,
    };
  }
}

async function quotaCheck(clients: PreflightClients, options: PreflightOptions): Promise<PreflightCheck> {
  const name = transformQuotaName(options.instanceType);
  try {
    for await (const page of paginateListServiceQuotas(
      { client: clients.serviceQuotas },
      { ServiceCode: 'sagemaker' },
    )) {
      const quota = page.Quotas?.find((q) => q.QuotaName === name);
      if (!quota) continue;
      const value = quota.Value ?? 0;
      const ok = value >= options.instanceCount;
      return {
        check: 'sagemaker quota',
        ok,
        detail: `"${name}" is ${value} (the run needs ${options.instanceCount})`,
        ...(ok
          ? {}
          : {
              fix: `request "${name}" (quota code ${quota.QuotaCode}) of at least ${options.instanceCount} in Service Quotas > Amazon SageMaker`,
            }),
      };
    }
    return {
      check: 'sagemaker quota',
      ok: false,
      detail: `no quota "${name}" in this region`,
      fix: `${options.instanceType} may not be offered for batch transform here: pick another region or instance type`,
    };
  } catch (error) {
    return {
      check: 'sagemaker quota',
      ok: false,
      detail: `servicequotas:ListServiceQuotas failed (${awsErrorName(error)}: ${(error as Error).message})`,
      fix: 'allow servicequotas:ListServiceQuotas, or check the quota in the Service Quotas console',
    };
  }
}

async function concurrencyCheck(clients: PreflightClients, options: PreflightOptions): Promise<PreflightCheck> {
  try {
    const settings = await clients.lambda.send(new GetAccountSettingsCommand({}));
    const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions ?? 0;
    const total = settings.AccountLimit?.ConcurrentExecutions ?? 0;
    const ok = unreserved >= options.maxConcurrency;
    return {
      check: 'lambda concurrency',
      ok,
      detail: `${unreserved} of ${total} concurrent executions unreserved; preprocess runs up to ${options.maxConcurrency} at once`,
      ...(ok
        ? {}
        : {
            fix: `request a higher "Concurrent executions" Lambda quota, or start runs with a preprocess maxConcurrency of at most ${unreserved}`,
          }),
    };
  } catch (error) {
    return {
      check: 'lambda concurrency',
      ok: false,
      detail: `lambda:GetAccountSettings failed (${awsErrorName(error)})`,
      fix: 'allow lambda:GetAccountSettings',
    };
  }
}

async function stackChecks(clients: PreflightClients, stack: string, region: string): Promise<PreflightCheck[]> {
  let bucket: string;
  try {
    const outputs = await readStackOutputs(clients.cloudFormation, stack, region);
    bucket = outputs.PipelineBucketName;
  } catch (error) {
    const fix = `deploy it: \`npm run deploy\` (or pass --stack NAME)`;
    return [
      { check: 'stack', ok: false, detail: (error as Error).message, fix },
      { check: 'manifest trigger', ok: false, detail: 'not checked: no stack', fix },
    ];
  }
  const checks: PreflightCheck[] = [{ check: 'stack', ok: true, detail: `${stack} deployed; outputs readable` }];
  try {
    const config = await clients.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
    const ok = config.EventBridgeConfiguration !== undefined;
    checks.push({
      check: 'manifest trigger',
      ok,
      detail: ok
        ? `bucket ${bucket} sends events to EventBridge`
        : `bucket ${bucket} does not send events to EventBridge`,
      ...(ok
        ? {}
        : {
            fix: 'redeploy the stack (it turns EventBridge notifications on); manifests will not start runs until then',
          }),
    });
  } catch (error) {
    checks.push({
      check: 'manifest trigger',
      ok: false,
      detail: `s3:GetBucketNotificationConfiguration on ${bucket} failed (${awsErrorName(error)})`,
      fix: 'allow s3:GetBucketNotification on the pipeline bucket',
    });
  }
  return checks;
}

/** `docker version` with a short time-out: Docker is there and its daemon answers. */
export function dockerVersion(): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    execFile('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) resolve({ ok: false, error: (stderr || error.message).trim().split('\n')[0] ?? 'docker failed' });
      else resolve({ ok: true, version: stdout.trim() });
    });
  });
}
