import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startS3Server } from '../../pipeline/local/emulators.ts';
import { createLocalClients, type LocalClients } from '../../pipeline/local/local-servers.ts';
import { importObject, storeImportSupported } from '../../pipeline/local/s3-store-import.ts';
import { storeResourcePath } from '../../pipeline/local/s3-store-paths.ts';
import { sceneImage } from '../helpers/images.ts';

const BUCKET = 'imported';

/** The keys a local run's dataset can have: nested, long segments, spaces and URL-special characters, Unicode. */
const KEYS = [
  'photo.png',
  'seed-1/nested/deeper/receipt.jpeg',
  `long/${'ж'.repeat(150)}.png`,
  'odd names/a+b %20 & c=d?.png',
  'ünïcödé/标志.png',
  'manifest.jsonl',
];

describe('writing a local run dataset into its own S3 server store', () => {
  let parent: string;
  let store: string;
  let server: RunningEmulator;
  let clients: LocalClients;
  let bodies: Map<string, Uint8Array | string>;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'nightshift-s3-import-'));
    store = join(parent, 's3');
    await mkdir(store);
    server = await startS3Server({ directory: store });
    // The runtime's own client settings: what it would PUT with is what the import must match.
    clients = createLocalClients({ s3: server.endpoint, dynamodb: 'http://127.0.0.1:9' });
    await clients.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const png = await sceneImage(64, 48, 'png');
    const jpeg = await sceneImage(640, 480, 'jpeg');
    bodies = new Map<string, Uint8Array | string>([
      [KEYS[0] as string, png],
      [KEYS[1] as string, jpeg],
      [KEYS[2] as string, png],
      [KEYS[3] as string, new Uint8Array()],
      [KEYS[4] as string, jpeg],
      // The manifest the CLI writes is a string body.
      [KEYS[5] as string, `${JSON.stringify({ key: 'datasets/x/photo.png', expected: 'ЖУК' })}\n`],
    ]);
    for (const [key, body] of bodies) {
      await clients.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `put/${key}`, Body: body }));
      await importObject(store, BUCKET, `imported/${key}`, body);
    }
  });
  afterAll(async () => {
    clients?.destroy();
    await server?.stop();
    await rm(parent, { recursive: true, force: true });
  });

  it('is used with the s3rver release it writes the layout of', () => {
    expect(storeImportSupported()).toBe(true);
  });

  it('writes the same object, MD5 and metadata files as a PutObject of the same body', async () => {
    for (const key of KEYS) {
      for (const resource of ['object', 'object.md5', 'metadata.json']) {
        const put = await readFile(storeResourcePath(store, BUCKET, `put/${key}`, resource));
        const imported = await readFile(storeResourcePath(store, BUCKET, `imported/${key}`, resource));
        expect({ key, resource, imported: imported.toString('base64') }).toEqual({
          key,
          resource,
          imported: put.toString('base64'),
        });
      }
    }
  });

  it('reads back through the S3 API as the PUT object does: body, ETag, Content-Type, length', async () => {
    for (const [key, body] of bodies) {
      const expected = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
      const [put, imported] = await Promise.all(
        [`put/${key}`, `imported/${key}`].map(async (Key) => {
          const head = await clients.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key }));
          const got = await clients.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
          const bytes = Buffer.from(await (got.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
          return {
            etag: head.ETag,
            contentType: head.ContentType,
            length: head.ContentLength,
            metadata: head.Metadata,
            getEtag: got.ETag,
            bytes: bytes.toString('base64'),
          };
        }),
      );
      expect(imported).toEqual(put);
      expect(imported?.bytes).toBe(expected.toString('base64'));
    }
  });

  it('lists the imported keys with the sizes and ETags the PUT objects list with', async () => {
    const list = async (prefix: string) => {
      const listed = await clients.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
      return (listed.Contents ?? [])
        .map((object) => ({ key: object.Key?.slice(prefix.length), size: object.Size, etag: object.ETag }))
        .sort((a, b) => String(a.key).localeCompare(String(b.key)));
    };

    const imported = await list('imported/');

    expect(imported).toEqual(await list('put/'));
    expect(imported.map((object) => object.key).sort()).toEqual([...KEYS].sort());
  });

  it('refuses a key with a ".." segment, as the server does, before writing anything', async () => {
    await expect(importObject(store, BUCKET, 'imported/../../escape.png', 'x')).rejects.toThrow(/"\.\." segment/);
  });
});
