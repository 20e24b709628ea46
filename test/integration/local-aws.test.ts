import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

describe('local AWS servers', () => {
  let aws: LocalAws;
  beforeAll(async () => {
    aws = await startLocalAws();
  });
  afterAll(async () => {
    await aws?.stop();
  });

  it('serves S3 over HTTP on loopback through AWS_ENDPOINT_URL_S3, with truncated listings', async () => {
    await aws.createBucket('smoke');
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        aws.s3.send(new PutObjectCommand({ Bucket: 'smoke', Key: `k/${i}.txt`, Body: `body ${i}` })),
      ),
    );
    const page = await aws.s3.send(new ListObjectsV2Command({ Bucket: 'smoke', Prefix: 'k/', MaxKeys: 2 }));
    expect(aws.s3Endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(page.IsTruncated).toBe(true);
    expect(page.Contents?.map((c) => c.Key)).toEqual(['k/0.txt', 'k/1.txt']);
  });

  it('serves DynamoDB with the shared key schemas', async () => {
    const { runsTable, predictionsTable } = await aws.createTables();
    const tables = await aws.dynamo.send(new ListTablesCommand({}));
    expect(tables.TableNames).toEqual(expect.arrayContaining([runsTable, predictionsTable]));
  });
});
