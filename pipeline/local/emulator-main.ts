/**
 * Child-process entry that runs one local AWS protocol server: `s3` (s3rver) or `dynamodb` (dynalite).
 * Prints one JSON line `{"port": N}` once it listens on loopback, and exits on SIGTERM/SIGINT or when stdin closes.
 *
 * s3rver runs in its own process because it needs `--openssl-legacy-provider` (its truncated ListObjectsV2
 * answers 500 without it), a flag that cannot be turned on inside an already running Node process. Its filesystem
 * store is adapted here to keys of up to S3's 1,024 bytes and to refuse `..` segments (see s3-store-paths.ts).
 */
import { readdir, rm, rmdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { dotDotSegment, keyToStorePath, storePathToKey } from './s3-store-paths.ts';

const require = createRequire(import.meta.url);

interface Closable {
  close(): Promise<void> | void;
}

interface ListOptions {
  readonly delimiter?: string;
  readonly prefix?: string;
  readonly maxKeys?: number;
}
interface ListResult {
  readonly objects: Array<{ readonly key: string }>;
  readonly commonPrefixes: string[];
  readonly isTruncated: boolean;
}

interface KoaContext {
  readonly path: string;
  get(header: string): string;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

async function startS3(directory: string, port: number): Promise<{ port: number; server: Closable }> {
  const S3rver = require('s3rver');
  const FilesystemStore = require('s3rver/lib/stores/filesystem');
  const S3Error = require('s3rver/lib/models/error');
  // s3rver's store maps keys to paths through these two statics only (it ignores their win32 escaping on Linux).
  FilesystemStore.encodeKeyPath = keyToStorePath;
  FilesystemStore.decodeKeyPath = storePathToKey;
  // Its deleteObject walks the raw key's folders to prune empty ones; pruning stored (chunked) folders instead.
  FilesystemStore.prototype.deleteObject = async function deleteObject(bucket: string, key: string) {
    const resources = ['object', 'object.md5', 'metadata.json'];
    await Promise.all(resources.map((resource) => rm(this.getResourcePath(bucket, key, resource), { force: true })));
    const folders = keyToStorePath(key).split('/').slice(0, -1);
    for (; folders.length > 0; folders.pop()) {
      const folder = join(this.getBucketPath(bucket), ...folders);
      const left = await readdir(folder).catch(() => undefined);
      if (left === undefined || left.length > 0) break; // gone already, or still holding other keys
      await rmdir(folder);
    }
  };
  // Its listing prunes folders below a delimiter by their stored paths, and chunk folders add separators a key does
  // not have; with a delimiter, list without one and group the keys here instead.
  const listObjects = FilesystemStore.prototype.listObjects;
  FilesystemStore.prototype.listObjects = async function groupedListObjects(bucket: string, options: ListOptions) {
    const { delimiter = '', prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    if (delimiter === '') return listObjects.call(this, bucket, options);
    const all: ListResult = await listObjects.call(this, bucket, { ...options, delimiter: '', maxKeys: undefined });
    const commonPrefixes = new Set<string>();
    const objects: ListResult['objects'] = [];
    let isTruncated = false;
    for (const object of all.objects) {
      const at = object.key.indexOf(delimiter, prefix.length);
      if (at !== -1) commonPrefixes.add(object.key.slice(0, at + delimiter.length));
      else if (objects.length < maxKeys) objects.push(object);
      else {
        isTruncated = true;
        break;
      }
    }
    return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
  };
  cacheBucketReads(FilesystemStore.prototype);
  const server = new S3rver({ address: '127.0.0.1', port, directory, silent: true, allowMismatchedSignatures: true });
  // Silent, its request logger (koa-logger, the first middleware) still formats two colored lines per request for
  // a transport that drops them: about a tenth of its CPU per request (issue 14). Its error logger stays.
  const middleware = server.middleware as Middleware[];
  if (middleware[0]?.name === 'logger') middleware.shift();
  const refuseDotDot: Middleware = async (ctx, next) => {
    const copySource = ctx.get('x-amz-copy-source');
    for (const raw of [ctx.path, copySource]) {
      let path: string;
      try {
        path = decodeURIComponent(raw);
      } catch {
        throw new S3Error('InvalidURI', `Couldn't parse the specified URI: ${raw}`);
      }
      if (dotDotSegment(path) !== undefined) {
        throw new S3Error(
          'InvalidArgument',
          `the local S3 server refuses keys with ".." segments (${path}): they would resolve outside its folder`,
          { ArgumentName: 'key', ArgumentValue: path },
        );
      }
    }
    await next();
  };
  // First in the chain, before s3rver's router decodes the path; Koa composes the chain when it starts listening.
  (server.middleware as Middleware[]).unshift(refuseDotDot);
  const address = (await server.run()) as { port: number };
  return { port: address.port, server };
}

interface BucketStore {
  getBucket(bucket: string): Promise<unknown>;
  putBucket(bucket: string): Promise<unknown>;
  deleteBucket(bucket: string): Promise<unknown>;
  getSubresource(bucket: string, key: string | undefined, type: string): Promise<unknown>;
  putSubresource(bucket: string, key: string | undefined, resource: { type: string }): Promise<unknown>;
  deleteSubresource(bucket: string, key: string | undefined, type: string): Promise<unknown>;
  reset(): void;
}

/**
 * Keeps what s3rver's filesystem store reads on every request about a bucket in memory: that it exists (a stat) and
 * its CORS and website configurations (a file read each, missing for the pipeline's buckets), about a tenth of its
 * CPU per request (issue 14). Every write of either goes through the store's own methods in this process, which
 * drop what they change; objects are not cached (a local run writes its dataset into the store directly).
 */
function cacheBucketReads(store: BucketStore): void {
  const buckets = new Map<string, Promise<unknown>>();
  const subresources = new Map<string, Promise<unknown>>();
  const subresourceKey = (bucket: string, key: string | undefined, type: string) => `${bucket}\0${key ?? ''}\0${type}`;
  const forgetBucket = (bucket: string) => {
    buckets.delete(bucket);
    for (const cached of subresources.keys()) if (cached.startsWith(`${bucket}\0`)) subresources.delete(cached);
  };
  const { getBucket, putBucket, deleteBucket, getSubresource, putSubresource, deleteSubresource, reset } = store;
  store.getBucket = function cachedGetBucket(bucket) {
    const cached = buckets.get(bucket);
    if (cached) return cached;
    const read = getBucket.call(this, bucket);
    // Only a bucket that exists is kept: a missing one may be created by a request still on its way.
    buckets.set(bucket, read);
    read.then(
      (found) => (found ? undefined : buckets.delete(bucket)),
      () => buckets.delete(bucket),
    );
    return read;
  };
  store.putBucket = async function uncachedPutBucket(bucket) {
    forgetBucket(bucket);
    return putBucket.call(this, bucket).finally(() => forgetBucket(bucket));
  };
  store.deleteBucket = async function uncachedDeleteBucket(bucket) {
    forgetBucket(bucket);
    return deleteBucket.call(this, bucket).finally(() => forgetBucket(bucket));
  };
  store.getSubresource = function cachedGetSubresource(bucket, key, type) {
    const id = subresourceKey(bucket, key, type);
    const cached = subresources.get(id);
    if (cached) return cached;
    const read = getSubresource.call(this, bucket, key, type);
    subresources.set(id, read);
    read.catch(() => subresources.delete(id));
    return read;
  };
  store.putSubresource = async function uncachedPutSubresource(bucket, key, resource) {
    const id = subresourceKey(bucket, key, resource.type);
    subresources.delete(id);
    return putSubresource.call(this, bucket, key, resource).finally(() => subresources.delete(id));
  };
  store.deleteSubresource = async function uncachedDeleteSubresource(bucket, key, type) {
    const id = subresourceKey(bucket, key, type);
    subresources.delete(id);
    return deleteSubresource.call(this, bucket, key, type).finally(() => subresources.delete(id));
  };
  store.reset = function uncachedReset() {
    buckets.clear();
    subresources.clear();
    reset.call(this);
  };
}

async function startDynamo(directory: string | undefined, port: number): Promise<{ port: number; server: Closable }> {
  const dynalite = require('dynalite');
  const server = dynalite({ path: directory, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: server.address().port,
    server: { close: () => new Promise<void>((resolve) => server.close(() => resolve())) },
  };
}

async function main(): Promise<void> {
  const [kind, directory, portArg] = process.argv.slice(2);
  const port = Number(portArg ?? '0');
  if ((kind !== 's3' && kind !== 'dynamodb') || !Number.isInteger(port)) {
    process.stderr.write('usage: emulator-main.ts s3|dynamodb <directory|-> [port]\n');
    process.exit(2);
  }
  const dir = directory && directory !== '-' ? directory : undefined;
  if (kind === 's3' && !dir) {
    process.stderr.write('the S3 server needs a directory to keep objects in\n');
    process.exit(2);
  }
  const started = kind === 's3' ? await startS3(dir as string, port) : await startDynamo(dir, port);
  const stop = async () => {
    await started.server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent holds our stdin open; when it dies without signalling, we go too (no orphaned servers).
  // `nightshift local up` starts us detached with no stdin (NIGHTSHIFT_DETACHED): we run until stopped.
  if (process.env.NIGHTSHIFT_DETACHED !== '1') {
    process.stdin.on('end', stop);
    process.stdin.resume();
  }
  process.stdout.write(`${JSON.stringify({ port: started.port })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
