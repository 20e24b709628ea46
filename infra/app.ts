/**
 * The CDK app: `npm run synth` / `npx cdk deploy` (CLI pinned to aws-cdk@2.1148.1 in devDependencies).
 * Context: -c datasetBucket=NAME -c datasetPrefix=P/ -c notificationEmail=a@b -c nightly=false
 * -c nightlyCron='cron(30 1 * * ? *)' -c nightlyTimeZone=Europe/Paris -c nightlyDataset='s3://b/p/{date}/'
 * -c transformAmiVersion=al2-ami-sagemaker-batch-gpu-535.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { NightshiftStack } from './nightshift-stack.ts';

const app = new App();
const context = (name: string): string | undefined => app.node.tryGetContext(name);
new NightshiftStack(app, context('stackName') ?? 'Nightshift', {
  ...(context('datasetBucket') ? { datasetBucketName: context('datasetBucket') } : {}),
  ...(context('datasetPrefix') ? { datasetPrefix: context('datasetPrefix') } : {}),
  ...(context('notificationEmail') ? { notificationEmail: context('notificationEmail') } : {}),
  ...(context('nightly') === 'false'
    ? { nightly: false as const }
    : {
        nightly: {
          ...(context('nightlyCron') ? { expression: context('nightlyCron') } : {}),
          ...(context('nightlyTimeZone') ? { timeZone: context('nightlyTimeZone') } : {}),
          ...(context('nightlyDataset') ? { dataset: context('nightlyDataset') } : {}),
        },
      }),
  ...(context('transformAmiVersion') ? { transformAmiVersion: context('transformAmiVersion') } : {}),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
