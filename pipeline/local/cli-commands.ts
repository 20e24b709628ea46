/**
 * The CLI commands the local runtime implements (`nightshift demo`, `run --local`, `start/watch/redrive --local`);
 * the CLI imports this module lazily and passes its io (see pipeline/cli/local-hooks.ts).
 */
import type { ExecutionInput } from '../../shared/execution-input.ts';
import type { CliIo } from '../cli/io.ts';
import { formatSummary, type LocalRunSummary, runLocalPipeline } from './local-run.ts';

interface HookArgs {
  readonly json: boolean;
  readonly stateDir: string;
}

/** Resolves on the first Ctrl-C (SIGINT) or SIGTERM, so the run stops and every child process is shut down. */
function interruption(): { promise: Promise<void>; dispose: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  const onSignal = () => resolve();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function run(
  options: { source?: string; runId?: string; input?: ExecutionInput; redriveRunId?: string; keepServers: boolean },
  args: HookArgs,
  io: CliIo,
): Promise<number> {
  const stop = interruption();
  try {
    const summary = await runLocalPipeline({
      home: args.stateDir,
      ...(options.source ? { source: options.source } : {}),
      ...(options.runId ? { runId: options.runId } : {}),
      ...(options.redriveRunId ? { redriveRunId: options.redriveRunId } : {}),
      ...(options.input
        ? { dataset: options.input.dataset, preprocess: options.input.preprocess, transform: options.input.transform }
        : {}),
      keepServers: options.keepServers,
      interrupted: stop.promise,
      io: { out: io.stdout, err: io.stderr, isTTY: io.isTTY },
    });
    report(summary, args.json, io);
    return summary.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    stop.dispose();
  }
}

function report(summary: LocalRunSummary, json: boolean, io: CliIo): void {
  if (json) io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
  else io.stdout(formatSummary(summary));
}

export function demoCommand(args: HookArgs & { readonly keepServers: boolean }, io: CliIo): Promise<number> {
  return run({ keepServers: args.keepServers }, args, io);
}

export function runLocalCommand(
  args: HookArgs & { readonly source: string; readonly keepServers: boolean },
  io: CliIo,
): Promise<number> {
  return run({ source: args.source, keepServers: args.keepServers }, args, io);
}

/** `start --local`: runs the given input to its end (a local execution lives as long as this process). */
export function startLocal(
  args: HookArgs & {
    readonly input: ExecutionInput;
    readonly name: string;
    readonly wait: boolean;
    readonly keepServers: boolean;
  },
  io: CliIo,
): Promise<number> {
  if (!args.wait) {
    io.stderr('note: a local run lives in this process, so `start --local` waits for it to finish\n');
  }
  return run({ input: args.input, runId: args.name, keepServers: args.keepServers }, args, io);
}

/** `redrive --local RUN`: runs a FAILED local run again with its recorded dataset and settings, same run id. */
export function redriveLocal(
  args: HookArgs & { readonly runId: string; readonly wait: boolean },
  io: CliIo,
): Promise<number> {
  return run({ redriveRunId: args.runId, keepServers: false }, args, io);
}
