import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startS3Server } from '../../pipeline/local/emulators.ts';

const BUCKET = 'keys';

/** A key of exactly `bytes` UTF-8 bytes whose file name segment alone is far over a file system's 255 bytes. */
function keyOf(bytes: number, folder = 'long/'): string {
  const room = bytes - folder.length - '.png'.length;
  return `${folder}${'ж'.repeat(Math.floor(room / 2))}${'n'.repeat(room % 2)}.png`;
}

function rawPut(endpoint: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path, method: 'PUT' }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end('x');
  });
}

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('the local S3 server with long and hostile keys', () => {
  let parent: string;
  let store: string;
  let server: RunningEmulator;
  let s3: S3Client;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'nightshift-s3-keys-'));
    store = join(parent, 's3');
    await mkdir(store);
    server = await startS3Server({ directory: store });
    s3 = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.stop();
    await rm(parent, { recursive: true, force: true });
  });

  it("stores, reads, lists and deletes keys up to S3's 1,024 bytes, with segments longer than a file name may be", async () => {
    const longest = keyOf(1024);
    const deep = `${'d'.repeat(300)}/${'e'.repeat(300)}/${'f'.repeat(300)}.png`;
    const short = 'long/short.png';

    for (const key of [longest, deep, short]) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `body of ${key.length}` }));
    }
    const read = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: longest }));
    const all = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const cut = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: longest.slice(0, 400) }));
    const folders = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'd', Delimiter: '/' }));
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: longest }));
    const after = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'long/' }));

    expect(Buffer.byteLength(longest)).toBe(1024);
    expect(await read.Body?.transformToString()).toBe(`body of ${longest.length}`);
    expect(all.Contents?.map((object) => object.Key).sort()).toEqual([deep, longest, short].sort());
    expect(cut.Contents?.map((object) => object.Key)).toEqual([longest]);
    expect(folders.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual([`${'d'.repeat(300)}/`]);
    expect(after.Contents?.map((object) => object.Key)).toEqual([short]);
  });

  it('refuses keys with ".." segments, so no key writes outside the server\'s folder', async () => {
    const keys = ['../../escaped.txt', 'a/../../escaped.txt', 'a/b/..', '..'];

    const results = await Promise.allSettled(
      keys.map((key) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }))),
    );
    // Sent as written: fetch() would resolve the dot segments itself, as the URL standard says.
    const encoded = await rawPut(server.endpoint, `/${BUCKET}/a/%2E%2E/%2E%2E/%2e%2e/escaped.txt`);

    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(results.map((result) => result.status === 'rejected' && (result.reason as Error).name)).toEqual(
      keys.map(() => 'InvalidArgument'),
    );
    expect(encoded.status).toBe(400);
    expect(encoded.body).toContain('<Code>InvalidArgument</Code>');
    expect((await filesUnder(parent)).filter((file) => file.includes('escaped'))).toEqual([]);
  });

  it('keeps ordinary keys with dots that are not ".." segments', async () => {
    const keys = ['dots/..hidden.png', 'dots/a..b.png', 'dots/.x.png'];

    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'dots/' }));

    expect(listed.Contents?.map((object) => object.Key).sort()).toEqual([...keys].sort());
  });
});
