import { randomBytes } from 'node:crypto';
import { SfnExecutionStarter } from '../../../shared/aws/sfn-execution-starter.ts';
import { InvalidInputError } from '../../../shared/errors.ts';
import {
  classifyDataset,
  type ExecutionInput,
  type ExecutionInputDraft,
  ExecutionInputSchema,
  PreprocessSettingsSchema,
  parseExecutionInput,
  TransformSettingsSchema,
} from '../../../shared/execution-input.ts';
import { CliFailure, explainAwsError, UsageError } from '../cli-errors.ts';
import {
  type CommandSpec,
  durationOption,
  flag,
  type OptionSpec,
  type ParsedArgs,
  stringOption,
} from '../command-line.ts';
import { executionConsoleUrl, executionNameOf } from '../executions.ts';
import { callLocalHook } from '../local-hooks.ts';
import { writeJson, writeJsonLine } from '../output.ts';
import { DEFAULT_WATCH_TIMEOUT_MS, watchRun } from './watch.ts';

type Section = 'preprocess' | 'transform';

/** A flag that sets one field of the execution input; defaults in help come from the schema itself. */
interface InputFlag {
  readonly flag: string;
  readonly section: Section;
  readonly field: string;
  readonly kind: 'number' | 'string';
  readonly value: string;
  readonly description: string;
}

const INPUT_FLAGS: readonly InputFlag[] = [
  {
    flag: 'width',
    section: 'preprocess',
    field: 'width',
    kind: 'number',
    value: 'PX',
    description: 'model input width',
  },
  {
    flag: 'height',
    section: 'preprocess',
    field: 'height',
    kind: 'number',
    value: 'PX',
    description: 'model input height',
  },
  {
    flag: 'fit',
    section: 'preprocess',
    field: 'fit',
    kind: 'string',
    value: 'MODE',
    description: 'inside | contain | fill',
  },
  {
    flag: 'encoding',
    section: 'preprocess',
    field: 'encoding',
    kind: 'string',
    value: 'FMT',
    description: 'jpeg | png',
  },
  {
    flag: 'jpeg-quality',
    section: 'preprocess',
    field: 'jpegQuality',
    kind: 'number',
    value: 'Q',
    description: 'JPEG quality 50-100',
  },
  {
    flag: 'max-input-pixels',
    section: 'preprocess',
    field: 'maxInputPixels',
    kind: 'number',
    value: 'N',
    description: 'decompression-bomb guard',
  },
  {
    flag: 'max-object-bytes',
    section: 'preprocess',
    field: 'maxObjectBytes',
    kind: 'number',
    value: 'N',
    description: 'larger objects are rejected unread',
  },
  {
    flag: 'batch-size',
    section: 'preprocess',
    field: 'batchSize',
    kind: 'number',
    value: 'N',
    description: 'images per Distributed Map batch (1-200)',
  },
  {
    flag: 'max-concurrency',
    section: 'preprocess',
    field: 'maxConcurrency',
    kind: 'number',
    value: 'N',
    description: 'child workflows at once',
  },
  {
    flag: 'download-concurrency',
    section: 'preprocess',
    field: 'downloadConcurrency',
    kind: 'number',
    value: 'N',
    description: 'downloads at once in a batch',
  },
  {
    flag: 'tolerated-failure-percentage',
    section: 'preprocess',
    field: 'toleratedFailurePercentage',
    kind: 'number',
    value: 'P',
    description: 'failed batches tolerated (0-100)',
  },
  {
    flag: 'instance-type',
    section: 'transform',
    field: 'instanceType',
    kind: 'string',
    value: 'TYPE',
    description: 'Batch Transform instance type',
  },
  {
    flag: 'instance-count',
    section: 'transform',
    field: 'instanceCount',
    kind: 'number',
    value: 'N',
    description: 'Batch Transform instances (1-100)',
  },
  {
    flag: 'max-payload-mb',
    section: 'transform',
    field: 'maxPayloadInMB',
    kind: 'number',
    value: 'MB',
    description: 'SageMaker MaxPayloadInMB (1-100)',
  },
  {
    flag: 'max-concurrent-transforms',
    section: 'transform',
    field: 'maxConcurrentTransforms',
    kind: 'number',
    value: 'N',
    description: '0 asks the container',
  },
  {
    flag: 'invocation-timeout-seconds',
    section: 'transform',
    field: 'invocationTimeoutSeconds',
    kind: 'number',
    value: 'S',
    description: 'per-request model time-out',
  },
  {
    flag: 'invocation-retries',
    section: 'transform',
    field: 'invocationRetries',
    kind: 'number',
    value: 'N',
    description: 'per-request retries (0-3)',
  },
];

const DEFAULTS: Record<Section, Record<string, unknown>> = {
  preprocess: PreprocessSettingsSchema.parse({}),
  transform: TransformSettingsSchema.parse({}),
};

const inputFlagOptions = Object.fromEntries(
  INPUT_FLAGS.map((input): [string, OptionSpec] => [
    input.flag,
    {
      type: 'string',
      value: input.value,
      description: `${input.description} (default ${String(DEFAULTS[input.section][input.field])})`,
    },
  ]),
);

export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'Start a run over an S3 prefix or manifest (StartExecution); prints the run id and console link',
  usage:
    'start (--dataset s3://BUCKET/PREFIX/ | --manifest s3://BUCKET/KEY.jsonl) [--run-id ID] [settings] [--wait] [options]',
  description:
    'The input is validated with the schema the plan stage uses (shared/execution-input.ts) before anything\n' +
    'starts: a bad setting exits 2 naming the option. The run id is the execution name (default run-<UTC time>-<hex>).',
  options: {
    dataset: {
      type: 'string',
      value: 'S3URI',
      description: 's3://bucket/prefix/ (every object under it) or a manifest',
    },
    manifest: {
      type: 'string',
      value: 'S3URI',
      description: 'a manifest: .json/.manifest (SageMaker ManifestFile) or .jsonl',
    },
    'run-id': { type: 'string', value: 'ID', description: '1-80 letters, digits, "-" or "_" (the execution name)' },
    ...inputFlagOptions,
    wait: {
      type: 'boolean',
      description: 'then follow the run to its end, like `nightshift watch` (exit 1 if it fails)',
    },
    timeout: {
      type: 'string',
      value: 'DURATION',
      description: 'with --wait: stop watching after this long (default 49h)',
    },
    'dry-run': { type: 'boolean', description: 'print the validated execution input and start nothing' },
    'keep-servers': { type: 'boolean', description: 'with --local: leave the local servers running afterwards' },
  },
  positionals: { min: 0, max: 0 },
  examples: [
    'nightshift start --dataset s3://my-images/2026-11-23/ --wait',
    'nightshift start --manifest s3://my-images/manifests/receipts.jsonl --run-id receipts-1 --instance-type ml.g5.2xlarge',
  ],
  async run(ctx, args) {
    const { input, name } = buildInput(args, ctx.deps.clock.now());
    const wait = flag(args, 'wait');
    const timeoutMs = durationOption(args, 'timeout', DEFAULT_WATCH_TIMEOUT_MS);
    if (flag(args, 'dry-run')) {
      writeJson(ctx.io, { name, input });
      return 0;
    }
    if (ctx.global.local) {
      return callLocalHook(
        ctx.deps.loadLocalHooks,
        'startLocal',
        'start --local',
        { input, name, wait, keepServers: flag(args, 'keep-servers'), json: ctx.global.json, stateDir: ctx.stateDir() },
        ctx.io,
      );
    }
    const stack = await ctx.stack();
    const starter = new SfnExecutionStarter(ctx.aws().sfn, stack.StateMachineArn);
    let result: Awaited<ReturnType<SfnExecutionStarter['start']>>;
    try {
      result = await starter.start({ name, input });
    } catch (error) {
      throw explainAwsError(error, 'states:StartExecution');
    }
    if (!result.started) {
      throw new CliFailure(
        'RUN_EXISTS',
        `run "${name}" already exists (execution names stay taken for 90 days): follow it with \`nightshift watch ${name}\`, ` +
          'or pick another --run-id',
      );
    }
    const { executionArn } = result;
    const consoleUrl = executionConsoleUrl(executionArn);
    if (ctx.global.json) {
      (wait ? writeJsonLine : writeJson)(ctx.io, { event: 'started', runId: name, executionArn, console: consoleUrl });
    } else {
      ctx.io.stdout(
        `started run ${ctx.paint.bold(name)}\n  execution  ${executionArn}\n  console    ${consoleUrl}\n` +
          (wait ? '' : `follow it with: nightshift watch ${name}\n`),
      );
    }
    return wait ? watchRun(ctx, { runId: executionNameOf(executionArn), executionArn }, timeoutMs) : 0;
  },
};

/**
 * The execution input from the options, validated before anything starts. Every problem is a usage error naming
 * the option it came from.
 */
export function buildInput(args: ParsedArgs, now: Date): { input: ExecutionInput; name: string } {
  const dataset = stringOption(args, 'dataset');
  const manifest = stringOption(args, 'manifest');
  if ((dataset === undefined) === (manifest === undefined)) {
    throw new UsageError(
      'start: give exactly one of --dataset s3://bucket/prefix/ or --manifest s3://bucket/key.jsonl',
    );
  }
  const datasetFlag = dataset === undefined ? '--manifest' : '--dataset';
  const draft: {
    dataset: string;
    runId?: string;
    preprocess: Record<string, unknown>;
    transform: Record<string, unknown>;
  } = {
    dataset: (dataset ?? manifest) as string,
    preprocess: {},
    transform: {},
  };
  const runId = stringOption(args, 'run-id');
  if (runId !== undefined) draft.runId = runId;
  for (const input of INPUT_FLAGS) {
    const raw = stringOption(args, input.flag);
    if (raw === undefined) continue;
    if (input.kind === 'number') {
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value))
        throw new UsageError(`--${input.flag} must be a number, got "${raw}"`);
      draft[input.section][input.field] = value;
    } else {
      draft[input.section][input.field] = raw;
    }
  }

  const result = ExecutionInputSchema.safeParse(draft as ExecutionInputDraft);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${flagForPath(issue.path, datasetFlag)}: ${issue.message}`);
    throw new UsageError(`start: ${problems.join('; ')}`);
  }
  let input: ExecutionInput;
  try {
    input = parseExecutionInput(draft);
  } catch (error) {
    if (error instanceof InvalidInputError)
      throw new UsageError(`start: ${datasetFlag}: ${error.message}`, { cause: error });
    throw error;
  }
  if (manifest !== undefined && classifyDataset(input.dataset).type === 'prefix') {
    throw new UsageError(
      `start: --manifest must name a manifest file (.json, .manifest or .jsonl); for a prefix use --dataset`,
    );
  }
  return { input, name: input.runId ?? generatedRunId(now) };
}

function flagForPath(path: readonly PropertyKey[], datasetFlag: string): string {
  const [section, field] = path.map(String);
  if (section === 'dataset') return datasetFlag;
  if (section === 'runId') return '--run-id';
  const match = INPUT_FLAGS.find((input) => input.section === section && input.field === field);
  return match ? `--${match.flag}` : path.join('.');
}

/** `run-20261123-170512-3fa9`: sortable, readable, and a valid execution name. */
export function generatedRunId(now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  return `run-${stamp}-${randomBytes(2).toString('hex')}`;
}
