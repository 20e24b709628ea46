import { randomBytes } from 'node:crypto';
import { InvalidInputError } from '../../../shared/errors.ts';
import {
  classifyDataset,
  type ExecutionInput,
  type ExecutionInputDraft,
  ExecutionInputSchema,
  parseExecutionInput,
} from '../../../shared/execution-input.ts';
import { UsageError } from '../../run-backend/failures.ts';
import { type CommandSpec, durationOption, flag, type ParsedArgs, stringOption } from '../command-line.ts';
import { flagOfField, INPUT_FLAG_OPTIONS, settingsFromArgs } from '../input-flags.ts';
import { writeJson } from '../output.ts';
import { DEFAULT_WATCH_TIMEOUT_MS } from './watch.ts';

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
    ...INPUT_FLAG_OPTIONS,
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
    return (await ctx.backend()).start({ input, name, wait, timeoutMs });
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
  const draft: ExecutionInputDraft = {
    dataset: (dataset ?? manifest) as string,
    ...settingsFromArgs(args),
  };
  const runId = stringOption(args, 'run-id');
  if (runId !== undefined) draft.runId = runId;

  const result = ExecutionInputSchema.safeParse(draft);
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
  return flagOfField(section, field) ?? path.join('.');
}

/** `run-20261123-170512-3fa9`: sortable, readable, and a valid execution name. */
export function generatedRunId(now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  return `run-${stamp}-${randomBytes(2).toString('hex')}`;
}
