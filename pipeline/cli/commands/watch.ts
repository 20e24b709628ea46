import { type CommandSpec, durationOption } from '../command-line.ts';

/** The state machine's own time limit is 48 h (pipeline/state-machine.ts); watching an hour longer sees its end. */
export const DEFAULT_WATCH_TIMEOUT_MS = 49 * 3_600_000;

export const watchCommand: CommandSpec = {
  name: 'watch',
  summary: 'Follow a run to its end: current stage, map progress, transform job; exits with its outcome',
  usage: 'watch RUN [--timeout DURATION] [options]',
  description:
    'Polls DescribeExecution, the newest history events, the Distributed Map runs (DescribeMapRun item counts) and\n' +
    'the Batch Transform job (DescribeTransformJob), backing off from 2 s to 30 s. Prints a line when something\n' +
    'changes (--json: one JSON object per line). Exit 0 when the run SUCCEEDED; 1 when it FAILED, TIMED_OUT or\n' +
    'was ABORTED, or is still running when --timeout runs out.',
  arguments: [['RUN', 'the run id, or an execution ARN']],
  options: {
    timeout: {
      type: 'string',
      value: 'DURATION',
      description: 'stop watching after this long: 90s, 30m, 2h (default 49h)',
    },
  },
  positionals: { min: 1, max: 1 },
  examples: ['nightshift watch nightly-2026-11-23', 'nightshift watch nightly-2026-11-23 --timeout 2h --json'],
  async run(ctx, args) {
    const run = args.positionals[0] as string;
    const timeoutMs = durationOption(args, 'timeout', DEFAULT_WATCH_TIMEOUT_MS);
    return (await ctx.backend()).watch({ run, timeoutMs });
  },
};
