import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, type CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type RunningEmulator, startDynamoServer, startS3Server } from '../../pipeline/local/emulators.ts';
import { s3ClientConfig } from '../../shared/aws/client-config.ts';
import { PREDICTIONS_TABLE, RUNS_TABLE } from '../../shared/tables.ts';

/** The local S3 and DynamoDB servers of one test file, and SDK clients pointed at them the standard way. */
export interface LocalAws {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
  createBucket(name: string): Promise<void>;
  /** Creates the run and prediction tables with the shared key schemas under fresh names. */
  createTables(): Promise<{ runsTable: string; predictionsTable: string }>;
  stop(): Promise<void>;
}

let tableCounter = 0;

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
 * Starts s3rver and dynalite on free loopback ports and points the SDK at them through
 * `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_DYNAMODB`, the configuration path a user would use.
 */
export async function startLocalAws(): Promise<LocalAws> {
  const directory = await mkdtemp(join(tmpdir(), 'nightshift-s3-'));
  const servers: RunningEmulator[] = await Promise.all([startS3Server({ directory }), startDynamoServer()]);
  const [s3Server, dynamoServer] = servers as [RunningEmulator, RunningEmulator];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: s3Server.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoServer.endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
  });
  delete process.env.AWS_PROFILE;
  const s3 = new S3Client(s3ClientConfig(process.env));
  const dynamo = new DynamoDBClient({});
  const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  return {
    s3,
    dynamo,
    doc,
    s3Endpoint: s3Server.endpoint,
    dynamoEndpoint: dynamoServer.endpoint,
    async createBucket(name) {
      await s3.send(new CreateBucketCommand({ Bucket: name }));
    },
    async createTables() {
      tableCounter += 1;
      const runsTable = `runs-${process.pid}-${tableCounter}`;
      const predictionsTable = `predictions-${process.pid}-${tableCounter}`;
      await dynamo.send(new CreateTableCommand(runsTableDefinition(runsTable)));
      await dynamo.send(new CreateTableCommand(predictionsTableDefinition(predictionsTable)));
      return { runsTable, predictionsTable };
    },
    async stop() {
      s3.destroy();
      dynamo.destroy();
      await Promise.all(servers.map((server) => server.stop()));
      await rm(directory, { recursive: true, force: true });
    },
  };
}
