import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The local runtime as a service and the runs it must never leave RUNNING (issues 10 and 13), with real processes:
 * the CLI as `node bin/nightshift.mjs`, killed or interrupted by PID inside the tests.
 */

const homes: string[] = [];
/** A fresh state folder that reuses the synthesized template cached by the previous one (synth takes ~30 s here). */
function freshHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'nightshift-svc-'));
  const previous = homes.at(-1);
  if (previous && existsSync(join(previous, 'cache')))
    cpSync(join(previous, 'cache'), join(home, 'cache'), { recursive: true });
  homes.push(home);
  return home;
}

interface Cli {
  readonly child: ChildProcess;
  stderr(): string;
  stdout(): string;
  /** Resolves when stderr contains `text`; rejects if the process exits first. */
  waitFor(text: string | RegExp): Promise<void>;
  exit: Promise<number | null>;
}

/** `nightshift ARGS`, in its own process group as a terminal's foreground job is. */
function cli(args: readonly string[]): Cli {
  const child = spawn(process.execPath, ['bin/nightshift.mjs', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const waiters: Array<{ text: string | RegExp; resolve: () => void }> = [];
  const matches = (text: string | RegExp) => (typeof text === 'string' ? err.includes(text) : text.test(err));
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    for (const waiter of waiters.splice(0)) {
      if (matches(waiter.text)) waiter.resolve();
      else waiters.push(waiter);
    }
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exit,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        if (matches(text)) return resolve();
        waiters.push({ text, resolve });
        void exit.then((code) => reject(new Error(`exited (${code}) before "${text}": ${err}`)));
      }),
  };
}

/**
 * Three consecutive free ports below Linux's ephemeral range (32768-60999), where the servers other test files
 * start on port 0, and their clients, cannot take one between this check and `local up`.
 */
async function freePortBase(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 4000) * 3;
    if ((await free(base)) && (await free(base + 1)) && (await free(base + 2))) return base;
  }
}

async function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = cli(args);
  const code = await command.exit;
  return { code, stdout: command.stdout(), stderr: command.stderr() };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of the processes whose command line contains `text`. */
function processesWith(text: string): number[] {
  return execFileSync('ps', ['-e', '-o', 'pid=,args='])
    .toString()
    .split('\n')
    .filter((line) => line.includes(text))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

interface RecordedRun {
  status: string;
  error?: { error: string; cause?: string };
}

async function status(home: string, runId: string): Promise<RecordedRun> {
  const result = await run(['status', runId, '--local', '--state-dir', home, '--json']);
  return (JSON.parse(result.stdout) as { run: RecordedRun }).run;
}

/** The pid a local server's log file names on its first line (`... started, pid N`). */
function pidInLog(log: string): number {
  return Number(/started, pid (\d+)/.exec(readFileSync(log, 'utf8'))?.[1]);
}

/** Whatever a person reads about a failed run names the dead server and its log, in words. */
function expectNamesDeadServer(text: string, server: string, log: string): void {
  expect(text).toContain(`local ${server} server (http://127.0.0.1:`);
  expect(text).toContain(log);
  expect(text).not.toMatch(/ECONNREFUSED|ECONNRESET|throttl|unprocessed/i);
}

/** Every item of the run once: the listed keys are distinct and as many as the run's items. */
async function expectEveryItemOnce(home: string, runId: string): Promise<void> {
  const view = (await run(['status', runId, '--local', '--state-dir', home, '--json'])).stdout;
  const items = (JSON.parse(view) as { run: { counts: { items: number } } }).run.counts.items;
  const rows = (
    await run(['predictions', runId, '--local', '--state-dir', home, '--format', 'csv', '--limit', '0'])
  ).stdout
    .trim()
    .split('\n')
    .slice(1);
  const keys = rows.map((row) => row.split(',')[0]);
  expect(items).toBeGreaterThan(50);
  expect(keys).toHaveLength(items);
  expect(new Set(keys).size).toBe(items);
}

afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe('nightshift local up | status | down', () => {
  it('starts the servers once; runs use them (two at once on one folder); down leaves no process', async () => {
    const home = freshHome();
    const portBase = await freePortBase();

    const up = await run(['local', 'up', '--state-dir', home, '--port-base', String(portBase)]);
    expect(up.code, up.stderr).toBe(0);
    const service = JSON.parse(readFileSync(join(home, 'local-service.json'), 'utf8')) as {
      servers: Record<string, { process: { pid: number } }>;
    };
    const pids = Object.values(service.servers).map((server) => server.process.pid);
    const shown = await run(['local', 'status', '--state-dir', home]);
    const again = await run(['local', 'up', '--state-dir', home]);
    const [a, b] = await Promise.all([
      run(['demo', '--state-dir', home, '--run-id', 'shared-a']),
      run(['demo', '--state-dir', home, '--run-id', 'shared-b']),
    ]);
    const runs = await run(['runs', '--local', '--state-dir', home, '--json']);
    const down = await run(['local', 'down', '--state-dir', home]);
    const after = await run(['local', 'status', '--state-dir', home]);

    expect(up.code).toBe(0);
    expect(pids).toHaveLength(3);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`--endpoint-url http://127.0.0.1:${portBase} s3`);
    expect(shown.stdout).toContain(`AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:${portBase + 1}`);
    expect(shown.stdout).toContain('AWS_DEFAULT_REGION=us-east-1');
    expect(again.stderr).toContain('already up');
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stderr).toContain('Using the local servers of `nightshift local up`');
    expect(a.stderr).toContain('synth (cached)');
    expect(runs.code).toBe(0);
    expect(runs.stdout).toContain('shared-a');
    expect(runs.stdout).toContain('shared-b');
    expect(down.code).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    expect(processesWith(home)).toEqual([]);
    expect(after.code).toBe(1);
  }, 600_000);
});

describe('no local run is left RUNNING', () => {
  it('Ctrl-C to the process group mid-transform records the run FAILED, a second run on the folder is refused naming the owner, and redrive finishes it', async () => {
    const home = freshHome();
    // One image per batch: 50 transform parts, so the interrupt lands while the transform job runs.
    const first = cli(['demo', '--state-dir', home, '--run-id', 'ctrl-c', '--batch-size', '1']);
    await first.waitFor('Run ctrl-c over');
    const second = await run(['demo', '--state-dir', home, '--run-id', 'second']);
    await first.waitFor(/transform +\d/);

    process.kill(-(first.child.pid as number), 'SIGINT');
    const code = await first.exit;
    const recorded = await status(home, 'ctrl-c');
    const redrive = await run(['redrive', 'ctrl-c', '--local', '--state-dir', home]);

    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`in use by process ${first.child.pid}`);
    expect(second.stderr).not.toContain('ECONNREFUSED');
    expect(code).not.toBe(0);
    expect(first.stderr()).toContain('Interrupted: stopping the run');
    expect(recorded.status).toBe('FAILED');
    expect(redrive.code).toBe(0);
    expect((await status(home, 'ctrl-c')).status).toBe('SUCCEEDED');
    await expectEveryItemOnce(home, 'ctrl-c');
  }, 600_000);

  it('a DynamoDB server killed mid-run leaves the run FAILED naming the server and its log, not RUNNING, and redrive finishes it', async () => {
    const home = freshHome();
    const demo = cli(['demo', '--state-dir', home, '--run-id', 'dynamo-dies']);
    await demo.waitFor(/transform +\d/);
    const [dynamo] = processesWith(`emulator-main.ts dynamodb ${join(home, 'dynamodb')}`);
    const log = join(home, 'logs', 'dynamodb.log');

    process.kill(dynamo as number, 'SIGKILL');
    const code = await demo.exit;
    const recorded = await status(home, 'dynamo-dies');
    const redrive = await run(['redrive', 'dynamo-dies', '--local', '--state-dir', home]);

    expect(dynamo).toBeGreaterThan(0);
    expect(pidInLog(log)).toBe(dynamo);
    expect(code).not.toBe(0);
    // Aggregate's writes meet the dead server: the CLI's error names it, its log and the redrive.
    expectNamesDeadServer(demo.stderr(), 'DynamoDB', log);
    expect(demo.stderr()).toContain('`nightshift redrive dynamo-dies --local`');
    expect(recorded.status).toBe('FAILED');
    expect(recorded.error?.error).toBe('LocalServerDiedError');
    expectNamesDeadServer(recorded.error?.cause ?? '', 'DynamoDB', log);
    expect(redrive.code).toBe(0);
    expect((await status(home, 'dynamo-dies')).status).toBe('SUCCEEDED');
    await expectEveryItemOnce(home, 'dynamo-dies');
  }, 600_000);

  it('an S3 server killed mid-transform fails the run with a cause naming the S3 server and its log', async () => {
    const home = freshHome();
    const demo = cli(['demo', '--state-dir', home, '--run-id', 's3-dies', '--batch-size', '1']);
    await demo.waitFor(/transform +\d/);
    const [s3] = processesWith(`emulator-main.ts s3 ${join(home, 's3')}`);
    const log = join(home, 'logs', 's3.log');

    process.kill(s3 as number, 'SIGKILL');
    const code = await demo.exit;
    const recorded = await status(home, 's3-dies');

    expect(s3).toBeGreaterThan(0);
    expect(pidInLog(log)).toBe(s3);
    expect(code).toBe(1);
    expect(demo.stdout()).toContain('Run s3-dies: FAILED (LocalServerDiedError)');
    expectNamesDeadServer(demo.stdout() + demo.stderr(), 'S3', log);
    expect(demo.stdout()).toContain('`nightshift redrive s3-dies --local`');
    expect(recorded.status).toBe('FAILED');
    expect(recorded.error?.error).toBe('LocalServerDiedError');
    expectNamesDeadServer(recorded.error?.cause ?? '', 'S3', log);
  }, 600_000);

  it('a model server killed mid-transform fails the run with a cause naming the model server and its log', async () => {
    const home = freshHome();
    // One image per batch: 50 transform parts, so the kill lands while the transform job runs.
    const demo = cli(['demo', '--state-dir', home, '--run-id', 'model-dies', '--batch-size', '1']);
    await demo.waitFor(/transform +\d/);
    const log = join(home, 'logs', 'model.log');
    const model = pidInLog(log);

    process.kill(model, 'SIGKILL');
    const code = await demo.exit;
    const recorded = await status(home, 'model-dies');

    expect(model).toBeGreaterThan(0);
    expect(code).toBe(1);
    expect(demo.stdout()).toContain('Run model-dies: FAILED (LocalServerDiedError)');
    expectNamesDeadServer(demo.stdout() + demo.stderr(), 'model', log);
    expect(recorded.status).toBe('FAILED');
    expect(recorded.error?.error).toBe('LocalServerDiedError');
    expectNamesDeadServer(recorded.error?.cause ?? '', 'model', log);
    expect(recorded.error?.cause).toContain('States.TaskFailed');
  }, 600_000);
});
