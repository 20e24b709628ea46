import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { importLocalHooks, type LocalHooks } from '../../pipeline/cli/local-hooks.ts';
import { parseExecutionInput } from '../../shared/execution-input.ts';
import { captureIo, runCli } from '../helpers/cli-harness.ts';

/** The hooks pipeline/local/cli-commands.ts exports, recorded. */
function recordingHooks(code = 0) {
  const calls: { hook: string; args: unknown }[] = [];
  const hook =
    (name: string) =>
    async (args: unknown, io: { stdout: (text: string) => void }): Promise<number> => {
      calls.push({ hook: name, args });
      io.stdout(`${name} ran\n`);
      return code;
    };
  const hooks: LocalHooks = {
    demoCommand: hook('demoCommand'),
    runLocalCommand: hook('runLocalCommand'),
    startLocal: hook('startLocal'),
    watchLocal: hook('watchLocal'),
    redriveLocal: hook('redriveLocal'),
  };
  return { calls, hooks };
}

describe('local runtime commands delegate to pipeline/local/cli-commands.ts', () => {
  it('runs `demo` through demoCommand with the resolved state directory, returning its exit code', async () => {
    const { calls, hooks } = recordingHooks(1);
    const home = await mkdtemp(join(tmpdir(), 'nightshift-home-'));
    const io = captureIo({ env: { NIGHTSHIFT_HOME: home } });

    const result = await runCli(['demo', '--keep-servers'], { io, deps: { loadLocalHooks: async () => hooks } });

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('demoCommand ran\n');
    expect(calls).toEqual([{ hook: 'demoCommand', args: { keepServers: true, json: false, stateDir: home } }]);
    await rm(home, { recursive: true, force: true });
  });

  it('runs `run --local SOURCE` with the source resolved against the working directory', async () => {
    const { calls, hooks } = recordingHooks();
    const io = captureIo({ cwd: '/data' });

    const result = await runCli(['run', '--local', 'images', '--json', '--state-dir', 'state'], {
      io,
      deps: { loadLocalHooks: async () => hooks },
    });

    expect(result.code).toBe(0);
    expect(calls).toEqual([
      {
        hook: 'runLocalCommand',
        args: { source: '/data/images', keepServers: false, json: true, stateDir: '/data/state' },
      },
    ]);
  });

  it('validates `start --local` options first, then passes the validated input and run id to startLocal', async () => {
    const { calls, hooks } = recordingHooks();
    const loadLocalHooks = vi.fn(async () => hooks);

    const bad = await runCli(['start', '--local', '--dataset', 's3://b-1/a/', '--batch-size', '5000'], {
      deps: { loadLocalHooks },
    });
    const good = await runCli(['start', '--local', '--dataset', 's3://b-1/a/', '--run-id', 'local-1', '--wait'], {
      deps: { loadLocalHooks, projectRoot: '/repo' },
    });

    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--batch-size: Too big');
    expect(good.code).toBe(0);
    expect(calls).toEqual([
      {
        hook: 'startLocal',
        args: {
          input: parseExecutionInput({ dataset: 's3://b-1/a/', runId: 'local-1' }),
          name: 'local-1',
          wait: true,
          keepServers: false,
          json: false,
          stateDir: '/repo/.nightshift',
        },
      },
    ]);
  });

  it('runs `watch --local` and `redrive --local` through watchLocal and redriveLocal', async () => {
    const { calls, hooks } = recordingHooks();
    const deps = { loadLocalHooks: async () => hooks, projectRoot: '/repo' };

    await runCli(['watch', '--local', 'demo-1', '--timeout', '10m'], { deps });
    await runCli(['redrive', '--local', 'demo-1', '--wait'], { deps });

    expect(calls).toEqual([
      { hook: 'watchLocal', args: { runId: 'demo-1', timeoutMs: 600_000, json: false, stateDir: '/repo/.nightshift' } },
      { hook: 'redriveLocal', args: { runId: 'demo-1', wait: true, json: false, stateDir: '/repo/.nightshift' } },
    ]);
  });

  it('says "not available yet" (exit 1) while the local runtime does not provide the command', async () => {
    const withoutModule = await runCli(['demo'], { deps: { loadLocalHooks: async () => undefined } });
    const withoutHook = await runCli(['watch', '--local', 'demo-1'], { deps: { loadLocalHooks: async () => ({}) } });

    expect(withoutModule.code).toBe(1);
    expect(withoutModule.stderr).toContain('`nightshift demo` is not available yet: it arrives with the local runtime');
    expect(withoutHook.code).toBe(1);
    expect(withoutHook.stderr).toContain('`nightshift watch --local` is not available yet');
    expect(withoutHook.stderr).toContain('exporting watchLocal');
  });

  it('loads pipeline/local/cli-commands.ts by default, and reports it absent (not an error) until it exists', async () => {
    const exists = existsSync(new URL('../../pipeline/local/cli-commands.ts', import.meta.url));

    const hooks = await importLocalHooks();

    expect(hooks !== undefined).toBe(exists);
  });
});
