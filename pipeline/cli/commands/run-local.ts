import { resolve } from 'node:path';
import { UsageError } from '../../run-backend/failures.ts';
import { checkLocalSource } from '../../run-backend/local-source.ts';
import { type CommandSpec, flag } from '../command-line.ts';

export const runLocalCommand: CommandSpec = {
  name: 'run',
  summary: 'Run the pipeline on this machine over a folder of images or a manifest (needs --local)',
  usage: 'run --local FOLDER|MANIFEST [--keep-servers] [options]',
  description: "On AWS, start runs with `nightshift start`; `run` is the local runtime's one-shot equivalent.",
  arguments: [['FOLDER|MANIFEST', 'a local folder of images, or a local manifest (.json, .manifest, .jsonl)']],
  options: {
    'keep-servers': { type: 'boolean', description: 'leave the local S3/DynamoDB servers running afterwards' },
  },
  localOnly: true,
  positionals: { min: 1, max: 1 },
  examples: ['nightshift run --local ./images', 'nightshift run --local ./receipts.jsonl --keep-servers'],
  async run(ctx, args) {
    if (!ctx.global.local) {
      throw new UsageError(
        'run: add --local (`nightshift run --local ./images`); to run on AWS use `nightshift start`',
      );
    }
    const given = args.positionals[0] as string;
    const source = resolve(ctx.io.cwd, given);
    // Before the local runtime is even imported (seconds), so a wrong path is reported at once.
    await checkLocalSource(source, given);
    return (await ctx.localBackend()).runSource({ source, keepServers: flag(args, 'keep-servers') });
  },
};
