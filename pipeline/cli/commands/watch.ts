import { formatDuration } from '../../../shared/format-duration.ts';
import type { CommandContext } from '../command-context.ts';
import { type CommandSpec, durationOption } from '../command-line.ts';
import { ExecutionProgressReader, type ExecutionSnapshot } from '../execution-progress.ts';
import { followExecution } from '../execution-watch.ts';
import { type RunExecution, resolveRunExecution } from '../executions.ts';
import { callLocalHook } from '../local-hooks.ts';
import { formatCount, paintStatus, writeJsonLine } from '../output.ts';

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
    if (ctx.global.local) {
      return callLocalHook(
        ctx.deps.loadLocalHooks,
        'watchLocal',
        'watch --local',
        { runId: run, timeoutMs, json: ctx.global.json, stateDir: ctx.stateDir() },
        ctx.io,
      );
    }
    return watchRun(ctx, await resolveRunExecution(ctx, run), timeoutMs);
  },
};

/** Follows one execution and reports its end; the exit code is 0 only when it SUCCEEDED. Used by start/redrive --wait. */
export async function watchRun(ctx: CommandContext, execution: RunExecution, timeoutMs: number): Promise<number> {
  const aws = ctx.aws();
  const reader = new ExecutionProgressReader(aws.sfn, aws.sagemaker);
  const { snapshot, timedOut } = await followExecution(() => reader.read(execution), {
    timeoutMs,
    sleep: ctx.deps.sleep,
    clock: ctx.deps.clock,
    onSnapshot: (current, changed) => {
      if (!changed) return;
      if (ctx.global.json)
        writeJsonLine(ctx.io, { event: 'progress', at: ctx.deps.clock.now().toISOString(), ...current });
      else ctx.io.stdout(`${progressLine(ctx, current)}\n`);
    },
    onTransientError: (error, consecutive) => {
      ctx.io.stderr(`warning: could not read the run (${error.message}); trying again (${consecutive})\n`);
    },
  });
  const succeeded = snapshot.status === 'SUCCEEDED' && !timedOut;
  if (ctx.global.json) {
    writeJsonLine(ctx.io, { event: timedOut ? 'gave-up' : 'finished', ...snapshot, timedOut });
  } else {
    ctx.io.stdout(`${finalLine(ctx, snapshot, timedOut, timeoutMs)}\n`);
  }
  return succeeded ? 0 : 1;
}

function progressLine(ctx: CommandContext, snapshot: ExecutionSnapshot): string {
  const { paint } = ctx;
  const time = ctx.deps.clock.now().toISOString().slice(11, 19);
  const parts = [paint.dim(time), paintStatus(paint, snapshot.status)];
  if (snapshot.currentState) parts.push(paint.bold(snapshot.currentState));
  for (const map of snapshot.maps) {
    const detail = [
      map.failed > 0 ? paint.red(`${formatCount(map.failed)} failed`) : '',
      map.running > 0 ? `${formatCount(map.running)} running` : '',
      map.pending > 0 ? `${formatCount(map.pending)} pending` : '',
    ].filter(Boolean);
    parts.push(
      `${map.label} ${formatCount(map.succeeded)}/${formatCount(map.total)}${detail.length ? ` (${detail.join(', ')})` : ''}`,
    );
  }
  if (snapshot.transformJob) {
    parts.push(`transform ${snapshot.transformJob.name} ${paintStatus(paint, snapshot.transformJob.status)}`);
  }
  return parts.join('  ');
}

function finalLine(ctx: CommandContext, snapshot: ExecutionSnapshot, timedOut: boolean, timeoutMs: number): string {
  const { paint } = ctx;
  const run = paint.bold(snapshot.runId);
  if (timedOut) {
    return `stopped watching run ${run} after ${formatDuration(timeoutMs / 1000)}: it is still ${snapshot.status}; watch it again with \`nightshift watch ${snapshot.runId}\``;
  }
  const took =
    snapshot.startDate && snapshot.stopDate
      ? ` after ${formatDuration((Date.parse(snapshot.stopDate) - Date.parse(snapshot.startDate)) / 1000)}`
      : '';
  if (snapshot.status === 'SUCCEEDED') {
    return `run ${run} ${paintStatus(paint, 'SUCCEEDED')}${took}; see it with \`nightshift status ${snapshot.runId}\` or \`nightshift report ${snapshot.runId} --open\``;
  }
  const why = [snapshot.error, snapshot.cause ? oneLine(snapshot.cause, 300) : undefined].filter(Boolean).join(': ');
  const job = snapshot.transformJob?.failureReason
    ? ` (transform job: ${oneLine(snapshot.transformJob.failureReason, 200)})`
    : '';
  return `run ${run} ${paintStatus(paint, snapshot.status)}${took}${why ? `: ${why}` : ''}${job}; redrive it with \`nightshift redrive ${snapshot.runId}\``;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}\u2026` : flat;
}
