import { type CommandSpec, flag } from '../command-line.ts';

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'Run the bundled demo dataset end to end on this machine (local runtime, no AWS account)',
  usage: 'demo [--keep-servers] [options]',
  description:
    'Runs the synthesized state machine locally against local S3 and DynamoDB servers and writes the report.\n' +
    'Afterwards the read commands work on it with --local: runs, status, report, predictions.',
  options: {
    'keep-servers': {
      type: 'boolean',
      description:
        'leave the local S3/DynamoDB servers running (their endpoints go to .nightshift/local-endpoints.json)',
    },
  },
  localOnly: true,
  positionals: { min: 0, max: 0 },
  examples: ['nightshift demo', 'nightshift demo --keep-servers && nightshift runs --local'],
  run: async (ctx, args) => (await ctx.localBackend()).demo({ keepServers: flag(args, 'keep-servers') }),
};
