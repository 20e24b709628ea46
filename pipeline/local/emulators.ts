import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild } from './child-process.ts';

/** A local protocol server running as a child process. */
export interface RunningEmulator {
  readonly kind: 's3' | 'dynamodb';
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly pid: number;
  /** The file its output goes to, when {@link EmulatorOptions.logFile} named one. */
  readonly log?: string;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** Where the server keeps its data; S3 needs one, DynamoDB keeps memory only without one. */
  readonly directory?: string;
  /** 0 picks a free port. @default 0 */
  readonly port?: number;
  /** @default 30 s */
  readonly startTimeoutMs?: number;
  /** Appends the server's output here, so a server that dies leaves its last words. @default - kept in memory only */
  readonly logFile?: string;
}

const MAIN = fileURLToPath(new URL('./emulator-main.ts', import.meta.url));
/** The project root: `--import tsx` resolves from the child's working directory, wherever the caller runs. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Starts s3rver on loopback. Clients need path-style addressing and credentials S3RVER/S3RVER. */
export function startS3Server(options: EmulatorOptions & { directory: string }): Promise<RunningEmulator> {
  return startEmulator('s3', options, ['--openssl-legacy-provider']);
}

/** Starts dynalite on loopback. It has no transactions and no TTL API. */
export function startDynamoServer(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator('dynamodb', options, []);
}

function startEmulator(
  kind: 's3' | 'dynamodb',
  options: EmulatorOptions,
  nodeFlags: string[],
): Promise<RunningEmulator> {
  const child = spawn(
    process.execPath,
    [
      ...nodeFlags,
      '--import',
      'tsx',
      MAIN,
      kind,
      options.directory ? resolve(options.directory) : '-',
      String(options.port ?? 0),
    ],
    {
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
  log?.write(`${new Date().toISOString()} local ${kind} server started, pid ${child.pid}\n`);
  child.once('exit', (code, signal) => {
    log?.end(`${new Date().toISOString()} local ${kind} server exited (${signal ?? `code ${code}`})\n`);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    log?.write(chunk);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`the local ${kind} server did not start within ${options.startTimeoutMs ?? 30_000} ms: ${stderr}`),
      );
    }, options.startTimeoutMs ?? 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local ${kind} server exited with code ${code} before listening: ${stderr}`));
    });
    const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> });
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.close();
      const { port } = JSON.parse(line) as { port: number };
      if (log) child.stdout?.pipe(log, { end: false });
      resolve({
        kind,
        endpoint: `http://127.0.0.1:${port}`,
        pid: child.pid ?? -1,
        ...(options.logFile ? { log: options.logFile } : {}),
        stop: () => stopChild(child),
      });
    });
  });
}
