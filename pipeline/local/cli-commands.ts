/**
 * The CLI commands the local runtime implements (`nightshift demo`, `run --local`, `start/watch/redrive --local`);
 * the CLI imports this module lazily and passes its io (see pipeline/cli/local-hooks.ts).
 */

import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import type { ExecutionInput } from '../../shared/execution-input.ts';
import { systemClock } from '../../shared/ports.ts';
import { createLocalClients } from '../cli/aws-clients.ts';
import type { CliIo } from '../cli/io.ts';
import { resolveLocalBackend } from '../cli/local-backend.ts';
import type { LocalHooks } from '../cli/local-hooks.ts';
import { formatSummary, type LocalRunSummary, runLocalPipeline } from './local-run.ts';

/** The arguments the CLI passes to hook `K` (the contract is `LocalHooks` in pipeline/cli/local-hooks.ts). */
type Args<K extends keyof LocalHooks> = Parameters<NonNullable<LocalHooks[K]>>[0];

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
  args: { readonly json: boolean; readonly stateDir: string },
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

export function demoCommand(args: Args<'demoCommand'>, io: CliIo): Promise<number> {
  return run({ keepServers: args.keepServers }, args, io);
}

export function runLocalCommand(args: Args<'runLocalCommand'>, io: CliIo): Promise<number> {
  return run({ source: args.source, keepServers: args.keepServers }, args, io);
}

/** `start --local`: runs the given input to its end (a local execution lives as long as this process). */
export function startLocal(args: Args<'startLocal'>, io: CliIo): Promise<number> {
  if (!args.wait) {
    io.stderr('note: a local run lives in this process, so `start --local` waits for it to finish\n');
  }
  return run({ input: args.input, runId: args.name, keepServers: args.keepServers }, args, io);
}

/** `redrive --local RUN`: runs a FAILED local run again with its recorded dataset and settings, same run id. */
export function redriveLocal(args: Args<'redriveLocal'>, io: CliIo): Promise<number> {
  return run({ redriveRunId: args.runId, keepServers: false }, args, io);
}

/**
 * `watch --local RUN`: follows a local run that another process is executing (`npm run demo` publishes its servers
 * while it runs), from the run record, until it ends or the time limit passes.
 */
export async function watchLocal(
  args: Args<'watchLocal'>,
  io: CliIo,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<number> {
  const backend = await resolveLocalBackend({ stateDir: args.stateDir });
  const clients = createLocalClients(backend.endpoints);
  try {
    const runs = new DynamoRunStore(clients.doc, backend.names.runsTable, systemClock);
    const deadline = Date.now() + args.timeoutMs;
    let last = '';
    let delay = 500;
    for (;;) {
      const run = await runs.get(args.runId);
      if (!run) {
        io.stderr(`run ${args.runId} not found in ${args.stateDir}: list them with \`nightshift runs --local\`\n`);
        return 1;
      }
      const line = `${run.status}${run.counts ? ` items=${run.counts.items} predicted=${run.counts.predicted} rejected=${run.counts.rejected}` : ''}`;
      if (line !== last) {
        io.stdout(
          args.json
            ? `${JSON.stringify({ runId: run.runId, status: run.status, counts: run.counts })}\n`
            : `${run.runId}: ${line}\n`,
        );
        last = line;
      }
      if (run.status !== 'RUNNING') return run.status === 'SUCCEEDED' ? 0 : 1;
      if (Date.now() + delay > deadline) {
        io.stderr(
          `run ${args.runId} is still RUNNING after ${Math.round(args.timeoutMs / 1000)} s; watch again later\n`,
        );
        return 1;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  } finally {
    clients.destroy();
    await backend.close();
  }
}
