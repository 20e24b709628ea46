import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { cdkJsonContext } from '../../infra/cdk-context.ts';
import { NightshiftStack } from '../../infra/nightshift-stack.ts';
import {
  arnResolver,
  type CfnTemplate,
  definitionFromTemplate,
  type ReferenceResolver,
  resolveIntrinsics,
} from './template-definition.ts';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';

/** The stage whose handler a template function runs, from its construct path (`Nightshift/Stages/<stage>/Resource`). */
export interface LocalFunction {
  readonly logicalId: string;
  readonly name: string;
  readonly stage: string;
  readonly timeoutSeconds: number;
  readonly memorySizeMb: number;
  readonly environment: Record<string, string>;
}

/** The synthesized stack, as the local runtime uses it: the template and the local names of its resources. */
export interface LocalStack {
  readonly template: CfnTemplate;
  readonly resolve: ReferenceResolver;
  readonly definition: Record<string, unknown>;
  readonly stateMachineArn: string;
  readonly buckets: Record<string, string>;
  readonly pipelineBucket: string;
  readonly runsTable: string;
  readonly predictionsTable: string;
  readonly modelName: string;
  readonly functions: LocalFunction[];
}

/** Physical names a local run gives the template's resources: stable across runs, so state persists. */
export function localName(logicalId: string, type: string): string {
  switch (type) {
    case 'AWS::S3::Bucket':
      return `nightshift-${logicalId.toLowerCase()}`.slice(0, 63);
    case 'AWS::DynamoDB::Table':
      return `nightshift-${logicalId}`;
    case 'AWS::SageMaker::Model':
      return 'nightshift-ocr-local';
    case 'AWS::StepFunctions::StateMachine':
      return 'Nightshift';
    default:
      return logicalId;
  }
}

/**
 * Synthesizes the Nightshift stack in-process (Lambda bundling skipped: the local runtime runs the stage sources),
 * exactly as `cdk synth` would build it, and resolves the state machine definition with local names.
 */
export function synthesizeLocalStack(): LocalStack {
  const outdir = mkdtempSync(join(tmpdir(), 'nightshift-synth-'));
  try {
    const app = new App({
      outdir,
      context: {
        ...cdkJsonContext(),
        'aws:cdk:bundling-stacks': [],
        // Construct paths in the template metadata tell which stage each function is.
        'aws:cdk:enable-path-metadata': true,
      },
    });
    const stack = new NightshiftStack(app, 'Nightshift');
    const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
    return fromTemplate(template);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Reads everything the local runtime needs from a synthesized template. */
export function fromTemplate(template: CfnTemplate): LocalStack {
  const resolve = arnResolver(template, { region: LOCAL_REGION, account: LOCAL_ACCOUNT, nameOf: localName });
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const buckets = Object.fromEntries(ofType('AWS::S3::Bucket').map(([id]) => [id, localName(id, 'AWS::S3::Bucket')]));
  const functions: LocalFunction[] = ofType('AWS::Lambda::Function').flatMap(([id, resource]) => {
    const path = String((resource as { Metadata?: Record<string, unknown> }).Metadata?.['aws:cdk:path'] ?? '');
    const stage = /\/Stages\/([^/]+)\/Resource$/.exec(path)?.[1];
    if (!stage) return [];
    const props = resource.Properties ?? {};
    const variables = (props.Environment as { Variables?: unknown } | undefined)?.Variables ?? {};
    return [
      {
        logicalId: id,
        name: localName(id, 'AWS::Lambda::Function'),
        stage,
        timeoutSeconds: Number(props.Timeout ?? 3),
        memorySizeMb: Number(props.MemorySize ?? 128),
        environment: resolveIntrinsics(variables, resolve) as Record<string, string>,
      },
    ];
  });
  const plan = functions.find((f) => f.stage === 'plan');
  if (!plan) throw new Error('the synthesized template has no plan function (Nightshift/Stages/plan)');
  const [machine] = ofType('AWS::StepFunctions::StateMachine');
  const [model] = ofType('AWS::SageMaker::Model');
  if (!machine || !model) throw new Error('the synthesized template lacks its state machine or SageMaker model');
  return {
    template,
    resolve,
    definition: definitionFromTemplate(template, resolve),
    stateMachineArn: resolve(machine[0]),
    buckets,
    pipelineBucket: String(plan.environment.PIPELINE_BUCKET),
    runsTable: String(plan.environment.RUNS_TABLE),
    predictionsTable: String(plan.environment.PREDICTIONS_TABLE),
    modelName: localName(model[0], 'AWS::SageMaker::Model'),
    functions,
  };
}

/** Creates the template's buckets and tables (key schemas and indexes from the template) unless they exist. */
export async function createStackResources(stack: LocalStack, s3: S3Client, dynamo: DynamoDBClient): Promise<void> {
  for (const bucket of Object.values(stack.buckets)) {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
    }
  }
  for (const [id, resource] of Object.entries(stack.template.Resources)) {
    if (resource.Type !== 'AWS::DynamoDB::Table') continue;
    const props = resource.Properties ?? {};
    const input: CreateTableCommandInput = {
      TableName: localName(id, resource.Type),
      KeySchema: props.KeySchema as CreateTableCommandInput['KeySchema'],
      AttributeDefinitions: props.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
      BillingMode: 'PAY_PER_REQUEST',
      ...(props.GlobalSecondaryIndexes
        ? { GlobalSecondaryIndexes: props.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'] }
        : {}),
    };
    try {
      await dynamo.send(new CreateTableCommand(input));
    } catch (error) {
      if (!(error instanceof ResourceInUseException) && (error as Error).name !== 'ResourceInUseException') throw error;
    }
  }
}
