import { UsageError } from '../../run-backend/failures.ts';
import { type CommandSpec, intOption, stringOption } from '../command-line.ts';

const ACTIONS = ['up', 'down', 'status'] as const;

export const localCommand: CommandSpec = {
  name: 'local',
  summary: 'Start, stop or show the local S3, DynamoDB and model servers as a background service',
  usage: 'local up|down|status [--port-base N] [options]',
  description:
    '`up` starts the servers once, detached, on stable ports (S3 on N, DynamoDB on N+1, the model server on N+2;\n' +
    'logs in <state dir>/logs/); every --local command, `run --local` and `demo` then use them instead of starting\n' +
    'their own. `status` prints their endpoints for the AWS CLIs; `down` stops them. Data stays in the state dir.',
  arguments: [['up|down|status', 'what to do']],
  options: {
    'port-base': { type: 'string', value: 'N', description: 'with up: the first of three ports (default 45660)' },
  },
  positionals: { min: 1, max: 1 },
  examples: ['nightshift local up', 'nightshift local status', 'nightshift local down'],
  async run(ctx, args) {
    const action = args.positionals[0] as (typeof ACTIONS)[number];
    if (!ACTIONS.includes(action)) {
      throw new UsageError(`local: unknown action "${action}"; use one of ${ACTIONS.join(', ')}`);
    }
    const portBase =
      stringOption(args, 'port-base') === undefined
        ? undefined
        : intOption(args, 'port-base', { min: 1024, max: 65533, fallback: 0 });
    return (await ctx.localBackend()).service({ action, ...(portBase !== undefined ? { portBase } : {}) });
  },
};
