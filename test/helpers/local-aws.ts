import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type RunningEmulator, startDynamoServer, startS3Server } from '../../pipeline/local/emulators.ts';
import { resolveStateDir } from '../../pipeline/local/local-servers.ts';
import { runningService } from '../../pipeline/local/local-service.ts';
import { documentClient, s3ClientConfig } from '../../shared/aws/client-config.ts';
import { PREDICTIONS_TABLE, RUNS_TABLE } from '../../shared/tables.ts';

/** The local S3 and DynamoDB servers of one test file, and SDK clients pointed at them the standard way. */
export interface LocalAws {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
  /**
   * Whether these are the servers of `nightshift local up` (shared with other test files and left running) rather
   * than this file's own.
   */
  readonly shared: boolean;
  /** Creates a bucket; on shared servers, one an earlier run left behind is emptied first. */
  createBucket(name: string): Promise<void>;
  /** Creates the run and prediction tables with the shared key schemas under fresh names. */
  createTables(): Promise<{ runsTable: string; predictionsTable: string }>;
  /** Stops this file's own servers; on shared servers, deletes the buckets and tables it created instead. */
  stop(): Promise<void>;
}

let tableCounter = 0;
/** Unique per process start: table names stay fresh on shared servers that outlive earlier test runs. */
const RUN_TAG = randomBytes(3).toString('hex');
/** Set to any value to start a file's own servers even when `nightshift local up` runs. */
export const OWN_SERVERS_ENV = 'NIGHTSHIFT_TEST_OWN_SERVERS';
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The runs table with the shared key schema and its byStatus index. */
export function runsTableDefinition(TableName: string): CreateTableCommandInput {
  return {
    TableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: RUNS_TABLE.partitionKey, KeyType: 'HASH' }],
    AttributeDefinitions: [
      { AttributeName: RUNS_TABLE.partitionKey, AttributeType: 'S' },
      { AttributeName: RUNS_TABLE.statusIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: RUNS_TABLE.statusIndex.sortKey, AttributeType: 'S' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: RUNS_TABLE.statusIndex.name,
        KeySchema: [
          { AttributeName: RUNS_TABLE.statusIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: RUNS_TABLE.statusIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

/** The predictions table with the shared key schema. */
export function predictionsTableDefinition(TableName: string): CreateTableCommandInput {
  return {
    TableName,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [
      { AttributeName: PREDICTIONS_TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: PREDICTIONS_TABLE.sortKey, KeyType: 'RANGE' },
    ],
    AttributeDefinitions: [
      { AttributeName: PREDICTIONS_TABLE.partitionKey, AttributeType: 'S' },
      { AttributeName: PREDICTIONS_TABLE.sortKey, AttributeType: 'S' },
    ],
  };
}

/**
 * The local S3 and DynamoDB servers for one test file, with the SDK pointed at them through `AWS_ENDPOINT_URL_S3` /
 * `AWS_ENDPOINT_URL_DYNAMODB`, the configuration path a user would use.
 *
 * When `nightshift local up` runs for the project's state folder (`NIGHTSHIFT_HOME` or `.nightshift/`), its servers
 * are used instead of starting two per file (seconds each). The rule that keeps test files apart on them: every
 * file names its own buckets (prefixed by its subject, e.g. `plan-data`), tables get fresh names per call
 * ({@link LocalAws.createTables}), and a file deletes what it created when it stops. Otherwise s3rver and dynalite
 * start on free loopback ports for this file alone, and `NIGHTSHIFT_TEST_OWN_SERVERS=1` forces that.
 */
export async function startLocalAws(): Promise<LocalAws> {
  const service = process.env[OWN_SERVERS_ENV]
    ? undefined
    : await runningService(resolveStateDir(undefined, process.env, process.cwd(), PROJECT_ROOT));
  const directory = service ? undefined : await mkdtemp(join(tmpdir(), 'nightshift-s3-'));
  const servers: RunningEmulator[] = directory
    ? await Promise.all([startS3Server({ directory }), startDynamoServer()])
    : [];
  const endpoints = service
    ? { s3: service.servers.s3.endpoint, dynamodb: service.servers.dynamodb.endpoint }
    : { s3: (servers[0] as RunningEmulator).endpoint, dynamodb: (servers[1] as RunningEmulator).endpoint };
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
  });
  delete process.env.AWS_PROFILE;
  const s3 = new S3Client(s3ClientConfig(process.env));
  const dynamo = new DynamoDBClient({});
  const doc = documentClient(dynamo);
  const buckets = new Set<string>();
  const tables: string[] = [];
  const emptyBucket = async (bucket: string) => {
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
      const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
      if (keys.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    }
  };
  return {
    s3,
    dynamo,
    doc,
    s3Endpoint: endpoints.s3,
    dynamoEndpoint: endpoints.dynamodb,
    shared: service !== undefined,
    async createBucket(name) {
      try {
        await s3.send(new CreateBucketCommand({ Bucket: name }));
      } catch (error) {
        if (!service || (error as Error).name !== 'BucketAlreadyOwnedByYou') throw error;
        await emptyBucket(name);
      }
      buckets.add(name);
    },
    async createTables() {
      tableCounter += 1;
      const runsTable = `runs-${RUN_TAG}-${process.pid}-${tableCounter}`;
      const predictionsTable = `predictions-${RUN_TAG}-${process.pid}-${tableCounter}`;
      await dynamo.send(new CreateTableCommand(runsTableDefinition(runsTable)));
      await dynamo.send(new CreateTableCommand(predictionsTableDefinition(predictionsTable)));
      tables.push(runsTable, predictionsTable);
      return { runsTable, predictionsTable };
    },
    async stop() {
      if (service) {
        await Promise.all([
          ...[...buckets].map(async (bucket) => {
            await emptyBucket(bucket);
            await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
          }),
          ...tables.map((table) => dynamo.send(new DeleteTableCommand({ TableName: table }))),
        ]);
      }
      s3.destroy();
      dynamo.destroy();
      await Promise.all(servers.map((server) => server.stop()));
      if (directory) await rm(directory, { recursive: true, force: true });
    },
  };
}
