import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ModelServerInstance } from './batch-transform.ts';
import { stopChild } from './child-process.ts';

const SERVE = fileURLToPath(new URL('../../stages/transform/serve.ts', import.meta.url));
/** The project root: `--import tsx` resolves from the child's working directory, wherever the caller runs. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ModelServerProcessOptions {
  /** Extra environment (SAGEMAKER_* settings, MODEL_DIR, NIGHTSHIFT_EXECUTION_PROVIDER). */
  readonly env?: Record<string, string>;
  /** @default 120 s: loading the models takes a few seconds on CPU */
  readonly startTimeoutMs?: number;
  /** Receives the server's log lines (JSON). */
  readonly onLog?: (line: string) => void;
  /** Stops a server still loading its models (a run that ends before its transform does not wait for them). */
  readonly signal?: AbortSignal;
  /** Appends the server's output here, so a server that dies leaves its last words. @default - none */
  readonly logFile?: string;
}

/**
 * Starts the model server (stages/transform/serve.ts) as a plain Node process on a free loopback port, the way
 * the container's `serve` would run, and resolves once GET /ping answers 200 (models loaded).
 */
export async function startModelServer(
  options: ModelServerProcessOptions = {},
): Promise<ModelServerInstance & { pid: number; log?: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', SERVE, '--port', '0', '--host', '127.0.0.1', '--exit-with-stdin'],
    {
      env: { ...process.env, ...options.env },
      // Own process group: a terminal's Ctrl-C reaches the CLI only, which records the run before stopping us; if
      // the CLI dies instead, our stdin closes and we exit.
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: ROOT,
    },
  );
  let stderr = '';
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  log?.on('error', () => undefined);
  log?.write(`${new Date().toISOString()} model server started, pid ${child.pid}\n`);
  child.once('exit', (code, signal) => {
    log?.end(`${new Date().toISOString()} model server exited (${signal ?? `code ${code}`})\n`);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    log?.write(chunk);
    for (const line of chunk.toString().split('\n')) if (line.trim()) options.onLog?.(line);
  });
  const stop = () => stopChild(child);
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const stopped = () => new Error('the model server was stopped while it loaded its models');
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the model server did not report its port within ${timeoutMs} ms: ${stderr}`)),
        timeoutMs,
      );
      options.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(stopped());
        },
        { once: true },
      );
      if (options.signal?.aborted) {
        clearTimeout(timer);
        reject(stopped());
      }
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the model server exited with code ${code} while starting: ${stderr}`));
      });
      const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> });
      lines.on('line', (line) => {
        try {
          const parsed = JSON.parse(line) as { port?: unknown };
          if (typeof parsed.port === 'number') {
            clearTimeout(timer);
            resolve(parsed.port);
            return;
          }
        } catch {
          // not the port line
        }
        log?.write(`${line}\n`);
        options.onLog?.(line);
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    while (Date.now() < deadline) {
      if (options.signal?.aborted) throw stopped();
      const ping = await fetch(`${endpoint}/ping`).catch(() => undefined);
      if (ping?.status === 200) {
        return { endpoint, pid: child.pid ?? -1, stop, ...(options.logFile ? { log: options.logFile } : {}) };
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the model server on ${endpoint} did not answer /ping with 200 within ${timeoutMs} ms: ${stderr}`);
  } catch (error) {
    await stop();
    throw error;
  }
}
