import { type CommandSpec, durationOption, flag } from '../command-line.ts';
import { DEFAULT_WATCH_TIMEOUT_MS } from './watch.ts';

export const redriveCommand: CommandSpec = {
  name: 'redrive',
  summary: 'Restart a FAILED, TIMED_OUT or ABORTED run from the state that failed (RedriveExecution)',
  usage: 'redrive RUN [--wait] [options]',
  description:
    'Finished steps are not repeated; the run keeps its execution ARN. Step Functions redrives only runs that\n' +
    'stopped within the last 14 days; older or successful runs need a new run (`nightshift start`).',
  arguments: [['RUN', 'the run id, or an execution ARN']],
  options: {
    wait: { type: 'boolean', description: 'then follow the run to its end, like `nightshift watch`' },
    timeout: {
      type: 'string',
      value: 'DURATION',
      description: 'with --wait: stop watching after this long (default 49h)',
    },
  },
  positionals: { min: 1, max: 1 },
  examples: ['nightshift redrive nightly-2026-11-23 --wait'],
  async run(ctx, args) {
    const run = args.positionals[0] as string;
    const wait = flag(args, 'wait');
    const timeoutMs = durationOption(args, 'timeout', DEFAULT_WATCH_TIMEOUT_MS);
    return (await ctx.backend()).redrive({ run, wait, timeoutMs });
  },
};
