/**
 * How the local S3 server (s3rver 3.7.1's filesystem store) lays object keys out as file paths, and which keys it
 * refuses.
 *
 * s3rver stores key `a/b/name` as the file `a/b/name._S3rver_object` (plus `.md5` and `._S3rver_metadata.json`
 * beside it), so one key segment over ~233 bytes exceeds a file name's 255 bytes and the request fails or the
 * server crashes, while S3 allows keys of up to 1,024 bytes of UTF-8
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html). A long segment is therefore split into
 * chunks of at most {@link SEGMENT_CHUNK_BYTES} bytes, each but the last stored as a folder whose name ends in
 * {@link CHUNK_MARK}. The mapping is stateless and keeps each chunk a prefix-ordered piece of the key, so s3rver's
 * prefix and delimiter listing still walks the right folders.
 *
 * s3rver also joins keys onto its folder with `path.join`, which resolves `..`: a key with a `..` segment could
 * write outside the state folder. Such keys are refused (S3 itself accepts them; the local server does not).
 */

import { join } from 'node:path';

/** Bytes of one stored path segment; 255 minus s3rver's longest suffix (22) leaves room to spare. */
export const SEGMENT_CHUNK_BYTES = 200;

/**
 * Ends every folder that holds the next chunk of a split segment. U+FFFF is a Unicode noncharacter that XML 1.0
 * cannot carry, so S3 listings (XML) cannot return it in a key and no real key collides with the mark.
 */
export const CHUNK_MARK = '\uFFFF';

/** The first `..` segment of a key (after percent-decoding), or undefined when it has none. */
export function dotDotSegment(key: string): string | undefined {
  return key.split('/').find((segment) => segment === '..');
}

/** The store path (relative, `/`-separated) for a key: long segments split into chunk folders. */
export function keyToStorePath(key: string): string {
  if (dotDotSegment(key) !== undefined) {
    throw new Error(`the local S3 server refuses key "${key}": a ".." segment would leave its folder`);
  }
  return key.split('/').map(chunkSegment).join('/');
}

/** The key a store path holds: the inverse of {@link keyToStorePath}. */
export function storePathToKey(path: string): string {
  return path.split(`${CHUNK_MARK}/`).join('');
}

function chunkSegment(segment: string): string {
  if (Buffer.byteLength(segment, 'utf8') <= SEGMENT_CHUNK_BYTES) return segment;
  const chunks: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const character of segment) {
    const size = Buffer.byteLength(character, 'utf8');
    if (bytes + size > SEGMENT_CHUNK_BYTES) {
      chunks.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += character;
    bytes += size;
  }
  chunks.push(chunk);
  return chunks.join(`${CHUNK_MARK}/`);
}

/**
 * Where s3rver 3.7.1's filesystem store keeps one file of an object: `resource` is `object`, `object.md5` or
 * `metadata.json`. The same join as its `FilesystemStore.getResourcePath` with {@link keyToStorePath} as its key
 * encoding (emulator-main.ts installs it), `path.join`'s normalisation included, so a key lands where a PUT puts it.
 */
export function storeResourcePath(root: string, bucket: string, key: string, resource: string): string {
  const parts = keyToStorePath(key).split('/');
  const last = parts.pop() ?? '';
  return join(root, bucket, ...parts, `${last}._S3rver_${resource}`);
}
