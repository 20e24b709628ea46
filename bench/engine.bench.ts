/**
 * `npm run bench:engine`: the same JSONPath workload, an inline Map whose iterations run a Choice and two Pass
 * states, on our local engine (in this process) and on `aws-local-stepfunctions` (a child process on Node >= 22, which
 * that package requires), in one run. One warm-up execution each, then timed
 * executions interleaved (ours, theirs, ours, ...) so that machine noise falls on both. Prints median times,
 * items/s and the ratio ours / theirs, and exits 1 unless both engines return the same output.
 *
 * Each timed execution covers validating the definition, running it and returning the output, on both engines.
 *
 * Options (environment): BENCH_ITEMS (default 3000), BENCH_RUNS (timed executions per engine, default 7),
 * BENCH_NODE22 (a Node >= 22 binary for aws-local-stepfunctions; default the Node running this).
 *
 * aws-local-stepfunctions is no devDependency: it requires Node >= 22, and on the Node 20 this project supports
 * `npm ci` printed an EBADENGINE warning for it that a user could not act on. Without it the benchmark times our
 * engine alone and says how to add the column; the recorded comparison is in docs/decisions.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HISTORY_EVENT_LIMIT, LocalEngine } from '../pipeline/local/engine/index.ts';

/**
 * Our engine records the execution history and ends an execution at 25,000 events as AWS does; each iteration of
 * this Map records 8 events (MapIterationStarted, Choice entered/exited, two Pass entered/exited,
 * MapIterationSucceeded) and the execution 6 more, so at most 3,124 items fit. 10,000 items would fail on ours, as
 * on AWS, and run on aws-local-stepfunctions, which has no such limit: 3,000 keeps both on the same, successful run.
 */
const ITEMS = Number(process.env.BENCH_ITEMS ?? 3000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ROOT = join(import.meta.dirname, '..');
const RUNNER = join(ROOT, 'bench', 'aws-local-stepfunctions-runner.mjs');
const NODE22 = process.env.BENCH_NODE22 ?? process.execPath;
const THEIR_PACKAGE = join(ROOT, 'node_modules', 'aws-local-stepfunctions', 'package.json');
const ADD_THEIRS =
  'on Node >= 22, `npm install --no-save aws-local-stepfunctions@3.0.0`, then `npm run bench:engine` again ' +
  '(or set BENCH_NODE22 to a Node >= 22 binary to run it beside this Node); the recorded comparison is in ' +
  'docs/decisions.md';

interface Workload {
  readonly definition: unknown;
  readonly input: { readonly threshold: number; readonly items: readonly unknown[] };
}

/** Scores each item against a threshold with a Choice, labels it with a Pass, and shapes its result with another. */
function workload(items: number): Workload {
  const band = (name: string) => ({ Type: 'Pass', Result: name, ResultPath: '$.band', Next: 'Shape' });
  return {
    definition: {
      Comment: 'bench:engine workload',
      StartAt: 'ScoreItems',
      States: {
        ScoreItems: {
          Type: 'Map',
          ItemsPath: '$.items',
          ItemSelector: {
            'item.$': '$$.Map.Item.Value',
            'index.$': '$$.Map.Item.Index',
            'threshold.$': '$.threshold',
          },
          // Inline Map runs at most 40 iterations at once on AWS; both engines get the same bound.
          MaxConcurrency: 40,
          ItemProcessor: {
            ProcessorConfig: { Mode: 'INLINE' },
            StartAt: 'Classify',
            States: {
              Classify: {
                Type: 'Choice',
                Choices: [
                  {
                    And: [
                      { Variable: '$.item.score', NumericGreaterThanEqualsPath: '$.threshold' },
                      { Not: { Variable: '$.item.tag', StringEquals: 'x' } },
                    ],
                    Next: 'High',
                  },
                  { Variable: '$.item.tag', StringEquals: 'x', Next: 'Flagged' },
                ],
                Default: 'Low',
              },
              High: band('high'),
              Flagged: band('flagged'),
              Low: band('low'),
              Shape: {
                Type: 'Pass',
                Parameters: { 'id.$': '$.item.id', 'band.$': '$.band', 'position.$': '$.index' },
                End: true,
              },
            },
          },
          ResultPath: '$.results',
          OutputPath: '$.results',
          End: true,
        },
      },
    },
    input: {
      threshold: 50,
      items: Array.from({ length: items }, (_, id) => ({ id, score: (id * 37) % 101, tag: 'abx'[id % 3] })),
    },
  };
}

function sha256(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

interface Timings {
  readonly ms: number[];
  readonly sha256: string[];
  /** History events of the last execution (ours only). */
  events?: number;
}

async function runOurs(work: Workload): Promise<Timings> {
  const started = performance.now();
  const execution = new LocalEngine().startExecution({ definition: work.definition, input: work.input });
  const result = await execution.result();
  const ms = performance.now() - started;
  if (result.status !== 'SUCCEEDED') {
    throw new Error(`our engine: execution ${result.status}: ${result.error ?? ''} ${result.cause ?? ''}`.trim());
  }
  return { ms: [ms], sha256: [sha256(result.output)], events: execution.history().length };
}

/** The Node >= 22 binary's version, or why aws-local-stepfunctions cannot run beside this benchmark. */
function node22Version(): { version: string } | { skipped: string } {
  if (!existsSync(THEIR_PACKAGE)) return { skipped: 'aws-local-stepfunctions is not installed' };
  if (!existsSync(NODE22)) return { skipped: `no Node binary at ${NODE22} (BENCH_NODE22)` };
  const probe = spawnSync(NODE22, ['--version'], { encoding: 'utf8' });
  const version = probe.stdout?.trim() ?? '';
  const major = Number(/^v(\d+)\./.exec(version)?.[1]);
  if (probe.status !== 0 || !(major >= 22)) {
    return {
      skipped: `${NODE22} is not a Node >= 22 binary (${probe.error?.message ?? (version || 'no version')}), which aws-local-stepfunctions needs`,
    };
  }
  return { version };
}

/** The runner child process: `run(count)` times `count` executions there and returns their timings. */
function startTheirs(work: Workload) {
  const child = spawn(NODE22, [RUNNER, '-'], { stdio: ['pipe', 'pipe', 'inherit'] });
  // A write after the runner died fails with EPIPE; its closed stdout reports the exit instead.
  child.stdin.on('error', () => undefined);
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}`));
    child.on('error', (error) => resolve(`failed to start: ${error.message}`));
  });
  const lines = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]();
  child.stdin.write(`${JSON.stringify(work)}\n`);
  return {
    async run(count: number): Promise<Timings> {
      child.stdin.write(`${count}\n`);
      const next = await lines.next();
      if (next.done) throw new Error(`the aws-local-stepfunctions runner ${await exited}`);
      const reply = JSON.parse(next.value) as Timings & { error?: string };
      if (reply.error !== undefined) throw new Error(`aws-local-stepfunctions: ${reply.error}`);
      return reply;
    },
    async stop(): Promise<void> {
      child.stdin.end();
      await exited;
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const count = (value: number) => Math.round(value).toLocaleString('en-US');

function describe(label: string, ms: readonly number[]): string {
  const typical = median(ms);
  const runs = ms.map((value) => value.toFixed(0)).join(', ');
  return `${label.padEnd(46)} median ${typical.toFixed(1).padStart(8)} ms  ${count((ITEMS * 1000) / typical).padStart(9)} items/s  (runs: ${runs} ms)`;
}

async function main(): Promise<void> {
  if (!Number.isInteger(ITEMS) || ITEMS < 1 || !Number.isInteger(RUNS) || RUNS < 1) {
    throw new Error('BENCH_ITEMS and BENCH_RUNS must be positive integers');
  }
  const their22 = node22Version();
  if ('skipped' in their22) {
    await runOursAlone(workload(ITEMS), their22.skipped);
    return;
  }
  const theirVersion = (JSON.parse(readFileSync(THEIR_PACKAGE, 'utf8')) as { version: string }).version;
  const theirNode = their22.version;
  const work = workload(ITEMS);
  const theirs = startTheirs(work);
  try {
    const ours = { ms: [] as number[], sha256: [] as string[] };
    const their = { ms: [] as number[], sha256: [] as string[] };
    const warmOurs = await runOurs(work);
    const warmTheirs = await theirs.run(1);
    for (let run = 0; run < RUNS; run += 1) {
      const mine = await runOurs(work);
      ours.ms.push(...mine.ms);
      ours.sha256.push(...mine.sha256);
      const other = await theirs.run(1);
      their.ms.push(...other.ms);
      their.sha256.push(...other.sha256);
    }

    console.log(
      `bench:engine  inline Map (Choice + 2 Pass per item) over ${count(ITEMS)} items, ` +
        `1 warm-up + ${RUNS} timed executions per engine, interleaved`,
    );
    console.log(
      `  our history: ${count(warmOurs.events ?? 0)} events of the ${count(HISTORY_EVENT_LIMIT)} a Standard execution may record`,
    );
    console.log(`  ${describe(`ours (node ${process.version}, in-process)`, ours.ms)}`);
    console.log(`  ${describe(`aws-local-stepfunctions ${theirVersion} (node ${theirNode})`, their.ms)}`);
    const ratio = median(ours.ms) / median(their.ms);
    console.log(
      `  ratio ours / aws-local-stepfunctions: ${ratio.toFixed(2)} (${ratio < 1 ? 'ours is faster' : 'ours is slower'})`,
    );
    if (process.version.split('.')[0] !== theirNode.split('.')[0]) {
      console.log('  note: the engines ran on different Node major versions; the ratio includes that difference');
    }

    const checksums = new Set([...warmOurs.sha256, ...warmTheirs.sha256, ...ours.sha256, ...their.sha256]);
    if (checksums.size !== 1) {
      console.log(
        `  outputs DIFFER: ours sha256 ${[...new Set(ours.sha256)].join(', ')}; ` +
          `aws-local-stepfunctions sha256 ${[...new Set(their.sha256)].join(', ')}`,
      );
      process.exitCode = 1;
      return;
    }
    console.log(`  outputs match: sha256 ${[...checksums][0]} from every execution on both engines`);
  } finally {
    await theirs.stop();
  }
}

/** Our engine's column alone, when aws-local-stepfunctions cannot run here. */
async function runOursAlone(work: Workload, reason: string): Promise<void> {
  await runOurs(work);
  const ms: number[] = [];
  for (let run = 0; run < RUNS; run += 1) ms.push(...(await runOurs(work)).ms);
  console.log(
    `bench:engine  inline Map (Choice + 2 Pass per item) over ${count(ITEMS)} items, 1 warm-up + ${RUNS} timed executions`,
  );
  console.log(`  ${describe(`ours (node ${process.version}, in-process)`, ms)}`);
  console.log(`  aws-local-stepfunctions column skipped: ${reason}. To add it: ${ADD_THEIRS}.`);
}

main().catch((error: unknown) => {
  console.error(`bench:engine failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
