/**
 * Which local server died. A stage that loses its S3 or DynamoDB server only sees a refused or reset connection
 * (`ConnectionError`), and the batch transform only sees `fetch failed`; the local runtime knows its servers, so it
 * checks each one's process and port and names the one that is gone, with its log file and what to do.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { connectionFailureOf } from '../../shared/aws/aws-errors.ts';
import { ConnectionError, NightshiftError, type NightshiftErrorOptions } from '../../shared/errors.ts';
import type { RunningEmulator } from './emulators.ts';
import type { ExecutionResult } from './engine/index.ts';
import type { LocalService } from './local-service.ts';

/** One of the local servers a run uses: what a person calls it, where it listens, its process and its log. */
export interface LocalServerProcess {
  readonly name: 'S3' | 'DynamoDB' | 'model';
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly pid: number;
  /** The file its output goes to. */
  readonly log: string;
}

const NAMES = { s3: 'S3', dynamodb: 'DynamoDB', model: 'model' } as const;

/**
 * The servers a run uses: those of `nightshift local up` (from its service file), or the run's own emulators and
 * first model server, whose output goes to `logs/<server>.log` under the state folder `home`.
 */
export function runServers(
  home: string,
  servers: LocalService | { emulators: readonly RunningEmulator[]; model: { endpoint: string; pid?: number } },
): LocalServerProcess[] {
  if ('servers' in servers) {
    return (['s3', 'dynamodb', 'model'] as const).map((name) => ({
      name: NAMES[name],
      endpoint: servers.servers[name].endpoint,
      pid: servers.servers[name].process.pid,
      log: servers.servers[name].log,
    }));
  }
  return [
    ...servers.emulators.map((server) => ({
      name: NAMES[server.kind],
      endpoint: server.endpoint,
      pid: server.pid,
      log: server.log ?? join(home, 'logs', `${server.kind}.log`),
    })),
    {
      name: NAMES.model,
      endpoint: servers.model.endpoint,
      pid: servers.model.pid ?? -1,
      log: join(home, 'logs', 'model.log'),
    },
  ];
}

/** A server found gone: its process exited, or it no longer accepts connections on its port. */
export interface DeadServer extends LocalServerProcess {
  readonly state: 'exited' | 'refuses connections';
}

/** What the advice in a dead server's message depends on. */
export interface ServerFailureContext {
  /** The run that lost the server, when there is one. */
  readonly runId?: string;
  /** Whether the servers are `nightshift local up`'s (restarted with it) rather than the run's own. */
  readonly shared: boolean;
}

/**
 * A local server the run depends on died (its process is gone or its port refuses connections). Not retried: a
 * retry would meet the same dead port, so the execution fails at once with this message as its cause.
 */
export class LocalServerDiedError extends NightshiftError {
  override readonly name = 'LocalServerDiedError';
  readonly code = 'LOCAL_SERVER_DIED';
  readonly kind = 'internal';
  readonly retryable = false;

  constructor(
    readonly servers: readonly DeadServer[],
    context: ServerFailureContext,
    options: NightshiftErrorOptions = {},
  ) {
    super(serverDiedMessage(servers, context), {
      ...options,
      details: { servers: servers.map(({ name, endpoint, pid, log, state }) => ({ name, endpoint, pid, log, state })) },
    });
  }
}

/** The servers among `servers` that are gone, checked by process and by port (a killed process may linger a moment). */
export async function findDeadServers(servers: readonly LocalServerProcess[]): Promise<DeadServer[]> {
  const checked = await Promise.all(
    servers.map(async (server): Promise<DeadServer | undefined> => {
      if (!processAlive(server.pid)) return { ...server, state: 'exited' };
      return (await acceptsConnections(server.endpoint)) ? undefined : { ...server, state: 'refuses connections' };
    }),
  );
  return checked.filter((server): server is DeadServer => server !== undefined);
}

/**
 * `error` as a {@link LocalServerDiedError} when it is a connection failure (or `suspect` says to check anyway) and
 * one of `servers` is gone; otherwise `error` unchanged (a transient failure against a live server stays retryable).
 */
export async function explainServerFailure(
  error: unknown,
  servers: readonly LocalServerProcess[],
  context: ServerFailureContext,
  suspect = false,
): Promise<unknown> {
  // Raised deeper without the run in view (finalize-failure's handler): said again with this context's advice.
  if (error instanceof LocalServerDiedError)
    return new LocalServerDiedError(error.servers, context, { cause: error.cause });
  if (!suspect && !(error instanceof ConnectionError) && !connectionFailureOf(error)) return error;
  const dead = await findDeadServers(servers);
  return dead.length > 0 ? new LocalServerDiedError(dead, context, { cause: error }) : error;
}

/**
 * A failed execution's result with a dead server named: when any of `servers` is gone, the error becomes
 * `LocalServerDiedError` and the cause says which server, its log and what to do, ending with the error the
 * execution stopped with. A result that already names it, a success, or a failure with every server alive is kept.
 */
export async function explainFailedRun(
  result: ExecutionResult,
  servers: readonly LocalServerProcess[],
  context: ServerFailureContext,
): Promise<ExecutionResult> {
  if (result.status === 'SUCCEEDED' || result.error === 'LocalServerDiedError') return result;
  const dead = await findDeadServers(servers);
  if (dead.length === 0) return result;
  const stoppedWith = result.error ? ` (the execution stopped with ${result.error})` : '';
  return { ...result, error: 'LocalServerDiedError', cause: `${serverDiedMessage(dead, context)}${stoppedWith}` };
}

/** One paragraph: which server, where, its process and log, and how to finish the run. */
export function serverDiedMessage(servers: readonly DeadServer[], context: ServerFailureContext): string {
  const which = servers
    .map(
      (server) =>
        `the local ${server.name} server (${server.endpoint}, pid ${server.pid}) ${server.state === 'exited' ? 'has exited' : 'no longer accepts connections'}; its log is ${server.log}`,
    )
    .join('; ');
  const finish = context.runId
    ? `finish the run with \`nightshift redrive ${context.runId} --local\``
    : 'run the command again';
  const recover = context.shared
    ? `restart the shared servers with \`nightshift local down\` then \`nightshift local up\` (\`nightshift local status\` lists them), then ${finish}`
    : `${finish}, which starts fresh servers on the same data`;
  return `${capitalise(which)}. Read the log for why it stopped, then ${recover}.`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function processAlive(pid: number): boolean {
  // An unknown pid (-1) is left to the port check: kill(-1, ...) would address every process.
  if (pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a TCP connection to the endpoint's port opens within a second. */
function acceptsConnections(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
