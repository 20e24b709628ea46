import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoServer, startS3Server } from '../../pipeline/local/emulators.ts';
import { createLocalRunBackend } from '../../pipeline/local/local-run-backend.ts';
import {
  LOCAL_DYNAMODB_DIR,
  LOCAL_ENDPOINTS_FILE,
  LOCAL_NAMES_FILE,
  LOCAL_S3_DIR,
  type LocalServerLauncher,
  resolveLocalServers,
  resolveStateDir,
  type StartedServer,
} from '../../pipeline/local/local-servers.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { systemClock } from '../../shared/ports.ts';
import { captureIo, runCli } from '../helpers/cli-harness.ts';
import { type LocalAws, runsTableDefinition, startLocalAws } from '../helpers/local-aws.ts';

const NAMES = {
  pipelineBucket: 'nightshift-local',
  runsTable: 'nightshift-runs',
  predictionsTable: 'nightshift-predictions',
};
/** A loopback port nothing listens on (the discard port): a runtime's servers that have gone away. */
const DEAD = 'http://127.0.0.1:9';

async function answers(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/** Leaves a run in the DynamoDB data directory of a state dir, as the local runtime would, with the servers stopped. */
async function persistRun(stateDir: string, runId: string): Promise<void> {
  await mkdir(join(stateDir, LOCAL_S3_DIR), { recursive: true });
  const dynamoServer = await startDynamoServer({ directory: join(stateDir, LOCAL_DYNAMODB_DIR) });
  const dynamo = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: dynamoServer.endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  try {
    await dynamo.send(new CreateTableCommand(runsTableDefinition(NAMES.runsTable)));
    await new DynamoRunStore(DynamoDBDocumentClient.from(dynamo), NAMES.runsTable, systemClock).create({
      runId,
      status: 'SUCCEEDED',
      dataset: 's3://nightshift-local/datasets/demo/',
      settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
      settingsHash: 'h',
      createdAt: '2026-11-23T01:00:00.000Z',
      updatedAt: '2026-11-23T01:00:00.000Z',
    });
  } finally {
    dynamo.destroy();
    await dynamoServer.stop();
  }
}

/** The real emulators, remembering what they started. */
function recordingLauncher(started: StartedServer[]): LocalServerLauncher {
  const record = async (server: Promise<StartedServer>) => {
    started.push(await server);
    return started.at(-1) as StartedServer;
  };
  return {
    s3: (directory) => record(startS3Server({ directory })),
    dynamodb: (directory) => record(startDynamoServer({ directory })),
  };
}

describe('the local backend: how --local finds the local servers', () => {
  let aws: LocalAws;
  const dirs: string[] = [];
  const stateDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nightshift-state-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    aws = await startLocalAws();
  });
  afterAll(async () => {
    await aws?.stop();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("uses the runtime's servers from local-endpoints.json when they answer, and leaves them running", async () => {
    const dir = await stateDir();
    await writeFile(
      join(dir, LOCAL_ENDPOINTS_FILE),
      JSON.stringify({ s3: aws.s3Endpoint, dynamodb: aws.dynamoEndpoint, ...NAMES }),
    );

    const backend = await resolveLocalServers({ stateDir: dir });
    await backend.close();

    expect(backend).toMatchObject({
      origin: 'runtime',
      endpoints: { s3: aws.s3Endpoint, dynamodb: aws.dynamoEndpoint },
      names: NAMES,
    });
    expect(await answers(aws.dynamoEndpoint)).toBe(true);
  });

  it('starts its own servers on the persisted state when the runtime has stopped, and stops them afterwards', async () => {
    const dir = await stateDir();
    await persistRun(dir, 'persisted-1');
    await writeFile(join(dir, LOCAL_NAMES_FILE), JSON.stringify(NAMES));
    await writeFile(join(dir, LOCAL_ENDPOINTS_FILE), JSON.stringify({ s3: DEAD, dynamodb: DEAD, ...NAMES }));
    const started: StartedServer[] = [];

    const result = await runCli(['runs', '--local', '--state-dir', dir, '--json'], {
      io: captureIo(),
      deps: {
        loadLocalBackend: async () => ({
          createLocalRunBackend: (options) =>
            createLocalRunBackend({ ...options, launcher: recordingLauncher(started) }),
        }),
      },
    });

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { runId: string }[]).map((run) => run.runId)).toEqual(['persisted-1']);
    expect(started).toHaveLength(2);
    for (const server of started) expect(await answers(server.endpoint)).toBe(false);
  });

  it('refuses to redrive a run that did not fail, from its record, before the runtime starts (exit 2)', async () => {
    const dir = await stateDir();
    await persistRun(dir, 'succeeded-1');
    await writeFile(join(dir, LOCAL_NAMES_FILE), JSON.stringify(NAMES));
    const started: StartedServer[] = [];

    const result = await runCli(['redrive', 'succeeded-1', '--local', '--state-dir', dir], {
      io: captureIo({ env: { NO_COLOR: '1' } }),
      deps: {
        loadLocalBackend: async () => ({
          createLocalRunBackend: (options) =>
            createLocalRunBackend({ ...options, launcher: recordingLauncher(started) }),
        }),
      },
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: run succeeded-1 is SUCCEEDED; only FAILED runs can be redriven: start a new run instead\n',
    );
    // Only the read side's S3 and DynamoDB servers ran (to read the record), and they are stopped again.
    expect(started).toHaveLength(2);
    for (const server of started) expect(await answers(server.endpoint)).toBe(false);
  });

  it("prints one run's stage log lines from logs/stages.jsonl, skipping other runs and cut-off lines", async () => {
    const dir = await stateDir();
    await persistRun(dir, 'logged-1');
    await writeFile(join(dir, LOCAL_NAMES_FILE), JSON.stringify(NAMES));
    await mkdir(join(dir, 'logs'));
    const line = (runId: string, message: string) =>
      JSON.stringify({
        level: 'INFO',
        message,
        timestamp: '2026-11-23T01:00:01.000Z',
        service: 'nightshift',
        stage: 'plan',
        runId,
      });
    await writeFile(
      join(dir, 'logs', 'stages.jsonl'),
      `${line('logged-1', 'planned')}\n${line('other', 'elsewhere')}\n{"runId":"logged-1","mess\n`,
    );

    const result = await runCli(['logs', 'logged-1', '--local', '--state-dir', dir], {
      io: captureIo({ env: { NO_COLOR: '1' } }),
    });

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('2026-11-23T01:00:01.000Z  INFO   plan        planned\n');
  });

  it('says to run the demo first when there is no local state at all', async () => {
    const dir = await stateDir();

    const result = await runCli(['status', 'demo', '--local'], { io: captureIo({ env: { NIGHTSHIFT_HOME: dir } }) });

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: no local runs yet in ${dir}: run \`npm run demo\` first\n`);
  });

  it('names the file and the field when local-endpoints.json is malformed', async () => {
    const dir = await stateDir();
    await writeFile(join(dir, LOCAL_ENDPOINTS_FILE), JSON.stringify({ s3: 'not a url', ...NAMES }));

    await expect(resolveLocalServers({ stateDir: dir })).rejects.toThrow(
      new RegExp(`${LOCAL_ENDPOINTS_FILE} is invalid: s3: .*; dynamodb: .*delete it and run \`npm run demo\` again`),
    );
  });

  it('finds the state directory from --state-dir, then NIGHTSHIFT_HOME, then the project', () => {
    expect(resolveStateDir('st', { NIGHTSHIFT_HOME: '/home/ns' }, '/work', '/repo')).toBe('/work/st');
    expect(resolveStateDir(undefined, { NIGHTSHIFT_HOME: 'ns' }, '/work', '/repo')).toBe('/work/ns');
    expect(resolveStateDir(undefined, {}, '/work', '/repo')).toBe('/repo/.nightshift');
  });
});
