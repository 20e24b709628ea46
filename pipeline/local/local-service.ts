/**
 * `nightshift local up | down | status`: the local S3, DynamoDB and model servers as a background service on stable
 * ports, shared by every `--local` command, `run --local` and `demo` until `local down`.
 *
 * Each server is its own detached process (own process group, so a terminal's Ctrl-C never reaches it) with its
 * output in `logs/<server>.log`; `local-service.json` in the state folder holds their pids, start times and
 * endpoints. A local run that starts its own servers instead holds the folder's lock file (`state-lock.ts`), so a
 * second one exits at once naming the owner.
 */

import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { RunOwnerSchema } from '../../shared/records.ts';
import { CliFailure } from '../run-backend/failures.ts';
import {
  createLocalClients,
  LOCAL_DYNAMODB_DIR,
  LOCAL_ENDPOINTS_FILE,
  LOCAL_NAMES_FILE,
  LOCAL_S3_DIR,
} from './local-servers.ts';
import { createStackResources, LOCAL_REGION, type LocalStack, loadLocalStack } from './local-stack.ts';
import { isRunning, type ProcessIdentity, processIdentity } from './process-identity.ts';
import { readStateFile } from './state-file.ts';
import { folderInUse, readLock, releaseStaleLock } from './state-lock.ts';

export const LOCAL_SERVICE_FILE = 'local-service.json';
/** S3 on this port, DynamoDB on the next, the model server on the one after. */
export const DEFAULT_PORT_BASE = 45660;

const SERVER_NAMES = ['s3', 'dynamodb', 'model'] as const;
type ServerName = (typeof SERVER_NAMES)[number];

const ServiceServerSchema = z.strictObject({
  process: RunOwnerSchema,
  endpoint: z.string(),
  log: z.string(),
});
const LocalServiceFileSchema = z.strictObject({
  startedAt: z.string(),
  servers: z.strictObject({ s3: ServiceServerSchema, dynamodb: ServiceServerSchema, model: ServiceServerSchema }),
  pipelineBucket: z.string(),
  runsTable: z.string(),
  predictionsTable: z.string(),
});
export type LocalService = z.infer<typeof LocalServiceFileSchema>;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EMULATOR_MAIN = fileURLToPath(new URL('./emulator-main.ts', import.meta.url));
const SERVE = fileURLToPath(new URL('../../stages/transform/serve.ts', import.meta.url));

/** The service recorded in the state folder, if every one of its servers still runs. */
export async function runningService(stateDir: string): Promise<LocalService | undefined> {
  const service = await readService(stateDir);
  if (!service) return undefined;
  return SERVER_NAMES.every((name) => isRunning(service.servers[name].process)) ? service : undefined;
}

async function readService(stateDir: string): Promise<LocalService | undefined> {
  const parsed = LocalServiceFileSchema.safeParse(await readStateFile(join(stateDir, LOCAL_SERVICE_FILE)));
  return parsed.success ? parsed.data : undefined;
}

/** What `local up` reports as it goes: one line per step with its time. */
export type StepReporter = (step: string, seconds: number) => void;

/** Starts the servers in the background (or finds them running) and creates the stack's buckets and tables. */
export async function startLocalService(options: {
  readonly stateDir: string;
  readonly portBase?: number;
  readonly onStep?: StepReporter;
}): Promise<{ service: LocalService; alreadyRunning: boolean }> {
  const { stateDir } = options;
  const existing = await runningService(stateDir);
  if (existing) return { service: existing, alreadyRunning: true };
  await releaseStaleLock(stateDir);
  const lock = await readLock(stateDir);
  if (lock) throw folderInUse(stateDir, lock);
  // Leftovers of a service that partly died are stopped before starting again on the same ports.
  await stopLocalService(stateDir);
  const base = options.portBase ?? DEFAULT_PORT_BASE;
  const ports: Record<ServerName, number> = { s3: base, dynamodb: base + 1, model: base + 2 };
  await Promise.all(
    ['logs', LOCAL_S3_DIR, LOCAL_DYNAMODB_DIR].map((dir) => mkdir(join(stateDir, dir), { recursive: true })),
  );
  const began = Date.now();
  const step = (name: string) => options.onStep?.(name, (Date.now() - began) / 1000);
  const servers: Partial<Record<ServerName, LocalService['servers']['s3']>> = {};
  let stack: LocalStack;
  try {
    // The three servers start first, so they load while this process synthesizes (or reads the cached template);
    // each step reports its seconds since start-up began.
    servers.s3 = await launch(stateDir, 's3', ports.s3, [
      '--openssl-legacy-provider',
      '--import',
      'tsx',
      EMULATOR_MAIN,
      's3',
      join(stateDir, LOCAL_S3_DIR),
      String(ports.s3),
    ]);
    servers.dynamodb = await launch(stateDir, 'dynamodb', ports.dynamodb, [
      '--import',
      'tsx',
      EMULATOR_MAIN,
      'dynamodb',
      join(stateDir, LOCAL_DYNAMODB_DIR),
      String(ports.dynamodb),
    ]);
    servers.model = await launch(stateDir, 'model', ports.model, [
      '--import',
      'tsx',
      SERVE,
      '--port',
      String(ports.model),
      '--host',
      '127.0.0.1',
    ]);
    const { s3, dynamodb, model } = servers;
    const [loaded] = await Promise.all([
      loadLocalStack(stateDir).then((result) => {
        step(result.cached ? 'synth (cached)' : 'synth');
        return result;
      }),
      waitAnswering(s3, '/', 30_000, 'S3').then(() => step('S3')),
      waitAnswering(dynamodb, '/', 30_000, 'DynamoDB').then(() => step('DynamoDB')),
      waitAnswering(model, '/ping', 120_000, 'model server', 200).then(() => step('model load')),
    ]);
    stack = loaded.stack;
    await createResources(stack, s3.endpoint, dynamodb.endpoint);
  } catch (error) {
    await Promise.all(Object.values(servers).map((server) => stopProcess(server.process)));
    throw error;
  }
  const service: LocalService = {
    startedAt: new Date().toISOString(),
    servers: servers as LocalService['servers'],
    pipelineBucket: stack.pipelineBucket,
    runsTable: stack.runsTable,
    predictionsTable: stack.predictionsTable,
  };
  const names = {
    pipelineBucket: stack.pipelineBucket,
    runsTable: stack.runsTable,
    predictionsTable: stack.predictionsTable,
  };
  await writeFile(join(stateDir, LOCAL_NAMES_FILE), `${JSON.stringify(names, null, 2)}\n`);
  await writeFile(
    join(stateDir, LOCAL_ENDPOINTS_FILE),
    `${JSON.stringify({ ...names, s3: servers.s3.endpoint, dynamodb: servers.dynamodb.endpoint }, null, 2)}\n`,
  );
  await writeFile(join(stateDir, LOCAL_SERVICE_FILE), `${JSON.stringify(service, null, 2)}\n`);
  return { service, alreadyRunning: false };
}

/** Stops every server the state folder's service file names (SIGTERM to its process group, then SIGKILL). */
export async function stopLocalService(stateDir: string): Promise<number> {
  const service = await readService(stateDir);
  if (!service) return 0;
  const running = SERVER_NAMES.map((name) => service.servers[name].process).filter(isRunning);
  await Promise.all(running.map(stopProcess));
  await rm(join(stateDir, LOCAL_SERVICE_FILE), { force: true });
  await rm(join(stateDir, LOCAL_ENDPOINTS_FILE), { force: true });
  return running.length;
}

/** `local status`: each server, then the endpoints in the forms the AWS CLIs and SDKs take. */
export function formatService(service: LocalService): string {
  const { s3, dynamodb, model } = service.servers;
  const row = (name: string, server: typeof s3) =>
    `  ${name.padEnd(9)} ${server.endpoint.padEnd(24)} pid ${server.process.pid}  log ${server.log}`;
  return [
    `Local servers up since ${service.startedAt}:`,
    row('S3', s3),
    row('DynamoDB', dynamodb),
    row('model', model),
    '',
    'AWS CLI v2 / SDKs (AWS_ENDPOINT_URL_<SERVICE>):',
    `  export AWS_ENDPOINT_URL_S3=${s3.endpoint} AWS_ENDPOINT_URL_DYNAMODB=${dynamodb.endpoint}`,
    `  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=${LOCAL_REGION} AWS_DEFAULT_REGION=${LOCAL_REGION}`,
    'Any AWS CLI (--endpoint-url), with the credentials and region above:',
    `  aws --endpoint-url ${s3.endpoint} s3 ls s3://${service.pipelineBucket}/reports/`,
    `  aws --endpoint-url ${dynamodb.endpoint} dynamodb scan --table-name ${service.runsTable}`,
    '',
  ].join('\n');
}

async function launch(
  stateDir: string,
  name: ServerName,
  port: number,
  args: string[],
): Promise<LocalService['servers']['s3']> {
  const log = join(stateDir, 'logs', `${name}.log`);
  const fd = openSync(log, 'a');
  // Detached: its own process group and session, so it outlives this command and a terminal's Ctrl-C.
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', fd, fd],
    // The model server keeps its rewritten graphs in the state directory (as a run's own server does).
    env: { NIGHTSHIFT_MODEL_CACHE_DIR: join(stateDir, 'cache', 'models'), ...process.env, NIGHTSHIFT_DETACHED: '1' },
  });
  child.unref();
  const pid = child.pid;
  const identity = pid === undefined ? undefined : processIdentity(pid);
  if (!identity) throw new CliFailure('LOCAL_SERVICE', `the local ${name} server did not start: see ${log}`);
  return { process: identity, endpoint: `http://127.0.0.1:${port}`, log };
}

async function waitAnswering(
  server: LocalService['servers']['s3'],
  path: string,
  timeoutMs: number,
  label: string,
  status?: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(server.process)) {
      const tail = (await readFile(server.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
      const inUse = /EADDRINUSE/.test(tail)
        ? ` (${server.endpoint} is taken: choose other ports with --port-base)`
        : '';
      throw new CliFailure('LOCAL_SERVICE', `the local ${label} server exited${inUse}: ${tail} (log ${server.log})`);
    }
    const response = await fetch(`${server.endpoint}${path}`, { signal: AbortSignal.timeout(1000) }).catch(
      () => undefined,
    );
    await response?.body?.cancel();
    if (response && (status === undefined || response.status === status)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new CliFailure(
    'LOCAL_SERVICE',
    `the local ${label} server did not answer within ${timeoutMs / 1000} s (log ${server.log})`,
  );
}

async function createResources(stack: LocalStack, s3: string, dynamodb: string): Promise<void> {
  const clients = createLocalClients({ s3, dynamodb });
  try {
    await createStackResources(stack, clients.s3, clients.dynamo);
  } finally {
    clients.destroy();
  }
}

/** SIGTERM to the process's group (it leads its own), SIGKILL after five seconds; resolves once it is gone. */
async function stopProcess(owner: ProcessIdentity): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-owner.pid, name);
    } catch {
      try {
        process.kill(owner.pid, name);
      } catch {
        // already gone
      }
    }
  };
  if (!isRunning(owner)) return;
  signal('SIGTERM');
  const deadline = Date.now() + 5000;
  while (isRunning(owner) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (isRunning(owner)) signal('SIGKILL');
  while (isRunning(owner)) await new Promise((resolve) => setTimeout(resolve, 50));
}
