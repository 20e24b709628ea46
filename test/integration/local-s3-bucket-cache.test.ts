import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketCorsCommand,
  HeadBucketCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startS3Server } from '../../pipeline/local/emulators.ts';
import { createLocalClients, type LocalClients } from '../../pipeline/local/local-servers.ts';

const BUCKET = 'cached';
const ORIGIN = 'http://report.example';

/** A CORS preflight for a GET of `key` from {@link ORIGIN}: its status and the origin it allows, if any. */
function preflight(endpoint: string, key: string): Promise<{ status: number; allowed: string | undefined }> {
  const { hostname, port } = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: hostname,
        port,
        path: `/${BUCKET}/${key}`,
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'GET' },
      },
      (response) => {
        response.resume();
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            allowed: response.headers['access-control-allow-origin'] as string | undefined,
          }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('the local S3 server keeps bucket reads in memory and answers bucket changes at once', () => {
  let parent: string;
  let server: RunningEmulator;
  let clients: LocalClients;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'nightshift-s3-cache-'));
    await mkdir(join(parent, 's3'));
    server = await startS3Server({ directory: join(parent, 's3') });
    clients = createLocalClients({ s3: server.endpoint, dynamodb: 'http://127.0.0.1:9' });
    await clients.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });
  afterAll(async () => {
    clients?.destroy();
    await server?.stop();
    await rm(parent, { recursive: true, force: true });
  });

  it('applies a CORS configuration put, and its removal, to the very next request', async () => {
    const before = await preflight(server.endpoint, 'a.png');
    await clients.s3.send(
      new PutBucketCorsCommand({
        Bucket: BUCKET,
        CORSConfiguration: { CORSRules: [{ AllowedOrigins: [ORIGIN], AllowedMethods: ['GET'] }] },
      }),
    );
    const configured = await preflight(server.endpoint, 'a.png');
    await clients.s3.send(new DeleteBucketCorsCommand({ Bucket: BUCKET }));
    const removed = await preflight(server.endpoint, 'a.png');

    expect(before.status).toBe(403);
    expect(configured.status).toBe(200);
    expect(configured.allowed).toBeDefined(); // s3rver 3.7.1 answers `*` for a listed origin
    expect(removed.status).toBe(403);
  });

  it('refuses requests to a bucket as soon as it is deleted, and serves it again once re-created', async () => {
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'short-lived' }));
    await clients.s3.send(new HeadBucketCommand({ Bucket: 'short-lived' }));
    await clients.s3.send(new DeleteBucketCommand({ Bucket: 'short-lived' }));

    await expect(
      clients.s3.send(new PutObjectCommand({ Bucket: 'short-lived', Key: 'x.txt', Body: 'x' })),
    ).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'short-lived' }));
    await expect(
      clients.s3.send(new PutObjectCommand({ Bucket: 'short-lived', Key: 'x.txt', Body: 'x' })),
    ).resolves.toMatchObject({ ETag: expect.any(String) });
  });
});
