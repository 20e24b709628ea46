/**
 * Puts a local run's dataset into the local S3 server by writing its store, when the run owns that server.
 *
 * Copying a folder into s3rver over HTTP cost a PutObject per file: at 800 images of ~4 KB, 5.9 s of the run's
 * wall time on the quiet 2-core machine (about 3 ms of CPU in the CLI for the SDK and 3 ms in s3rver per request),
 * for files the runtime could write itself. s3rver keeps no index in memory: each request reads the object's files,
 * so an object written here is, for every later request, an object PUT there. What is written is what s3rver
 * 3.7.1's PutObject stores (its `FilesystemStore.putObject` and `putMetadata`) for the SDK request the runtime
 * would send (PutObject with a body and nothing else): the bytes as `<key>._S3rver_object`, their MD5 in hex as
 * `<key>._S3rver_object.md5` (the ETag), and the request's stored headers, `content-type` alone, as
 * `<key>._S3rver_metadata.json`; Last-Modified is the object file's mtime in both. test/integration/local-s3-import
 * checks this file for file against a PUT and reads the objects back through the S3 API.
 *
 * Files are written, never linked: s3rver overwrites an object in place (a later PUT to the key would write through
 * a hard link into the user's own file) and Last-Modified would be the user's file's. Another s3rver version may
 * store objects another way, so the import is used with the version it was written for and the runtime PUTs
 * otherwise (docs/decisions.md, "The dataset copy into the local S3 server").
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { storeResourcePath } from './s3-store-paths.ts';

/** The s3rver release whose store layout {@link importObject} writes. */
export const STORE_LAYOUT_VERSION = '3.7.1';

/**
 * The Content-Type the SDK sends for a PutObject without one, which s3rver stores (the SDK's serializer default
 * for a blob payload); a request without any would store `binary/octet-stream`.
 */
const PUT_CONTENT_TYPE = 'application/octet-stream';

/** Whether the installed s3rver stores objects the way {@link importObject} writes them. */
export function storeImportSupported(): boolean {
  try {
    const { version } = createRequire(import.meta.url)('s3rver/package.json') as { version?: unknown };
    return version === STORE_LAYOUT_VERSION;
  } catch {
    return false;
  }
}

/**
 * Writes one object into the store under `root` (the directory the s3rver process serves) as its PutObject would.
 * The bucket must exist. The MD5 and metadata go first and the object file last: s3rver lists and finds an object by
 * its object file, so a reader never sees one without its ETag and Content-Type.
 */
export async function importObject(
  root: string,
  bucket: string,
  key: string,
  body: Uint8Array | string,
): Promise<void> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const objectPath = storeResourcePath(root, bucket, key, 'object');
  await mkdir(dirname(objectPath), { recursive: true });
  await Promise.all([
    writeFile(storeResourcePath(root, bucket, key, 'object.md5'), createHash('md5').update(bytes).digest('hex')),
    writeFile(
      storeResourcePath(root, bucket, key, 'metadata.json'),
      JSON.stringify({ 'content-type': PUT_CONTENT_TYPE }, null, 2),
    ),
  ]);
  await writeFile(objectPath, bytes);
}
