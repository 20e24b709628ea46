/**
 * The local backend's servers: where the local runtime's S3 and DynamoDB live, what its bucket and tables are
 * called, and clients for them.
 *
 * The local runtime (`pipeline/local/`) keeps its state under the state directory (`.nightshift/` in the project
 * root, or `NIGHTSHIFT_HOME`, or `--state-dir`) and writes two files there:
 * - `local-endpoints.json` while its servers run (a run's own, or `nightshift local up`'s): endpoints and names;
 * - `local-names.json` once it has run anything: the names alone.
 * When the servers of the first file answer, the local backend uses them. Otherwise it starts the servers itself on the
 * persisted state (`s3/`, `dynamodb/`) for the length of one command, with the names from the second file.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { documentClient, s3ClientConfig } from '../../shared/aws/client-config.ts';
import { formatIssues } from '../../shared/execution-input.ts';
import { CliFailure } from '../run-backend/failures.ts';
import { acquireStateLock } from './state-lock.ts';

/** What the local runtime calls its bucket and tables. */
export const LocalNamesSchema = z.object({
  pipelineBucket: z.string().min(1),
  runsTable: z.string().min(1),
  predictionsTable: z.string().min(1),
});
export type LocalNames = Readonly<z.infer<typeof LocalNamesSchema>>;

/** `local-endpoints.json`: the names plus where the running servers listen. */
export const LocalEndpointsFileSchema = LocalNamesSchema.extend({
  s3: z.url({ protocol: /^https?$/ }),
  dynamodb: z.url({ protocol: /^https?$/ }),
});

export const LOCAL_ENDPOINTS_FILE = 'local-endpoints.json';
export const LOCAL_NAMES_FILE = 'local-names.json';
/** Subdirectories of the state directory the local runtime persists the servers' data in. */
export const LOCAL_S3_DIR = 's3';
export const LOCAL_DYNAMODB_DIR = 'dynamodb';
/** Overrides the state directory, for the CLI and the local runtime alike. */
export const STATE_DIR_ENV = 'NIGHTSHIFT_HOME';

/** A local server this process started, and how to stop it. */
export interface StartedServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts the local servers on persisted data (`startS3Server` / `startDynamoServer` from `pipeline/local/emulators.ts`). */
export interface LocalServerLauncher {
  s3(directory: string): Promise<StartedServer>;
  dynamodb(directory: string): Promise<StartedServer>;
}

export interface LocalServersOptions {
  /** Absolute path of the state directory (see {@link resolveStateDir}). */
  readonly stateDir: string;
  /** @default - the emulators of `pipeline/local/emulators.ts`, imported on first use */
  readonly launcher?: LocalServerLauncher;
  /** Whether something answers HTTP at the endpoint. @default - a GET with a one-second time-out */
  readonly isAnswering?: (endpoint: string) => Promise<boolean>;
}

/** Where the local servers listen (`http://127.0.0.1:PORT`). */
export interface LocalEndpoints {
  readonly s3: string;
  readonly dynamodb: string;
}

/** The local servers and names the `--local` read commands use. */
export interface LocalServers {
  readonly stateDir: string;
  readonly endpoints: LocalEndpoints;
  readonly names: LocalNames;
  /** `runtime`: the local runtime's running servers; `started`: this process started them and stops them on close. */
  readonly origin: 'runtime' | 'started';
  close(): Promise<void>;
}

/** `--state-dir`, else `NIGHTSHIFT_HOME`, else `.nightshift/` in the project root. */
export function resolveStateDir(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  projectRoot: string,
): string {
  if (flag) return resolve(cwd, flag);
  const fromEnv = env[STATE_DIR_ENV];
  if (fromEnv) return resolve(cwd, fromEnv);
  return join(projectRoot, '.nightshift');
}

/** Finds the local servers, starting them on the persisted state when the runtime's are not running. */
export async function resolveLocalServers(options: LocalServersOptions): Promise<LocalServers> {
  const { stateDir } = options;
  const isAnswering = options.isAnswering ?? answersHttp;
  const running = await readJsonFile(join(stateDir, LOCAL_ENDPOINTS_FILE), LocalEndpointsFileSchema);
  if (running && (await isAnswering(running.s3)) && (await isAnswering(running.dynamodb))) {
    return {
      stateDir,
      endpoints: { s3: running.s3, dynamodb: running.dynamodb },
      names: pickNames(running),
      origin: 'runtime',
      close: async () => {},
    };
  }
  // No run or service has servers up: serve the persisted state ourselves.
  const names = (await readJsonFile(join(stateDir, LOCAL_NAMES_FILE), LocalNamesSchema)) ?? running;
  if (!names) {
    throw new CliFailure('NO_LOCAL_STATE', `no local runs yet in ${stateDir}: run \`npm run demo\` first`);
  }
  // Servers of our own need the folder to themselves: a run starting meanwhile exits naming this process.
  const releaseLock = await acquireStateLock(stateDir);
  const launcher = options.launcher ?? (await emulatorLauncher());
  const started: StartedServer[] = [];
  const stopAll = () =>
    Promise.all(started.map((server) => server.stop()))
      .then(() => releaseLock())
      .then(() => undefined);
  try {
    const [s3, dynamodb] = await Promise.all([
      launcher.s3(join(stateDir, LOCAL_S3_DIR)).then((server) => {
        started.push(server);
        return server;
      }),
      launcher.dynamodb(join(stateDir, LOCAL_DYNAMODB_DIR)).then((server) => {
        started.push(server);
        return server;
      }),
    ]);
    return {
      stateDir,
      endpoints: { s3: s3.endpoint, dynamodb: dynamodb.endpoint },
      names: pickNames(names),
      origin: 'started',
      close: stopAll,
    };
  } catch (error) {
    await stopAll();
    const message = (error as Error).message ?? String(error);
    const hint = /lock/i.test(message)
      ? 'another process holds its data: share one set of servers with `nightshift local up`'
      : 'run again with --verbose for the server output';
    throw new CliFailure(
      'NO_LOCAL_STATE',
      `could not start the local servers on ${stateDir} (${gist(message)}): ${hint}`,
      {
        cause: error,
      },
    );
  }
}

/** The first line of a server's failure and its first error line: enough for one line of output. */
function gist(message: string): string {
  const lines = message.split('\n').map((line) => line.trim());
  const errorLine = lines.slice(1).find((line) => /error/i.test(line));
  const text = [lines[0], errorLine].filter(Boolean).join(' ... ');
  return text.length > 300 ? `${text.slice(0, 299)}\u2026` : text;
}

function pickNames(names: LocalNames): LocalNames {
  return Object.freeze({
    pipelineBucket: names.pipelineBucket,
    runsTable: names.runsTable,
    predictionsTable: names.predictionsTable,
  });
}

async function readJsonFile<T>(path: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliFailure(
      'NO_LOCAL_STATE',
      `${path} is not JSON (${(error as Error).message}): delete it and run \`npm run demo\` again`,
      {
        cause: error,
      },
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new CliFailure(
      'NO_LOCAL_STATE',
      `${formatIssues(parsed.error, path)}: delete it and run \`npm run demo\` again`,
    );
  }
  return parsed.data;
}

/** Any HTTP answer counts (the servers answer a bare GET with an error document); silence or a refusal does not. */
async function answersHttp(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

async function emulatorLauncher(): Promise<LocalServerLauncher> {
  // Imported on use: only --local without running servers needs the emulators' child processes.
  const { startDynamoServer, startS3Server } = await import('./emulators.ts');
  return {
    s3: (directory) => startS3Server({ directory }),
    dynamodb: (directory) => startDynamoServer({ directory }),
  };
}

/** Clients of the local servers: S3 (reports) and DynamoDB (runs, predictions). */
export interface LocalClients {
  readonly s3: S3Client;
  /** The DynamoDB client under `doc` (table management needs it). */
  readonly dynamo: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  destroy(): void;
}

// s3rver accepts these and only these; dynalite accepts any. Fixed, so --local never needs real AWS credentials.
const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const LOCAL_REGION = 'us-east-1';

/** Clients for the local servers: explicit endpoints, path-style S3, fixed credentials and region. */
export function createLocalClients(endpoints: LocalEndpoints): LocalClients {
  const s3 = new S3Client({
    ...s3ClientConfig(),
    region: LOCAL_REGION,
    endpoint: endpoints.s3,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
  });
  const dynamo = new DynamoDBClient({
    region: LOCAL_REGION,
    endpoint: endpoints.dynamodb,
    credentials: LOCAL_CREDENTIALS,
  });
  const doc = documentClient(dynamo);
  return {
    s3,
    dynamo,
    doc,
    destroy: () => {
      s3.destroy();
      dynamo.destroy();
    },
  };
}
