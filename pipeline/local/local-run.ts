import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ManifestError } from '../../shared/errors.ts';
import { BUCKET_PREFIXES } from '../../shared/layout.ts';
import type { RunRecord } from '../../shared/records.ts';
import { parseS3Uri } from '../../shared/s3-location.ts';
import { describeCause } from '../run-backend/failure-cause.ts';
import { CliFailure } from '../run-backend/failures.ts';
import { checkLocalSource } from '../run-backend/local-source.ts';
import { explainFailedRun, LocalServerDiedError } from './local-server-health.ts';
import { runningService } from './local-service.ts';
import { ProgressDisplay } from './progress-display.ts';
import { failOrphanedRuns, keepUnrecordedFailure, RunHeartbeat } from './run-owner.ts';
import type { LocalRuntime } from './runtime.ts';
import type { SampleFile } from './sample-dataset.ts';
import { readStateFile } from './state-file.ts';

export interface LocalRunIo {
  out(text: string): void;
  err(text: string): void;
  readonly isTTY: boolean;
}

export interface LocalRunOptions {
  /** State folder; default `.nightshift` in the current directory. */
  readonly home: string;
  /** A folder of images or a manifest file (.jsonl or SageMaker .json); absent = the generated sample. */
  readonly source?: string;
  /** An S3 dataset already in the local S3 server (`start --local`); wins over `source`. */
  readonly dataset?: string;
  /** Re-run a FAILED local run with its recorded dataset and settings (`redrive --local`). */
  readonly redriveRunId?: string;
  readonly runId?: string;
  /** Settings passed to the execution input. */
  readonly preprocess?: Readonly<Record<string, unknown>>;
  readonly transform?: Readonly<Record<string, unknown>>;
  readonly io: LocalRunIo;
  /** Resolves when the user asks to stop (Ctrl-C); the run is then aborted and everything shut down. */
  readonly interrupted?: Promise<void>;
}

export interface LocalRunSummary {
  readonly runId: string;
  readonly status: string;
  readonly error?: string;
  readonly cause?: string;
  readonly run?: RunRecord;
  readonly accuracy?: { withExpected: number; matches: number; rate: number } | null;
  readonly stageSeconds: Array<{ stage: string; seconds: number }>;
  readonly wallSeconds: number;
  readonly reportHtml?: string;
}

/**
 * One pipeline run on this machine: starts the runtime, puts the dataset in the local S3 server, runs the
 * synthesized state machine with progress, prints a summary and copies the HTML report out of local S3.
 */
export async function runLocalPipeline(options: LocalRunOptions): Promise<LocalRunSummary> {
  const { io } = options;
  const started = Date.now();
  const display = new ProgressDisplay({ write: (text) => io.err(text), isTTY: io.isTTY });
  // A wrong source path is the user's mistake, reported before any server starts.
  if (options.source !== undefined && !options.dataset && !options.redriveRunId) {
    const kind = await checkLocalSource(resolve(options.source), options.source);
    if (kind !== 'folder') await checkLocalManifestScope(resolve(options.source));
  }
  const service = await runningService(options.home);
  io.err(
    service
      ? `Using the local servers of \`nightshift local up\` (${service.servers.s3.endpoint}, ${service.servers.dynamodb.endpoint}, ${service.servers.model.endpoint})\n`
      : 'Starting the local S3, DynamoDB and model servers for this run (`nightshift local up` keeps them running):\n',
  );
  // Imported here, not at the top: the read commands that import this module never start a runtime, and the
  // sample's renderer (sharp) is needed only without a source.
  const sample = options.source === undefined && !options.dataset && !options.redriveRunId ? startSample() : undefined;
  const { LocalRuntime: Runtime } = await import('./runtime.ts');
  const runtime = await Runtime.start({
    home: options.home,
    onProgress: display.onEvent,
    // Steps run together, so each gives its seconds since start-up began; the model may finish during a stage.
    onStartupStep: (step, seconds) => display.note(`  ${step.padEnd(16)} ${seconds.toFixed(1)} s`),
  });
  let handle: ReturnType<LocalRuntime['startRun']> | undefined;
  let heartbeat: RunHeartbeat | undefined;
  let runId: string | undefined;
  const onInterrupt = options.interrupted?.then(async () => {
    io.err('\nInterrupted: stopping the run and every server...\n');
    await handle?.stop({ error: 'Interrupted', cause: 'stopped with Ctrl-C' });
  });
  void onInterrupt;
  try {
    // Runs left RUNNING by a process that is gone are failed first, so they can be redriven (and listed right).
    for (const orphan of await failOrphanedRuns(runtime.doc, runtime.stack.runsTable, options.home)) {
      io.err(
        `note: run ${orphan} was RUNNING but its process is gone; marked FAILED (\`nightshift status ${orphan} --local\` says why)\n`,
      );
    }
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
    const previous = options.redriveRunId ? await runtime.stores.runs.get(options.redriveRunId) : undefined;
    if (options.redriveRunId && previous?.status !== 'FAILED') {
      throw previous
        ? new CliFailure(
            'NOT_REDRIVABLE',
            `run ${options.redriveRunId} is ${previous.status}; only FAILED runs can be redriven (start a new run instead)`,
          )
        : new CliFailure(
            'RUN_NOT_FOUND',
            `run ${options.redriveRunId} was not found in the local state (${options.home}): list them with \`nightshift runs --local\``,
          );
    }
    const { dataset, label, keyPrefix } = previous
      ? { dataset: previous.dataset, label: 'redrive', keyPrefix: undefined }
      : options.dataset
        ? { dataset: options.dataset, label: 'run', keyPrefix: undefined }
        : await putDataset(runtime, options.source, stamp, sample);
    runId = previous?.runId ?? options.runId ?? `${label}-${stamp}`;
    if (keyPrefix !== undefined) {
      await recordRunSource(options.home, runId, {
        source: options.source ?? 'the generated sample dataset',
        keyPrefix,
      });
    }
    const shownSource = (await readRunSource(options.home, runId))?.source ?? dataset;
    // A redrive runs the recorded settings again under the same run id: rows are keyed by object, so the work that
    // finished before is rewritten, not duplicated (the local engine restarts from the top, not the failed state).
    const input = previous
      ? { dataset, runId, preprocess: previous.settings.preprocess, transform: previous.settings.transform }
      : {
          dataset,
          runId,
          preprocess: { batchSize: 10, ...options.preprocess },
          ...(options.transform ? { transform: options.transform } : {}),
        };
    // Unique per start, as Step Functions keeps execution names taken: the run record's owner is the execution ARN
    // (stages/plan), so a start in another process must not come back under the first one's ARN.
    const executionName = `${runId.slice(0, 56)}-${previous ? 'redrive-' : ''}${randomUUID().slice(0, 8)}`;
    io.err(`Run ${runId} over ${shownSource}\n`);
    handle = runtime.startRun(executionName, input);
    heartbeat = new RunHeartbeat(runtime.doc, runtime.stack.runsTable, runId);
    heartbeat.start();
    // A run that failed because a server died says which one, in the summary and on the run record.
    const result = await explainFailedRun(await handle.result(), runtime.localServers, {
      runId,
      shared: runtime.shared,
    });
    display.finish();
    await runtime.finalizeEnded(handle, result, input);
    const stores = runtime.stores;
    const run = await stores.runs.get(runId);
    const summary: LocalRunSummary = {
      runId,
      status: result.status,
      ...(result.error ? { error: result.error } : {}),
      ...(result.cause ? { cause: result.cause } : {}),
      ...(run ? { run } : {}),
      stageSeconds: display.stageSeconds(),
      wallSeconds: (Date.now() - started) / 1000,
    };
    if (result.status !== 'SUCCEEDED' || !run?.report) return summary;
    const reportDir = join(options.home, 'reports', runId);
    await mkdir(reportDir, { recursive: true });
    let accuracy: LocalRunSummary['accuracy'];
    for (const [name, uri] of Object.entries(run.report)) {
      const location = parseS3Uri(uri, `report ${name}`);
      const body = (await stores.objects.get(location)) ?? new Uint8Array();
      await writeFile(join(reportDir, basename(location.key)), body);
      if (name === 'json') {
        accuracy =
          (JSON.parse(new TextDecoder().decode(body)) as { accuracy?: LocalRunSummary['accuracy'] }).accuracy ?? null;
      }
    }
    return { ...summary, accuracy, reportHtml: resolve(reportDir, 'report.html') };
  } catch (error) {
    const explained = await runtime.explainFailure(error, runId);
    if (
      explained instanceof LocalServerDiedError &&
      runId !== undefined &&
      explained.servers.some((server) => server.name === 'DynamoDB')
    ) {
      // The run record may be unwritable (its DynamoDB server is the one gone): the next local command records this.
      await keepUnrecordedFailure(options.home, runId, { error: explained.name, cause: explained.message });
    }
    throw explained;
  } finally {
    heartbeat?.stop();
    await runtime.stop();
  }
}

/** The generated sample dataset, rendered while the runtime starts (sharp renders on libuv's threads). */
function startSample(): Promise<SampleFile[]> {
  const files = import('./sample-dataset.ts').then(({ generateSampleDataset }) => generateSampleDataset());
  // Awaited by putDataset; a runtime that fails to start first must not leave it unhandled.
  files.catch(() => undefined);
  return files;
}

/** Where a local run's dataset came from: the user's folder or manifest, and the bucket prefix its keys got. */
export interface RunSource {
  readonly source: string;
  readonly keyPrefix: string;
}

const RUN_SOURCES_DIR = 'run-sources';

async function recordRunSource(home: string, runId: string, source: RunSource): Promise<void> {
  await mkdir(join(home, RUN_SOURCES_DIR), { recursive: true });
  await writeFile(join(home, RUN_SOURCES_DIR, `${runId}.json`), `${JSON.stringify(source)}\n`);
}

/** The folder or manifest a local run was given, if it was one (runs id are safe file names: RUN_ID). */
export async function readRunSource(home: string, runId: string): Promise<RunSource | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(runId)) return undefined;
  const parsed = (await readStateFile(join(home, RUN_SOURCES_DIR, `${runId}.json`))) as
    | Partial<RunSource>
    | null
    | undefined;
  return typeof parsed?.source === 'string' && typeof parsed.keyPrefix === 'string'
    ? { source: parsed.source, keyPrefix: parsed.keyPrefix }
    : undefined;
}

/** Puts the dataset into the local S3 server; returns the execution input's `dataset` and a run-id label. */
async function putDataset(
  runtime: LocalRuntime,
  source: string | undefined,
  stamp: string,
  sample: Promise<SampleFile[]> | undefined,
): Promise<{ dataset: string; label: string; keyPrefix: string }> {
  const bucket = runtime.stack.pipelineBucket;
  if (source === undefined) {
    // Rendered only for the demo (no source): a default parameter here rendered it for every folder run too.
    const files = await (sample ?? startSample());
    const prefix = `${BUCKET_PREFIXES.datasets}demo/`;
    await runtime.upload(prefix, files);
    const manifest = files
      .map((file) =>
        JSON.stringify({ key: `${prefix}${file.name}`, ...(file.expected ? { expected: file.expected } : {}) }),
      )
      .join('\n');
    await runtime.upload(prefix, [{ name: 'manifest.jsonl', body: `${manifest}\n` }]);
    return { dataset: `s3://${bucket}/${prefix}manifest.jsonl`, label: 'demo', keyPrefix: prefix };
  }
  const path = resolve(source);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CliFailure('INVALID_SOURCE', `${source} does not exist: give a folder of images or a manifest`);
  const name =
    basename(path)
      .replace(/\.[^.]+$/, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-') || 'local';
  const prefix = `${BUCKET_PREFIXES.datasets}${name}-${stamp}/`;
  if (info.isDirectory()) {
    const files = await listFiles(path);
    await runtime.upload(
      prefix,
      files.map((file) => ({ name: relative(path, file), body: () => readFile(file) })),
    );
    return { dataset: `s3://${bucket}/${prefix}`, label: name, keyPrefix: prefix };
  }
  // A local manifest: its keys are paths relative to the manifest's folder; upload those files and rewrite the keys.
  const text = withoutBom(await readFile(path, 'utf8'));
  const folder = dirname(path);
  if (path.endsWith('.jsonl')) {
    const lines: string[] = [];
    const listed: string[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const entry = JSON.parse(line) as { key?: unknown };
        if (typeof entry.key === 'string' && !entry.key.startsWith('s3://')) {
          listed.push(entry.key);
          lines.push(JSON.stringify({ ...entry, key: `${prefix}${entry.key}` }));
          continue;
        }
      } catch {
        // Kept as written: the plan stage rejects it with its line number.
      }
      lines.push(line);
    }
    await uploadListed(runtime, prefix, folder, listed);
    await runtime.upload(prefix, [{ name: 'manifest.jsonl', body: `${lines.join('\n')}\n` }]);
    return { dataset: `s3://${bucket}/${prefix}manifest.jsonl`, label: name, keyPrefix: prefix };
  }
  const document = JSON.parse(text) as [unknown, ...unknown[]];
  const keys = document.slice(1).filter((entry): entry is string => typeof entry === 'string');
  await uploadListed(runtime, prefix, folder, keys);
  await runtime.upload(prefix, [
    { name: 'manifest.json', body: JSON.stringify([{ prefix: `s3://${bucket}/${prefix}` }, ...document.slice(1)]) },
  ]);
  return { dataset: `s3://${bucket}/${prefix}manifest.json`, label: name, keyPrefix: prefix };
}

/**
 * Uploads the files a local manifest lists that exist (a missing one is left for the preprocess stage to reject
 * as NOT_FOUND, as in S3); a key listed twice is uploaded once.
 */
async function uploadListed(runtime: LocalRuntime, prefix: string, folder: string, keys: string[]): Promise<void> {
  const present = await Promise.all(
    [...new Set(keys)].map(async (key) =>
      (await stat(join(folder, key)).catch(() => undefined))?.isFile() ? key : undefined,
    ),
  );
  await runtime.upload(
    prefix,
    present.flatMap((key) => (key === undefined ? [] : [{ name: key, body: () => readFile(join(folder, key)) }])),
  );
}

/** A UTF-8 byte order mark (Windows editors write one) is not part of the manifest's JSON. */
function withoutBom(text: string): string {
  return text.replace(/^\uFEFF/, '');
}

/** The relative file names a local manifest lists, with their positions (line, or line and ManifestFile entry). */
function localManifestKeys(path: string, text: string): Array<{ key: string; position: string }> {
  if (path.endsWith('.jsonl')) {
    return text.split('\n').flatMap((line, index) => {
      try {
        const key = (JSON.parse(line) as { key?: unknown }).key;
        return typeof key === 'string' && !key.startsWith('s3://') ? [{ key, position: `line ${index + 1}` }] : [];
      } catch {
        return []; // the plan stage rejects it with its line number
      }
    });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return []; // the plan stage refuses the manifest, naming the position of the error
  }
  if (!Array.isArray(document)) return [];
  // The local upload writes the manifest again as one line, so positions are line 1 and the element index.
  return document.flatMap((entry: unknown, index) =>
    index > 0 && typeof entry === 'string' ? [{ key: entry, position: `line 1 entry ${index}` }] : [],
  );
}

/**
 * Refuses a local manifest that names files outside its folder (a `..` segment, an absolute path, or a link that
 * resolves outside), before any server starts or any listed file is read: the run would otherwise copy them into
 * local S3.
 */
async function checkLocalManifestScope(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return;
  const folder = dirname(path);
  const realFolder = await realpath(folder);
  const problems: string[] = [];
  for (const { key, position } of localManifestKeys(path, withoutBom(await readFile(path, 'utf8')))) {
    if (isAbsolute(key) || /^[A-Za-z]:/.test(key)) {
      problems.push(`${position}: ${key} is an absolute path`);
    } else if (key.split(/[\\/]/).includes('..')) {
      problems.push(`${position}: ${key} has a ".." segment`);
    } else {
      const real = await realpath(join(folder, key)).catch(() => undefined);
      // A missing file is the plan's and preprocess's business (NOT_FOUND), not a scope question.
      if (real !== undefined && real !== realFolder && !real.startsWith(`${realFolder}${sep}`)) {
        problems.push(`${position}: ${key} is a link to ${real}`);
      }
    }
  }
  if (problems.length === 0) return;
  const shown = problems.slice(0, 10);
  throw new ManifestError(
    `manifest ${path} names files outside its folder ${folder}:\n  ${shown.join('\n  ')}` +
      (problems.length > shown.length ? `\n  ... and ${problems.length - shown.length} more` : '') +
      "\nList only files inside the manifest's folder (copy them in, or move the manifest up).",
  );
}

async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? folder, entry.name))
    .filter((file) => !basename(file).startsWith('.'))
    .sort();
}

/** The summary a person reads after a run. */
export function formatSummary(summary: LocalRunSummary): string {
  const lines = [''];
  const run = summary.run;
  lines.push(`Run ${summary.runId}: ${summary.status}${summary.error ? ` (${summary.error})` : ''}`);
  if (summary.status !== 'SUCCEEDED' && summary.cause) lines.push(`  cause: ${describeCause(summary.cause)}`);
  if (run?.counts && summary.status !== 'SUCCEEDED') {
    // The counts of a run that stopped are those written so far, not a reconciliation of every item.
    const c = run.counts;
    lines.push(
      `  processed ${c.predicted + (c.noText ?? 0) + c.rejected} of ${c.items} items before it stopped (predicted ${c.predicted}, rejected ${c.rejected}); redrive it with \`nightshift redrive ${summary.runId} --local\``,
    );
  } else if (run?.counts) {
    const c = run.counts;
    const noText = c.noText ? ` + no text ${c.noText}` : '';
    lines.push(`  items ${c.items} = predicted ${c.predicted}${noText} + rejected ${c.rejected}`);
    for (const [reason, count] of Object.entries(c.rejectedByReason).sort((a, b) => b[1] - a[1])) {
      lines.push(`    ${reason.padEnd(24)} ${count}`);
    }
  }
  if (summary.accuracy) {
    const a = summary.accuracy;
    lines.push(
      `  accuracy ${(a.rate * 100).toFixed(1)}% (${a.matches} of ${a.withExpected} images with expected text read exactly)`,
    );
  }
  if (summary.stageSeconds.length > 0) {
    lines.push(
      `  wall time: ${summary.stageSeconds.map((s) => `${s.stage} ${s.seconds.toFixed(1)}s`).join(', ')}; total ${summary.wallSeconds.toFixed(1)}s`,
    );
  }
  if (summary.reportHtml) lines.push(`  report: file://${summary.reportHtml}`);
  lines.push('');
  return lines.join('\n');
}
