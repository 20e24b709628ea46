import { RedriveExecutionCommand } from '@aws-sdk/client-sfn';
import { awsCall, awsErrorName, CliFailure } from '../cli-errors.ts';
import { type CommandSpec, durationOption, flag } from '../command-line.ts';
import { describeExecution, executionConsoleUrl, resolveRunExecution, runNotFound } from '../executions.ts';
import { callLocalHook } from '../local-hooks.ts';
import { formatTimestamp, writeJson } from '../output.ts';
import { DEFAULT_WATCH_TIMEOUT_MS, watchRun } from './watch.ts';

/** Step Functions redrives executions that stopped within the last 14 days (RedriveExecution). */
export const REDRIVE_WINDOW_MS = 14 * 86_400_000;
const REDRIVABLE = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

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
    if (ctx.global.local) {
      return callLocalHook(
        ctx.deps.loadLocalHooks,
        'redriveLocal',
        'redrive --local',
        { runId: run, wait, json: ctx.global.json, stateDir: ctx.stateDir() },
        ctx.io,
      );
    }
    const execution = await resolveRunExecution(ctx, run);
    const { sfn } = ctx.aws();
    const described = await describeExecution(sfn, execution);
    const status = described.status ?? 'UNKNOWN';
    const name = execution.runId;
    if (!REDRIVABLE.has(status)) {
      const next =
        status === 'SUCCEEDED'
          ? 'there is nothing to redrive; start a new run with `nightshift start`'
          : `only FAILED, TIMED_OUT or ABORTED runs can be redriven; follow it with \`nightshift watch ${name}\``;
      throw new CliFailure('NOT_REDRIVABLE', `run "${name}" is ${status}: ${next}`);
    }
    const stoppedAt = described.stopDate;
    if (stoppedAt && ctx.deps.clock.now().getTime() - stoppedAt.getTime() > REDRIVE_WINDOW_MS) {
      const days = Math.floor((ctx.deps.clock.now().getTime() - stoppedAt.getTime()) / 86_400_000);
      throw new CliFailure(
        'NOT_REDRIVABLE',
        `run "${name}" stopped ${formatTimestamp(stoppedAt)} (${days} days ago): Step Functions redrives only runs that ` +
          'stopped within 14 days; start a new run with `nightshift start` and a new --run-id',
      );
    }
    if (described.redriveStatus === 'NOT_REDRIVABLE') {
      throw new CliFailure(
        'NOT_REDRIVABLE',
        `Step Functions will not redrive run "${name}": ${described.redriveStatusReason ?? 'no reason given'}; start a new run with \`nightshift start\``,
      );
    }
    const out = await awsCall('states:RedriveExecution', async () => {
      try {
        return await sfn.send(new RedriveExecutionCommand({ executionArn: execution.executionArn }));
      } catch (error) {
        const errorName = awsErrorName(error);
        if (errorName === 'ExecutionNotRedrivable') {
          throw new CliFailure(
            'NOT_REDRIVABLE',
            `Step Functions refused to redrive run "${name}": ${(error as Error).message}; start a new run with \`nightshift start\``,
            { cause: error },
          );
        }
        if (errorName === 'ExecutionDoesNotExist') throw runNotFound(execution);
        throw error;
      }
    });
    const redrive = (described.redriveCount ?? 0) + 1;
    const consoleUrl = executionConsoleUrl(execution.executionArn);
    if (ctx.global.json) {
      writeJson(ctx.io, {
        runId: name,
        executionArn: execution.executionArn,
        redrive,
        redriveDate: out.redriveDate?.toISOString(),
        console: consoleUrl,
      });
    } else {
      ctx.io.stdout(
        `redriving run ${ctx.paint.bold(name)} (redrive ${redrive}) from where it ${status}\n` +
          `  execution  ${execution.executionArn}\n  console    ${consoleUrl}\n` +
          (wait ? '' : `follow it with: nightshift watch ${name}\n`),
      );
    }
    return wait ? watchRun(ctx, execution, timeoutMs) : 0;
  },
};
