/**
 * The local implementation of the CLI's {@link RunBackend} port: runs execute in this process on the local runtime
 * (`demo`, `run --local`, `start/redrive --local`), and the read commands and `watch --local` read the runtime's
 * persisted state through its S3 and DynamoDB servers. The CLI imports this module on first use of `--local`.
 */
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { ExecutionInput } from '../../shared/execution-input.ts';
import { CliFailure } from '../run-backend/failures.ts';
import type {
  LocalRunBackend,
  LocalRunBackendOptions,
  LocalRunSettings,
  RedriveRequest,
  ReportFiles,
  RunListing,
  RunsQuery,
  RunView,
  StageLogLine,
  StartRequest,
  WatchRequest,
} from '../run-backend/run-backend.ts';
import { stageLogLine } from '../run-backend/run-backend.ts';
import { StoredRuns } from '../run-backend/stored-runs.ts';
import { formatSummary, readRunSource, runLocalPipeline } from './local-run.ts';
import { createLocalClients, type LocalServersOptions, resolveLocalServers, resolveStateDir } from './local-servers.ts';
import { formatService, runningService, startLocalService, stopLocalService } from './local-service.ts';
import { failOrphanedRuns } from './run-owner.ts';

/** Test seam: how the read side finds or starts the local servers. */
export interface LocalRunBackendTestOptions {
  readonly launcher?: LocalServersOptions['launcher'];
}

/** The local backend; `createLocalRunBackend` is what the CLI's lazy import reaches. */
export function createLocalRunBackend(options: LocalRunBackendOptions & LocalRunBackendTestOptions): LocalRunBackend {
  return new LocalBackend(options);
}

/** What a local pipeline run is asked to do. */
interface PipelineRun extends LocalRunSettings {
  readonly source?: string;
  readonly input?: ExecutionInput;
  readonly redriveRunId?: string;
}

const MAX_WATCH_DELAY_MS = 5000;
/** Where the local runtime writes the stage handlers' log lines, under the state directory (runtime.ts). */
export const STAGE_LOG_FILE = join('logs', 'stages.jsonl');

class LocalBackend implements LocalRunBackend {
  readonly selector = ' --local';
  private readonly stateDir: string;
  private storedPromise?: Promise<StoredRuns>;
  private readonly closers: (() => Promise<void> | void)[] = [];

  constructor(private readonly options: LocalRunBackendOptions & LocalRunBackendTestOptions) {
    const { io, projectRoot } = options;
    this.stateDir = resolveStateDir(options.stateDir, io.env, io.cwd, projectRoot);
  }

  async where(): Promise<string> {
    return (await this.stored()).storage.where;
  }

  demo(request: LocalRunSettings): Promise<number> {
    return this.runPipeline(request);
  }

  runSource(request: LocalRunSettings & { readonly source: string }): Promise<number> {
    return this.runPipeline(request);
  }

  async service(request: { readonly action: 'up' | 'down' | 'status'; readonly portBase?: number }): Promise<number> {
    const { io, json } = this.options;
    const { stateDir } = this;
    if (request.action === 'down') {
      const stopped = await stopLocalService(stateDir);
      io.stderr(
        stopped > 0 ? `Stopped ${stopped} local servers (${stateDir}).\n` : `No local servers were up (${stateDir}).\n`,
      );
      return 0;
    }
    if (request.action === 'status') {
      const service = await runningService(stateDir);
      if (!service) {
        io.stderr(`The local servers are not up (${stateDir}): start them with \`nightshift local up\`\n`);
        return 1;
      }
      io.stdout(json ? `${JSON.stringify(service, null, 2)}\n` : formatService(service));
      return 0;
    }
    const { service, alreadyRunning } = await startLocalService({
      stateDir,
      ...(request.portBase !== undefined ? { portBase: request.portBase } : {}),
      onStep: (step, seconds) => io.stderr(`  ${step.padEnd(16)} ${seconds.toFixed(1)} s\n`),
    });
    if (alreadyRunning) io.stderr(`The local servers are already up (${stateDir}).\n`);
    io.stdout(json ? `${JSON.stringify(service, null, 2)}\n` : formatService(service));
    return 0;
  }

  /** Runs the given input to its end: a local execution lives as long as this process. */
  start(request: StartRequest): Promise<number> {
    if (!request.wait) {
      this.options.io.stderr('note: a local run lives in this process, so `start --local` waits for it to finish\n');
    }
    return this.runPipeline({ input: request.input, runId: request.name });
  }

  /**
   * Runs a FAILED local run again with its recorded dataset and settings, same run id (docs/decisions.md). A run
   * that did not fail is refused from its record, before the runtime starts.
   */
  async redrive(request: RedriveRequest): Promise<number> {
    const run = await (await this.stored()).find(request.run);
    if (!run) {
      throw new CliFailure(
        'RUN_NOT_FOUND',
        `run ${request.run} not found in ${this.stateDir}: list them with \`nightshift runs --local\``,
      );
    }
    if (run.status !== 'FAILED') {
      throw new CliFailure(
        'NOT_REDRIVABLE',
        `run ${request.run} is ${run.status}; only FAILED runs can be redriven: ${
          run.status === 'RUNNING' ? 'wait for it with `nightshift watch --local`' : 'start a new run instead'
        }`,
      );
    }
    // The runtime starts its own servers on the same state: the read side's must be gone first.
    await this.close();
    this.storedPromise = undefined;
    return this.runPipeline({ redriveRunId: request.run });
  }

  /**
   * Follows a local run that another process is executing (`npm run demo` publishes its servers while it runs),
   * from the run record, until it ends or the time limit passes.
   */
  async watch(request: WatchRequest): Promise<number> {
    const { io, json, clock, sleep } = this.options;
    const stored = await this.stored();
    const deadline = clock.now().getTime() + request.timeoutMs;
    let last = '';
    let delay = 500;
    for (;;) {
      const run = await stored.find(request.run);
      if (!run) {
        io.stderr(`run ${request.run} not found in ${this.stateDir}: list them with \`nightshift runs --local\`\n`);
        return 1;
      }
      const line = `${run.status}${run.counts ? ` items=${run.counts.items} predicted=${run.counts.predicted} rejected=${run.counts.rejected}` : ''}`;
      if (line !== last) {
        io.stdout(
          json
            ? `${JSON.stringify({ runId: run.runId, status: run.status, counts: run.counts })}\n`
            : `${run.runId}: ${line}\n`,
        );
        last = line;
      }
      if (run.status !== 'RUNNING') return run.status === 'SUCCEEDED' ? 0 : 1;
      if (clock.now().getTime() + delay > deadline) {
        io.stderr(
          `run ${request.run} is still RUNNING after ${Math.round(request.timeoutMs / 1000)} s; watch again later\n`,
        );
        return 1;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, MAX_WATCH_DELAY_MS);
    }
  }

  async runs(query: RunsQuery): Promise<RunListing> {
    return (await this.stored()).list(query);
  }

  async status(runId: string): Promise<RunView> {
    const view = await (await this.stored()).view(runId);
    const source = await readRunSource(this.stateDir, runId);
    const report = join(this.stateDir, 'reports', runId, 'report.html');
    return {
      ...view,
      ...(source ? { source: source.source } : {}),
      ...(view.run.report && existsSync(report) ? { reportFile: pathToFileURL(report).href } : {}),
    };
  }

  async report(runId: string, directory: string): Promise<ReportFiles> {
    return (await this.stored()).downloadReport(runId, directory);
  }

  /** Keys relative to the folder or manifest the user gave, as they named their files. */
  async predictions(runId: string, filter: { readonly keyPrefix?: string }) {
    const source = await readRunSource(this.stateDir, runId);
    if (!source) return (await this.stored()).predictions(runId, filter);
    const rows = await (await this.stored()).predictions(runId, {
      ...(filter.keyPrefix !== undefined ? { keyPrefix: `${source.keyPrefix}${filter.keyPrefix}` } : {}),
    });
    return (async function* () {
      for await (const row of rows) {
        yield row.key.startsWith(source.keyPrefix) ? { ...row, key: row.key.slice(source.keyPrefix.length) } : row;
      }
    })();
  }

  /**
   * The run's stage lines from the runtime's JSON Lines log (`logs/stages.jsonl` in the state directory, where
   * `runtime.ts` sends the stage handlers' log lines), streamed so a long history is never held whole.
   */
  async logs(runId: string): Promise<readonly StageLogLine[]> {
    await (await this.stored()).get(runId);
    const file = join(this.stateDir, STAGE_LOG_FILE);
    if (!(await stat(file).catch(() => undefined))) return [];
    const lines: StageLogLine[] = [];
    const marker = `"runId":${JSON.stringify(runId)}`;
    for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
      if (!text.includes(marker)) continue;
      try {
        const line = stageLogLine(JSON.parse(text));
        if (line && line.fields.runId === runId) lines.push(line);
      } catch {
        // A line cut short by a killed process: the rest of the log still reads.
      }
    }
    return lines;
  }

  /** Stops any servers the read side started and destroys its clients, newest first. */
  async close(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) await close();
  }

  /** The read side, on the runtime's running servers or on servers started for this command. */
  private stored(): Promise<StoredRuns> {
    this.storedPromise ??= (async () => {
      const servers = await resolveLocalServers({
        stateDir: this.stateDir,
        ...(this.options.launcher ? { launcher: this.options.launcher } : {}),
      });
      this.closers.push(() => servers.close());
      const clients = createLocalClients(servers.endpoints);
      this.closers.push(() => clients.destroy());
      // A RUNNING run whose process is gone (Ctrl-C, SIGKILL, a crash) would otherwise stay RUNNING forever.
      for (const runId of await failOrphanedRuns(clients.doc, servers.names.runsTable, this.stateDir)) {
        this.options.io.stderr(
          `note: run ${runId} was RUNNING but its process is gone; marked FAILED (\`nightshift status ${runId} --local\` says why): finish it with \`nightshift redrive --local ${runId}\`\n`,
        );
      }
      return new StoredRuns(
        {
          where: `the local servers (${servers.stateDir})`,
          selector: this.selector,
          ...servers.names,
          s3: clients.s3,
          doc: clients.doc,
        },
        this.options.clock,
      );
    })();
    return this.storedPromise;
  }

  private async runPipeline(run: PipelineRun): Promise<number> {
    const { io, json } = this.options;
    const stop = interruption();
    try {
      const summary = await runLocalPipeline({
        home: this.stateDir,
        ...(run.source ? { source: run.source } : {}),
        ...(run.runId ? { runId: run.runId } : {}),
        ...(run.redriveRunId ? { redriveRunId: run.redriveRunId } : {}),
        ...(run.preprocess ? { preprocess: run.preprocess } : {}),
        ...(run.transform ? { transform: run.transform } : {}),
        ...(run.input
          ? { dataset: run.input.dataset, preprocess: run.input.preprocess, transform: run.input.transform }
          : {}),
        interrupted: stop.promise,
        io: { out: io.stdout, err: io.stderr, isTTY: io.isTTY },
      });
      io.stdout(json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
      return summary.status === 'SUCCEEDED' ? 0 : 1;
    } finally {
      stop.dispose();
    }
  }
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
