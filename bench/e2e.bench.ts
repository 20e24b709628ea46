/**
 * `npm run bench:e2e`: a whole local run (`nightshift run --local`, its own S3, DynamoDB and model servers, start-up
 * counted) against the same images through the two stages' own work alone, in this process, side by side.
 *
 * - Local run: the CLI as a user starts it, over a folder of N generated images with a JSON Lines manifest of their
 *   text (the demo's signs, receipt lines and plates: `generateSampleDataset` with one seed per 50 images, its
 *   broken files left out). Its state folder is fresh for every run except the synthesized-template cache, which is
 *   filled once before the first run (as any run after the first finds it). Wall time is spawn to exit.
 * - Alone: the preprocess stage's `prepareModelInput` over the same bytes (the run's settings, as many images at once
 *   as there are cores), then the model server's own path without HTTP: `decodeRecord` and the `InferencePool`
 *   (the server's pool size and batch size) predicting every prepared input, as many batches at once as workers.
 *   Model load is printed, not counted: it is the start-up the ratio is about.
 * - Ratio: local wall / (preprocess alone + inference alone). Goal: <= 1.2 at 800 images.
 * - Peak RSS of the local run's process tree (the CLI and every descendant: S3 and DynamoDB servers, model server
 *   with its worker threads), summing VmRSS from /proc every 200 ms. Goal: the 5,000-image figure within 10% of
 *   the 800-image one. Pages shared between processes are counted once per process, as `ps` does.
 * - Where each local run's wall time went, phase by phase (start-up, dataset upload, each stage, the rest: from the
 *   times the CLI's own lines arrive), with the CPU seconds each process of the tree spent in that phase (utime +
 *   stime from /proc, sampled with the RSS), so a phase that waits can be told from one that works, and whose work.
 *
 * Options (environment): BENCH_E2E_SIZES (default "200,800": the timed runs), BENCH_E2E_LARGE (default 5000: the
 * size of the memory-only run that `--large` or BENCH_E2E_LARGE_RUN=1 adds; about 10 minutes on a loaded 2-core
 * machine). Linux only (/proc).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { loadLocalStack } from '../pipeline/local/local-stack.ts';
import { generateSampleDataset, type SampleFile } from '../pipeline/local/sample-dataset.ts';
import { PreprocessSettingsSchema } from '../shared/execution-input.ts';
import { silentLog } from '../shared/logging.ts';
import type { ModelInput } from '../shared/records.ts';
import { prepareModelInput } from '../stages/preprocess/model-input.ts';
import { decodeRecord } from '../stages/transform/image-records.ts';
import { choosePoolSize, InferencePool } from '../stages/transform/inference-pool.ts';
import { chooseModelDirectory } from '../stages/transform/model-directory.ts';
import { ServerEnvSchema } from '../stages/transform/server-config.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SIZES = (process.env.BENCH_E2E_SIZES ?? '200,800').split(',').map(Number);
const LARGE = Number(process.env.BENCH_E2E_LARGE ?? 5000);
const LARGE_RUN = process.argv.includes('--large') || process.env.BENCH_E2E_LARGE_RUN === '1';
const WORK = join(tmpdir(), `nightshift-bench-e2e-${process.pid}`);
/** Kept between bench runs for its template cache only; everything else in it is removed before each run. */
const HOME = join(ROOT, '.nightshift', 'bench-e2e');
const SAMPLE_INTERVAL_MS = 200;

interface Image {
  readonly name: string;
  readonly body: Uint8Array;
  readonly expected: string;
}

/** N images like the demo's: seed after seed of its generated sample, without the broken files. */
async function generateImages(count: number): Promise<Image[]> {
  const images: Image[] = [];
  for (let seed = 1; images.length < count; seed += 1) {
    const files: SampleFile[] = await generateSampleDataset(seed);
    for (const file of files) {
      if (file.kind === 'broken' || file.expected === undefined || images.length >= count) continue;
      images.push({ name: `seed-${seed}/${file.name}`, body: file.body, expected: file.expected });
    }
  }
  return images;
}

/** The first `count` images, cycling through `distinct` under new names when there are fewer. */
function imagesOf(distinct: readonly Image[], count: number): Image[] {
  return Array.from({ length: count }, (_, index) => {
    const image = distinct[index % distinct.length] as Image;
    const copy = Math.floor(index / distinct.length);
    return copy === 0 ? image : { ...image, name: `copy-${copy}/${image.name}` };
  });
}

async function writeDataset(images: readonly Image[]): Promise<string> {
  const folder = join(WORK, `images-${images.length}`);
  await rm(folder, { recursive: true, force: true });
  for (const image of images) {
    await mkdir(dirname(join(folder, image.name)), { recursive: true });
    await writeFile(join(folder, image.name), image.body);
  }
  const manifest = join(folder, 'manifest.jsonl');
  await writeFile(manifest, images.map((i) => `${JSON.stringify({ key: i.name, expected: i.expected })}\n`).join(''));
  return manifest;
}

/** The pids of `root` and all its descendants, from /proc/<pid>/stat's ppid field. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we read.
    }
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function rssKb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on every Linux build that matters). */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds of one process so far (its threads included), or undefined once it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** What a process is, for the per-process figures: the model server, an S3/DynamoDB server, or the CLI. */
function labelOf(pid: number, root: number): string {
  if (pid === root) return 'CLI';
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    if (command.trim() === '') return 'CLI (forking)'; // exiting, or not yet exec'd: asked again next sample
    if (command.includes('serve.ts')) return 'model server';
    if (command.includes('emulator-main')) return command.includes(' dynamodb ') ? 'DynamoDB server' : 'S3 server';
    if (command.includes('esbuild')) return 'esbuild (tsx)';
    return command.includes('nightshift.mjs') ? 'CLI (forking)' : command.slice(0, 60);
  } catch {
    return `pid ${pid}`;
  }
}

/** The processes the per-phase CPU table has a column for, in order; anything else counts as `other`. */
const CPU_COLUMNS = ['CLI', 'S3 server', 'DynamoDB server', 'model server'] as const;

/** Cumulative CPU seconds by process label at one moment of a run. */
interface CpuSample {
  readonly at: number;
  readonly byLabel: ReadonlyMap<string, number>;
}

interface TreeSamples {
  readonly peakMb: number;
  readonly perProcessMb: Map<string, number>;
  /** Every sample's cumulative CPU by label (a process that ended keeps its last reading). */
  readonly cpu: readonly CpuSample[];
}

/**
 * Samples the tree until `child` exits: summed RSS (its peak, and each process's own peak) and each process's CPU
 * seconds, so every phase of the run can be given the CPU each process spent in it.
 */
function sampleTree(child: ChildProcess, started: number): { stop(): TreeSamples } {
  const root = child.pid as number;
  let peakKb = 0;
  const perProcess = new Map<string, number>();
  /** The last CPU reading and label of every process seen: a process that exits between samples keeps it. */
  const seen = new Map<number, { label: string; cpu: number }>();
  const cpu: CpuSample[] = [];
  const sample = () => {
    let total = 0;
    for (const pid of processTree(root)) {
      const kb = rssKb(pid);
      const used = cpuSeconds(pid);
      if (kb === 0 || used === undefined) continue; // gone, or a zombie
      total += kb;
      // Read until it names a server: a child just forked shows its parent's command line until it execs, and a
      // process that is exiting shows none.
      const known = seen.get(pid)?.label;
      const label = known !== undefined && known !== 'CLI (forking)' ? known : labelOf(pid, root);
      perProcess.set(label, Math.max(perProcess.get(label) ?? 0, kb));
      seen.set(pid, { label, cpu: used });
    }
    peakKb = Math.max(peakKb, total);
    const byLabel = new Map<string, number>();
    for (const { label, cpu: used } of seen.values()) byLabel.set(label, (byLabel.get(label) ?? 0) + used);
    cpu.push({ at: (performance.now() - started) / 1000, byLabel });
  };
  const timer = setInterval(sample, SAMPLE_INTERVAL_MS);
  sample();
  return {
    stop() {
      clearInterval(timer);
      const perProcessMb = new Map([...perProcess].map(([label, kb]) => [label, kb / 1024]));
      return { peakMb: peakKb / 1024, perProcessMb, cpu };
    },
  };
}

/** One part of a local run's wall time, and the CPU seconds each process spent in it. */
interface Phase {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly cpu: ReadonlyMap<string, number>;
}

interface LocalRun {
  readonly images: number;
  readonly wallSeconds: number;
  readonly peakRssMb: number;
  readonly perProcessMb: Map<string, number>;
  /** Start-up, the dataset upload, each stage, and the rest; together they cover the wall time. */
  readonly phases: readonly Phase[];
  /** Each start-up step's seconds since start-up began (they run together). */
  readonly startupSteps: ReadonlyArray<[string, number]>;
  readonly status: string;
}

/** One `nightshift run --local` over the manifest, in a fresh state folder (template cache kept). */
async function localRun(manifest: string, images: number): Promise<LocalRun> {
  for (const entry of existsSync(HOME) ? readdirSync(HOME) : []) {
    if (entry !== 'cache') await rm(join(HOME, entry), { recursive: true, force: true });
  }
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'nightshift.mjs'), 'run', '--local', manifest], {
    cwd: ROOT,
    env: { ...process.env, NIGHTSHIFT_HOME: HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sampler = sampleTree(child, started);
  const lines: Array<{ at: number; text: string }> = [];
  let pending = '';
  const collect = (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const text of parts) lines.push({ at: (performance.now() - started) / 1000, text });
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const code = await new Promise<number>((done) => child.on('close', (status) => done(status ?? 1)));
  const wallSeconds = (performance.now() - started) / 1000;
  const { peakMb, perProcessMb, cpu } = sampler.stop();
  if (code !== 0) {
    throw new Error(`nightshift run --local exited ${code}:\n${lines.map((line) => line.text).join('\n')}`);
  }
  const status = /Run \S+: (\w+)/.exec(lines.map((line) => line.text).join('\n'))?.[1] ?? 'unknown';
  const { phases, startupSteps } = phasesOf(lines, wallSeconds, cpu);
  return { images, wallSeconds, peakRssMb: peakMb, perProcessMb, phases, startupSteps, status };
}

/** The cumulative CPU by label at `at`: the last sample taken at or before it. */
function cpuAt(samples: readonly CpuSample[], at: number): ReadonlyMap<string, number> {
  let found: CpuSample | undefined;
  for (const sample of samples) {
    if (sample.at > at) break;
    found = sample;
  }
  return found?.byLabel ?? new Map();
}

/**
 * The wall time by phase, from the times the CLI's lines arrived: start-up until the last start-up step printed
 * before the run starts (`  S3   1.2 s`; the model load is not one: it ends in the background, often later), then
 * the rest of the runtime's start (stage handlers imported, bucket and tables created) and the dataset upload until
 * `Run <id> over ...`, each stage (its finished
 * line `  preprocess 800/800 items, ...  10.8 s` arrives as it ends, carrying its length), and the rest (between
 * stages, the report copy, shutdown). Each phase gets the CPU every process spent in it, to the 200 ms sampling.
 */
function phasesOf(
  lines: ReadonlyArray<{ at: number; text: string }>,
  wallSeconds: number,
  cpu: readonly CpuSample[],
): { phases: Phase[]; startupSteps: Array<[string, number]> } {
  const runLine = lines.findIndex((line) => /^Run \S+ over /.test(line.text));
  const startupSteps: Array<[string, number]> = [];
  let startupEnd = 0;
  for (const line of lines.slice(0, runLine < 0 ? undefined : runLine)) {
    const step = /^\s{2}(\S.*?)\s+([\d.]+) s$/.exec(line.text);
    if (!step) continue;
    startupSteps.push([step[1] as string, Number(step[2])]);
    // The model loads in the background and may end after the upload began: the servers and synth bound start-up.
    if (step[1] !== 'model load') startupEnd = line.at;
  }
  const runAt = runLine < 0 ? startupEnd : (lines[runLine] as { at: number }).at;
  const spans: Array<[string, number, number]> = [
    ['start-up (process, imports, servers, synth)', 0, startupEnd],
    ['stage imports, buckets and tables, upload', startupEnd, runAt],
  ];
  // Each stage's length from the summary (`wall time: plan 0.1s, preprocess 10.8s, ...; total 41.5s`).
  const lengths = new Map<string, number>();
  const summary = lines.map((line) => /wall time: (.*); total/.exec(line.text)).find(Boolean);
  for (const part of (summary?.[1] ?? '').split(', ')) {
    const match = /^(\w+) ([\d.]+)s$/.exec(part);
    if (match) lengths.set(match[1] as string, Number(match[2]));
  }
  // A stage in a pipe prints working lines every two seconds, then its finished line as it ends: the last counts.
  const ends = new Map<string, number>();
  for (const line of lines.slice(runLine + 1)) {
    const stage = /^\s{2}(plan|preprocess|transform|aggregate|report)\s/.exec(line.text)?.[1];
    if (stage !== undefined && lengths.has(stage)) ends.set(stage, line.at);
  }
  let cursor = runAt;
  for (const [stage, end] of [...ends].sort((a, b) => a[1] - b[1])) {
    const start = Math.max(cursor, end - (lengths.get(stage) ?? 0));
    if (start > cursor + 0.05) spans.push(['between stages', cursor, start]);
    spans.push([`stage: ${stage}`, start, end]);
    cursor = end;
  }
  spans.push(['summary, report copy, shutdown', cursor, wallSeconds]);
  const phases = spans.map(([name, start, end]) => {
    const before = cpuAt(cpu, start);
    const after = cpuAt(cpu, end);
    const used = new Map([...after].map(([label, total]) => [label, total - (before.get(label) ?? 0)]));
    return { name, start, end, cpu: used };
  });
  return { phases, startupSteps };
}

/** The phase table: wall seconds, then CPU seconds per process (CLI, S3, DynamoDB, model server, the rest). */
function printPhases(run: LocalRun): void {
  const header = ['wall', 'CLI', 'S3', 'Dynamo', 'model', 'other'].map((h) => h.padStart(7)).join('');
  console.log(`  where the local run spent its wall time (s), and the CPU seconds of each process in it:`);
  console.log(`    ${''.padEnd(44)}${header}`);
  const totals = [0, 0, 0, 0, 0, 0];
  for (const phase of run.phases) {
    const columns = CPU_COLUMNS.map((label) => phase.cpu.get(label) ?? 0);
    const all = [...phase.cpu.values()].reduce((sum, value) => sum + value, 0);
    const row = [phase.end - phase.start, ...columns, all - columns.reduce((sum, value) => sum + value, 0)];
    row.forEach((value, index) => {
      totals[index] = (totals[index] ?? 0) + value;
    });
    console.log(`    ${phase.name.padEnd(44)}${row.map((v) => v.toFixed(1).padStart(7)).join('')}`);
  }
  console.log(`    ${'total'.padEnd(44)}${totals.map((v) => v.toFixed(1).padStart(7)).join('')}`);
  console.log(
    `  start-up steps (seconds since start-up began; they run together): ${run.startupSteps
      .map(([step, value]) => `${step} ${value.toFixed(1)}`)
      .join(', ')}`,
  );
}

interface Alone {
  readonly preprocessSeconds: number;
  readonly inferenceSeconds: number;
  readonly predicted: number;
}

/** The two stages' own work, in this process: preprocess every image, then predict every prepared input. */
async function alone(images: readonly Image[], pool: InferencePool, imagesPerBatch: number): Promise<Alone> {
  const settings = PreprocessSettingsSchema.parse({});
  const limit = pLimit(availableParallelism());
  let started = performance.now();
  const inputs = await Promise.all(
    images.map((image) =>
      limit(async () => {
        const prepared = await prepareModelInput(Buffer.from(image.body), settings);
        if (!prepared.ok) throw new Error(`${image.name} was rejected: ${prepared.problem}`);
        return prepared.input;
      }),
    ),
  );
  const preprocessSeconds = (performance.now() - started) / 1000;

  started = performance.now();
  const batches: ModelInput[][] = [];
  for (let index = 0; index < inputs.length; index += imagesPerBatch) {
    batches.push(inputs.slice(index, index + imagesPerBatch));
  }
  const inFlight = pLimit(pool.parallelism);
  const predicted = await Promise.all(
    batches.map((batch) =>
      inFlight(async () => {
        const decoded = await Promise.all(batch.map((input) => decodeRecord(input)));
        const pixels = decoded.map((record) => {
          if (!record.ok) throw new Error(`a prepared input did not decode: ${record.error.message}`);
          return record.image;
        });
        return (await pool.predictBatch(pixels)).length;
      }),
    ),
  );
  return {
    preprocessSeconds,
    inferenceSeconds: (performance.now() - started) / 1000,
    predicted: predicted.reduce((sum, n) => sum + n, 0),
  };
}

const seconds = (value: number) => `${value.toFixed(1)} s`;

async function main(): Promise<void> {
  console.log(
    `bench:e2e: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; sizes ${SIZES.join(', ')}${LARGE_RUN ? `, memory run at ${LARGE}` : ''}`,
  );
  const largest = Math.max(...SIZES, LARGE_RUN ? LARGE : 0);
  let t = performance.now();
  // Distinct images up to 800; a larger run cycles them under new names (the memory run is about item counts).
  const distinct = await generateImages(Math.min(largest, 800));
  console.log(`generated ${distinct.length} distinct images in ${seconds((performance.now() - t) / 1000)}`);
  t = performance.now();
  const { cached } = await loadLocalStack(HOME);
  console.log(`template cache ${cached ? 'already filled' : `filled in ${seconds((performance.now() - t) / 1000)}`}`);

  const env = ServerEnvSchema.parse({});
  const size = choosePoolSize({ cpus: availableParallelism(), provider: 'cpu' });
  t = performance.now();
  const pool = await InferencePool.start(
    { directory: chooseModelDirectory(undefined).directory, preference: 'cpu', logLevel: 'SILENT' },
    size,
    silentLog,
  );
  console.log(
    `in-process model: ${size.workers} workers x ${size.intraOpThreads} threads, ${env.NIGHTSHIFT_IMAGES_PER_BATCH} images per batch, loaded in ${seconds((performance.now() - t) / 1000)} (not counted)`,
  );

  const runs: LocalRun[] = [];
  try {
    for (const count of SIZES) {
      const images = imagesOf(distinct, count);
      const manifest = await writeDataset(images);
      const run = await localRun(manifest, count);
      runs.push(run);
      const base = await alone(images, pool, env.NIGHTSHIFT_IMAGES_PER_BATCH);
      const baseline = base.preprocessSeconds + base.inferenceSeconds;
      console.log(`\nN = ${count} (load ${loadavg()[0]?.toFixed(1)}): run ${run.status}`);
      console.log(`  local run (start-up counted)   ${seconds(run.wallSeconds)}`);
      console.log(
        `  preprocess alone + inference alone   ${seconds(base.preprocessSeconds)} + ${seconds(base.inferenceSeconds)} = ${seconds(baseline)}`,
      );
      console.log(`  ratio   ${(run.wallSeconds / baseline).toFixed(2)} (goal <= 1.2 at 800)`);
      console.log(`  peak RSS of the process tree   ${run.peakRssMb.toFixed(0)} MB`);
      printPhases(run);
      console.log(
        `  per-process peak RSS: ${[...run.perProcessMb].map(([label, mb]) => `${label} ${mb.toFixed(0)} MB`).join(', ')}`,
      );
    }
    if (LARGE_RUN) {
      const manifest = await writeDataset(imagesOf(distinct, LARGE));
      const run = await localRun(manifest, LARGE);
      runs.push(run);
      console.log(
        `\nN = ${LARGE} (memory run, load ${loadavg()[0]?.toFixed(1)}): run ${run.status}, wall ${seconds(run.wallSeconds)}, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
      );
      console.log(
        `  per-process peak RSS: ${[...run.perProcessMb].map(([label, mb]) => `${label} ${mb.toFixed(0)} MB`).join(', ')}`,
      );
      const reference = runs.find((r) => r.images === 800);
      if (reference) {
        const growth = (run.peakRssMb / reference.peakRssMb - 1) * 100;
        console.log(`  peak RSS ${LARGE} vs 800: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)}% (goal within 10%)`);
      }
    }
  } finally {
    await pool.dispose();
    await rm(WORK, { recursive: true, force: true });
  }
}

await main();
