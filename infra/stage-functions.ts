import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import type { StageEnvSchema } from '../shared/config.ts';
import { type LambdaArchitecture, type LambdaSizing, STAGE_SIZING } from '../shared/stage-sizing.ts';

/** The environment every stage parses with `parseStageConfig` (typed by the same schema). */
export type StageEnvironment = Partial<Record<keyof z.input<typeof StageEnvSchema>, string>>;

export const STAGE_NAMES = ['plan', 'preprocess', 'aggregate', 'report', 'finalize-failure', 'trigger'] as const;
/** A stage's Lambda function (not every function is a pipeline stage of `shared/records.ts`'s `StageName`). */
export type StageFunctionName = (typeof STAGE_NAMES)[number];

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Lambda's architecture for the sizes of shared/stage-sizing.ts. */
const ARCHITECTURES: Record<LambdaArchitecture, lambda.Architecture> = {
  arm64: lambda.Architecture.ARM_64,
  x86_64: lambda.Architecture.X86_64,
};

/** The sizes infra deploys and the cost model prices (shared/stage-sizing.ts says why each). */
const SIZING: Record<StageFunctionName, LambdaSizing> = STAGE_SIZING;

/**
 * Where sharp's native packages for a Lambda architecture are installed, so synth copies them without a download
 * or Docker. x64: the root install on a Linux x64 machine. arm64: cdk.json's `app` first runs
 * `infra/sharp-linux-arm64/ensure.mjs` (`npm run install:sharp-linux-arm64`), which installs infra/sharp-linux-arm64's lockfile with `--os=linux --cpu=arm64 --libc=glibc`:
 * npm skips optional packages whose os/cpu/libc do not match the machine, and the override is one platform for the
 * whole install, so the arm64 packages need an install of their own (docs/decisions.md, "sharp for linux-arm64").
 */
const SHARP_PLATFORMS: Record<LambdaArchitecture, { readonly platform: string; readonly root: string }> = {
  x86_64: { platform: 'linux-x64', root: `${ROOT}node_modules` },
  arm64: { platform: 'linux-arm64', root: `${ROOT}infra/sharp-linux-arm64/node_modules` },
};

/**
 * The folders to copy into the preprocess bundle: sharp's JavaScript and its runtime dependencies from the root
 * install, and the native addon and libvips for the function's architecture.
 */
export function sharpBundlePackages(architecture: LambdaArchitecture): readonly { name: string; from: string }[] {
  const { platform, root } = SHARP_PLATFORMS[architecture];
  return [
    ...['sharp', '@img/colour', 'detect-libc', 'semver'].map((name) => ({ name, from: `${ROOT}node_modules/${name}` })),
    ...[`@img/sharp-${platform}`, `@img/sharp-libvips-${platform}`].map((name) => ({ name, from: `${root}/${name}` })),
  ];
}

/**
 * The shell commands that copy sharp into the preprocess bundle. A missing package fails the bundling with a message
 * naming it and the install command; the check runs in the bundling shell, not when the commands are built, because
 * aws-cdk-lib builds them even when bundling is skipped (the local runtime's synth, which needs no arm64 binaries).
 */
export function sharpBundleCommands(
  outputDir: string,
  architecture: LambdaArchitecture,
  packages: readonly { name: string; from: string }[] = sharpBundlePackages(architecture),
): string[] {
  const checks = packages.map(
    ({ name, from }) =>
      `{ [ -d "${from}" ] || { echo "bundling preprocess (${architecture}) needs ${name} at ${from}; run ` +
      `npm run install:sharp-linux-arm64 (cdk.json runs it before every synth)" >&2; exit 1; }; }`,
  );
  return [
    ...checks,
    `mkdir -p "${outputDir}/node_modules/@img"`,
    ...packages.map(({ name, from }) => `cp -R "${from}" "${outputDir}/node_modules/${name}"`),
  ];
}

/** Copies files the bundle cannot inline (sharp's native addon, Chart.js's browser build) after esbuild runs. */
function afterBundling(stage: StageFunctionName, outputDir: string): string[] {
  if (stage === 'preprocess') return sharpBundleCommands(outputDir, SIZING.preprocess.architecture);
  if (stage === 'report') return [`cp "${ROOT}/node_modules/chart.js/dist/chart.umd.js" "${outputDir}/chart.umd.js"`];
  return [];
}

/** Properties of {@link StageFunctions}. */
export interface StageFunctionsProps {
  /** The environment every stage parses with `parseStageConfig`. */
  readonly environment: StageEnvironment;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Reserved concurrency per stage. @default - none */
  readonly reservedConcurrency?: Partial<Record<StageFunctionName, number>>;
}

/** One NodejsFunction per stage, bundled locally with esbuild from `stages/<name>/handler.ts`. */
export class StageFunctions extends Construct {
  /** The functions, by stage. */
  readonly functions: Record<StageFunctionName, nodejs.NodejsFunction>;
  readonly roles = {} as Record<StageFunctionName, iam.Role>;

  constructor(scope: Construct, id: string, props: StageFunctionsProps) {
    super(scope, id);
    const entries = STAGE_NAMES.map((stage) => [stage, this.stageFunction(stage, props)] as const);
    this.functions = Object.fromEntries(entries) as Record<StageFunctionName, nodejs.NodejsFunction>;
  }

  private stageFunction(stage: StageFunctionName, props: StageFunctionsProps): nodejs.NodejsFunction {
    const sizing = SIZING[stage];
    const logGroup = new logs.LogGroup(this, `${stage}-logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    // Our own role with write access to this function's log group only (instead of the managed
    // AWSLambdaBasicExecutionRole, which may write to any log group).
    const role = new iam.Role(this, `${stage}-role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Nightshift ${stage} stage`,
    });
    logGroup.grantWrite(role);
    this.roles[stage] = role;
    return new nodejs.NodejsFunction(this, stage, {
      role,
      entry: `${ROOT}stages/${stage}/handler.ts`,
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: `${ROOT}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: ARCHITECTURES[sizing.architecture],
      memorySize: sizing.memoryMb,
      timeout: Duration.seconds(sizing.timeoutSeconds),
      ...(props.reservedConcurrency?.[stage] === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency[stage] }),
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' } as Record<string, string>,
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        forceDockerBundling: false,
        // ESM bundles of CommonJS dependencies need `require`.
        banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        externalModules: stage === 'preprocess' ? ['sharp'] : [],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => afterBundling(stage, outputDir),
        },
      },
    });
  }
}
