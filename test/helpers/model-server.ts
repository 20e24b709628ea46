import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVE = fileURLToPath(new URL('../../stages/transform/serve.ts', import.meta.url));

/** The real model server in a child process on a free loopback port. */
export interface RunningModelServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly pid: number;
  /** Every JSON line the server logged so far (stdout and stderr), in order of arrival. */
  readonly logs: readonly Record<string, unknown>[];
  /**
   * Resolves once `count` lines with this message have been logged since log index `after`: the server logs a
   * request before answering it, but the log pipe and the HTTP socket are read independently.
   */
  logged(message: string, count: number, after?: number): Promise<Record<string, unknown>[]>;
  /** Resolves once the server logs "model server ready"; rejects if it exits first or takes too long. */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  /** The text the server wrote to stderr (last 8 KB). */
  stderr(): string;
  stop(): Promise<void>;
}

export interface ModelServerOptions {
  /** `--model-dir`; absent: the bundled PP-OCRv4 files (this machine has no /opt/ml/model). */
  readonly modelDir?: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** @default 30 s */
  readonly startTimeoutMs?: number;
}

/**
 * Starts `node --import tsx stages/transform/serve.ts --port 0` and resolves once it listens (not once the model
 * is loaded: await {@link RunningModelServer.ready} for that). The server exits when this process closes its stdin,
 * so a test run that dies leaves no server behind.
 */
export function startModelServer(options: ModelServerOptions = {}): Promise<RunningModelServer> {
  const args = ['--import', 'tsx', SERVE, 'serve', '--port', '0', '--host', '127.0.0.1', '--exit-with-stdin'];
  if (options.modelDir !== undefined) args.push('--model-dir', options.modelDir);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8192);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Powertools writes INFO and WARN lines to stdout and ERROR lines to stderr.
  for (const stream of [child.stdout, child.stderr] as NonNullable<ChildProcess['stdout']>[]) {
    createInterface({ input: stream }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        return;
      }
      for (const listener of listeners) listener();
    });
  }

  const logged = (message: string, count: number, after: number, timeoutMs: number) => {
    const matching = () => logs.slice(after).filter((entry) => entry.message === message);
    if (matching().length >= count) return Promise.resolve(matching());
    return new Promise<Record<string, unknown>[]>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      const check = () => {
        if (matching().length < count) return;
        done();
        resolve(matching());
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the model server did not log "${message}" ${count} time(s) in ${timeoutMs} ms; ${stderr}`));
      }, timeoutMs);
      const onExit = (code: number | null) => {
        done();
        reject(
          new Error(`the model server exited (${code}) before logging "${message}": ${JSON.stringify(logs.at(-1))}`),
        );
      };
      listeners.add(check);
      child.once('exit', onExit);
    });
  };
  const waitFor = async (message: string, timeoutMs: number) => (await logged(message, 1, 0, timeoutMs))[0] ?? {};

  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  return waitFor('model server listening', startTimeoutMs).then((listening) => ({
    url: `http://127.0.0.1:${listening.port as number}`,
    pid: child.pid ?? -1,
    logs,
    logged: (message, count, after = 0) => logged(message, count, after, startTimeoutMs),
    exited,
    stderr: () => stderr,
    ready: async (timeoutMs = startTimeoutMs) => {
      await waitFor('model server ready', timeoutMs);
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  }));
}

/** POSTs a JSON Lines body (records, or a raw string) to /invocations. */
export function postInvocations(url: string, body: readonly unknown[] | string): Promise<Response> {
  const text = typeof body === 'string' ? body : `${body.map((record) => JSON.stringify(record)).join('\n')}\n`;
  return fetch(`${url}/invocations`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/jsonlines', Accept: 'application/jsonlines' },
    body: text,
  });
}

/** Splits a JSON Lines response into parsed lines. */
export async function readJsonLines(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
