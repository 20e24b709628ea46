import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type {
  LocalRunBackend,
  LocalRunBackendModule,
  LocalRunBackendOptions,
} from '../../pipeline/run-backend/run-backend.ts';
import { parseExecutionInput } from '../../shared/execution-input.ts';
import { captureIo, runCli } from '../helpers/cli-harness.ts';

/** A local backend that records what the commands ask of it (the real one runs the pipeline; e2e covers that). */
function recordingBackend(code = 0) {
  const calls: { method: string; request: unknown }[] = [];
  const created: LocalRunBackendOptions[] = [];
  let closed = 0;
  const record =
    (method: string) =>
    async (request: unknown): Promise<number> => {
      calls.push({ method, request });
      return code;
    };
  const backend: LocalRunBackend = {
    selector: ' --local',
    where: async () => 'the local servers (/state)',
    demo: record('demo'),
    runSource: record('runSource'),
    start: record('start'),
    watch: record('watch'),
    redrive: record('redrive'),
    runs: async (query) => {
      calls.push({ method: 'runs', request: query });
      return { runs: [], skipped: 0, runsTable: 'runs' };
    },
    status: async () => {
      throw new Error('not asked');
    },
    report: async () => {
      throw new Error('not asked');
    },
    predictions: async () => {
      throw new Error('not asked');
    },
    logs: async () => {
      throw new Error('not asked');
    },
    close: async () => {
      closed += 1;
    },
  };
  const module: LocalRunBackendModule = {
    createLocalRunBackend: (options) => {
      created.push(options);
      return backend;
    },
  };
  return { calls, created, closed: () => closed, deps: { loadLocalBackend: async () => module } };
}

describe('commands call the local backend the CLI picks with --local', () => {
  it('runs `demo` on the local backend, passing the options and returning its exit code', async () => {
    const local = recordingBackend(1);

    const result = await runCli(['demo', '--keep-servers', '--state-dir', 'state'], {
      io: captureIo({ cwd: '/data' }),
      deps: { ...local.deps, projectRoot: '/repo' },
    });

    expect(result.code).toBe(1);
    expect(local.calls).toEqual([{ method: 'demo', request: { keepServers: true } }]);
    expect(local.created).toMatchObject([{ json: false, stateDir: 'state', projectRoot: '/repo' }]);
    expect(local.closed()).toBe(1);
  });

  it('runs `run --local SOURCE` with the source resolved against the working directory', async () => {
    const local = recordingBackend();
    const cwd = await mkdtemp(join(tmpdir(), 'nightshift-run-'));
    await mkdir(join(cwd, 'images'));
    await writeFile(join(cwd, 'images', 'a.png'), 'not read by the check');

    const result = await runCli(['run', '--local', 'images', '--json'], {
      io: captureIo({ cwd }),
      deps: local.deps,
    });
    await rm(cwd, { recursive: true });

    expect(result.code).toBe(0);
    expect(local.calls).toEqual([
      { method: 'runSource', request: { source: join(cwd, 'images'), keepServers: false } },
    ]);
    expect(local.created).toMatchObject([{ json: true }]);
  });

  it('validates `start --local` options before the backend is loaded, then passes the validated input', async () => {
    const local = recordingBackend();

    const bad = await runCli(['start', '--local', '--dataset', 's3://b-1/a/', '--batch-size', '5000'], {
      deps: local.deps,
    });
    const good = await runCli(['start', '--local', '--dataset', 's3://b-1/a/', '--run-id', 'local-1', '--wait'], {
      deps: local.deps,
    });

    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--batch-size: Too big');
    expect(good.code).toBe(0);
    expect(local.created).toHaveLength(1);
    expect(local.calls).toEqual([
      {
        method: 'start',
        request: {
          input: parseExecutionInput({ dataset: 's3://b-1/a/', runId: 'local-1' }),
          name: 'local-1',
          wait: true,
          timeoutMs: 49 * 3_600_000,
          keepServers: false,
        },
      },
    ]);
  });

  it('passes `watch --local` and `redrive --local` requests through', async () => {
    const local = recordingBackend();

    await runCli(['watch', '--local', 'demo-1', '--timeout', '10m'], { deps: local.deps });
    await runCli(['redrive', '--local', 'demo-1', '--wait'], { deps: local.deps });

    expect(local.calls).toEqual([
      { method: 'watch', request: { run: 'demo-1', timeoutMs: 600_000 } },
      { method: 'redrive', request: { run: 'demo-1', wait: true, timeoutMs: 49 * 3_600_000 } },
    ]);
  });

  it('reads `runs --local` from the same backend and names where it looked', async () => {
    const local = recordingBackend();

    const result = await runCli(['runs', '--local', '--status', 'failed'], { deps: local.deps });

    expect(result.code).toBe(0);
    expect(local.calls).toEqual([{ method: 'runs', request: { limit: 20, status: 'FAILED' } }]);
    expect(result.stdout).toBe('no FAILED runs in the local servers (/state)\n');
  });

  it('never loads the local backend without --local', async () => {
    const local = recordingBackend();

    const result = await runCli(['start', '--dataset', 's3://b-1/a/', '--dry-run'], { deps: local.deps });

    expect(result.code).toBe(0);
    expect(local.created).toEqual([]);
  });
});
