import type { CommandSpec } from '../command-line.ts';
import { LOCAL_RUN_OPTIONS, localRunSettings } from './run-local.ts';

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'Run the bundled demo dataset end to end on this machine (local runtime, no AWS account)',
  usage: 'demo [--run-id ID] [settings] [options]',
  description:
    'Runs the synthesized state machine locally against local S3 and DynamoDB servers and writes the report.\n' +
    'Afterwards the read commands work on it with --local: runs, status, report, predictions.\n' +
    'Uses the servers of `nightshift local up` when they are up, else starts its own for the run.',
  options: LOCAL_RUN_OPTIONS,
  localOnly: true,
  positionals: { min: 0, max: 0 },
  examples: ['nightshift demo', 'nightshift demo --run-id mine --batch-size 20 && nightshift runs --local'],
  run: async (ctx, args) => (await ctx.localBackend()).demo(localRunSettings('demo', args)),
};
