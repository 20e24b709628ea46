import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import type { StageEnvSchema } from '../shared/config.ts';

/** The environment every stage parses with `parseStageConfig` (typed by the same schema). */
export type StageEnvironment = Partial<Record<keyof z.input<typeof StageEnvSchema>, string>>;

export const STAGE_NAMES = ['plan', 'preprocess', 'aggregate', 'report', 'finalize-failure', 'trigger'] as const;
/** A stage's Lambda function (not every function is a pipeline stage of `shared/records.ts`'s `StageName`). */
export type StageFunctionName = (typeof STAGE_NAMES)[number];

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface StageSizing {
  readonly memoryMb: number;
  readonly timeout: Duration;
  readonly architecture: lambda.Architecture;
}

/**
 * Sizes per stage. Preprocess runs on x86_64: sharp's native binaries come from the lockfile install of the
 * machine that synthesizes (Linux x64 here and in CI), copied into the bundle, so synth stays offline and needs no
 * Docker (docs/decisions.md). The others are plain JavaScript on arm64 (cheaper per GB-second).
 */
const SIZING: Record<StageFunctionName, StageSizing> = {
  plan: { memoryMb: 1024, timeout: Duration.minutes(15), architecture: lambda.Architecture.ARM_64 },
  // Inside an EXPRESS child (5-minute cap) that may retry: keep one attempt to two minutes.
  preprocess: { memoryMb: 3008, timeout: Duration.seconds(120), architecture: lambda.Architecture.X86_64 },
  aggregate: { memoryMb: 1024, timeout: Duration.seconds(90), architecture: lambda.Architecture.ARM_64 },
  report: { memoryMb: 1769, timeout: Duration.minutes(15), architecture: lambda.Architecture.ARM_64 },
  'finalize-failure': { memoryMb: 256, timeout: Duration.seconds(30), architecture: lambda.Architecture.ARM_64 },
  trigger: { memoryMb: 256, timeout: Duration.seconds(30), architecture: lambda.Architecture.ARM_64 },
};

/** Copies files the bundle cannot inline (sharp's native addon, Chart.js's browser build) after esbuild runs. */
function afterBundling(stage: StageFunctionName, outputDir: string): string[] {
  if (stage === 'preprocess') {
    const packages = [
      'sharp',
      '@img/colour',
      '@img/sharp-linux-x64',
      '@img/sharp-libvips-linux-x64',
      'detect-libc',
      'semver',
    ];
    for (const name of packages) {
      if (!existsSync(`${ROOT}/node_modules/${name}`)) {
        throw new Error(
          `bundling preprocess needs node_modules/${name} (sharp's Linux x64 build); run \`npm ci\` on Linux x64`,
        );
      }
    }
    return [
      `mkdir -p "${outputDir}/node_modules/@img"`,
      ...packages.map((name) => `cp -R "${ROOT}/node_modules/${name}" "${outputDir}/node_modules/${name}"`),
    ];
  }
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
      architecture: sizing.architecture,
      memorySize: sizing.memoryMb,
      timeout: sizing.timeout,
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
