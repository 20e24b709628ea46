import { resolve } from 'node:path';
import { ExecutionInputSchema } from '../../../shared/execution-input.ts';
import { UsageError } from '../../run-backend/failures.ts';
import { checkLocalSource } from '../../run-backend/local-source.ts';
import type { LocalRunSettings } from '../../run-backend/run-backend.ts';
import { type CommandSpec, type OptionSpecs, type ParsedArgs, stringOption } from '../command-line.ts';
import { flagOfField, INPUT_FLAG_OPTIONS, settingsFromArgs } from '../input-flags.ts';

/** The run settings `run --local` and `demo` share with `start`: `--run-id` and the schema-derived flags. */
export const LOCAL_RUN_OPTIONS: OptionSpecs = {
  'run-id': { type: 'string', value: 'ID', description: 'the run id (default: the folder name and the time)' },
  ...INPUT_FLAG_OPTIONS,
};

/**
 * The settings from the options, validated by the execution input's schema before anything starts (a placeholder
 * dataset stands in for the one the run uploads); each problem names its option.
 */
export function localRunSettings(command: string, args: ParsedArgs): LocalRunSettings {
  const settings = settingsFromArgs(args);
  const runId = stringOption(args, 'run-id');
  const result = ExecutionInputSchema.safeParse({
    dataset: 's3://local-placeholder/dataset/',
    ...(runId !== undefined ? { runId } : {}),
    ...settings,
  });
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const [section, field] = issue.path.map(String);
      const option = section === 'runId' ? '--run-id' : (flagOfField(section, field) ?? issue.path.join('.'));
      return `${option}: ${issue.message}`;
    });
    throw new UsageError(`${command}: ${problems.join('; ')}`);
  }
  return {
    ...(runId !== undefined ? { runId } : {}),
    ...(Object.keys(settings.preprocess).length > 0 ? { preprocess: settings.preprocess } : {}),
    ...(Object.keys(settings.transform).length > 0 ? { transform: settings.transform } : {}),
  };
}

export const runLocalCommand: CommandSpec = {
  name: 'run',
  summary: 'Run the pipeline on this machine over a folder of images or a manifest (needs --local)',
  usage: 'run --local FOLDER|MANIFEST [--run-id ID] [settings] [options]',
  description:
    "On AWS, start runs with `nightshift start`; `run` is the local runtime's one-shot equivalent and takes the\n" +
    'same run settings. It uses the servers of `nightshift local up` when they are up, else starts its own.',
  arguments: [['FOLDER|MANIFEST', 'a local folder of images, or a local manifest (.json, .manifest, .jsonl)']],
  options: LOCAL_RUN_OPTIONS,
  localOnly: true,
  positionals: { min: 1, max: 1 },
  examples: [
    'nightshift run --local ./images',
    'nightshift run --local ./receipts.jsonl --run-id receipts-1 --batch-size 20',
  ],
  async run(ctx, args) {
    if (!ctx.global.local) {
      throw new UsageError(
        'run: add --local (`nightshift run --local ./images`); to run on AWS use `nightshift start`',
      );
    }
    const settings = localRunSettings('run', args);
    const given = args.positionals[0] as string;
    const source = resolve(ctx.io.cwd, given);
    // Before the local runtime is even imported (seconds), so a wrong path is reported at once.
    await checkLocalSource(source, given);
    return (await ctx.localBackend()).runSource({ source, ...settings });
  },
};
