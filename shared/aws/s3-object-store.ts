import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  type ObjectIdentifier,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ObjectNotFoundError, ServiceError } from '../errors.ts';
import type { ObjectStore, ObjectSummary, OpenedObject } from '../ports.ts';
import { formatS3Uri, type S3Location } from '../s3-location.ts';
import { isNotFound, toNightshiftError } from './aws-errors.ts';

/** {@link ObjectStore} over the AWS SDK v3 S3 client. */
export class S3ObjectStore implements ObjectStore {
  constructor(private readonly client: S3Client) {}

  async *list(prefix: S3Location): AsyncIterable<ObjectSummary> {
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: prefix.bucket, Prefix: prefix.key });
    try {
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          yield { key: object.Key, size: object.Size ?? 0, ...(object.ETag ? { etag: object.ETag } : {}) };
        }
      }
    } catch (error) {
      if (isNotFound(error)) {
        throw new ObjectNotFoundError(`bucket "${prefix.bucket}" does not exist (listing ${formatS3Uri(prefix)})`, {
          cause: error,
        });
      }
      throw toNightshiftError(error, `listing ${formatS3Uri(prefix)}`, { accessDenied: 'caller' });
    }
  }

  /**
   * GetObject's response headers carry the object's size (`Content-Length`, "the length in bytes of the body in the
   * response": https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html,
   * https://docs.aws.amazon.com/AmazonS3/latest/API/RESTCommonResponseHeaders.html), and the SDK resolves `send`
   * with the body still unread as a Node stream, so one request serves both the size check and the download. A body
   * that is not read must be destroyed, or its socket stays taken from the pool (the SDK maintainers' guidance,
   * https://github.com/aws/aws-sdk-js-v3/issues/6691): destroying it closes the connection, which Node's agent then
   * drops from its pool instead of reusing it half-read.
   */
  async open(location: S3Location): Promise<OpenedObject | undefined> {
    const uri = formatS3Uri(location);
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toNightshiftError(error, `reading ${uri}`, { accessDenied: 'caller' });
    }
    const body = out.Body;
    const read = async (): Promise<Uint8Array> => {
      if (!body) return new Uint8Array();
      try {
        return await body.transformToByteArray();
      } catch (error) {
        throw toNightshiftError(error, `reading ${uri}`, { accessDenied: 'caller' });
      }
    };
    if (out.ContentLength === undefined) {
      // Without a length (not S3's way) the size is only known once the body is in.
      const bytes = await read();
      return { size: bytes.byteLength, read: async () => bytes, discard: () => {} };
    }
    return {
      size: out.ContentLength,
      read,
      discard: () => {
        if (body instanceof Readable && !body.readableEnded) body.destroy();
      },
    };
  }

  async get(location: S3Location): Promise<Uint8Array | undefined> {
    return (await this.open(location))?.read();
  }

  async *lines(location: S3Location): AsyncIterable<string> {
    let body: Readable;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
      body = out.Body instanceof Readable ? out.Body : Readable.from([]);
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(`${formatS3Uri(location)} does not exist`, { cause: error });
      throw toNightshiftError(error, `reading ${formatS3Uri(location)}`, { accessDenied: 'caller' });
    }
    const reader = createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY });
    try {
      for await (const line of reader) yield line;
    } finally {
      reader.close();
      body.destroy();
    }
  }

  async put(location: S3Location, body: string | Uint8Array, contentType: string): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: location.bucket, Key: location.key, Body: body, ContentType: contentType }),
      );
    } catch (error) {
      throw toNightshiftError(error, `writing ${formatS3Uri(location)}`);
    }
  }

  async putStream(location: S3Location, chunks: AsyncIterable<string>, contentType: string): Promise<void> {
    const body = Readable.from(chunks, { objectMode: false });
    try {
      await new Upload({
        client: this.client,
        params: { Bucket: location.bucket, Key: location.key, Body: body, ContentType: contentType },
      }).done();
    } catch (error) {
      throw toNightshiftError(error, `writing ${formatS3Uri(location)}`);
    }
  }

  async deletePrefix(prefix: S3Location, options: { readonly allVersions?: boolean } = {}): Promise<number> {
    let deleted = 0;
    let batch: ObjectIdentifier[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const keys = batch;
      batch = [];
      let errors: readonly { Key?: string; Code?: string; Message?: string }[];
      try {
        const output = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: prefix.bucket,
            Delete: { Objects: keys, Quiet: true },
          }),
        );
        errors = output.Errors ?? [];
      } catch (error) {
        throw toNightshiftError(error, `deleting ${keys.length} objects under ${formatS3Uri(prefix)}`);
      }
      // DeleteObjects answers 200 whatever happens to each key; in quiet mode its response lists only the keys it
      // could not delete (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
      const [first] = errors;
      if (first !== undefined) {
        throw new ServiceError(
          `S3 did not delete ${errors.length} of ${keys.length} objects under ${formatS3Uri(prefix)}, ` +
            `for example ${first.Key}: ${first.Code} (${first.Message})`,
          { details: { failed: errors.length } },
        );
      }
      deleted += keys.length;
    };
    const objects = options.allVersions
      ? this.versions(prefix)
      : mapAsync(this.list(prefix), (object) => ({ Key: object.key }));
    for await (const object of objects) {
      batch.push(object);
      // DeleteObjects takes at most 1,000 keys per request.
      if (batch.length === 1000) await flush();
    }
    await flush();
    return deleted;
  }

  /**
   * Every version and delete marker under a prefix (ListObjectVersions, 1,000 per page,
   * https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html; the caller needs
   * `s3:ListBucketVersions`, and deleting a version `s3:DeleteObjectVersion`). A server that does not implement it
   * (s3rver, the local S3, answers `GET ?versions` with MethodNotAllowed and keeps no versions) gets the current
   * keys instead, which there are all the data.
   */
  private async *versions(prefix: S3Location): AsyncIterable<ObjectIdentifier> {
    let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      let page: ListObjectVersionsCommandOutput;
      try {
        page = await this.client.send(
          new ListObjectVersionsCommand({ Bucket: prefix.bucket, Prefix: prefix.key, ...markers }),
        );
      } catch (error) {
        const name = (error as { name?: unknown } | null)?.name;
        if ((name === 'NotImplemented' || name === 'MethodNotAllowed') && markers.KeyMarker === undefined) {
          for await (const object of this.list(prefix)) yield { Key: object.key };
          return;
        }
        throw toNightshiftError(error, `listing the versions under ${formatS3Uri(prefix)}`);
      }
      for (const version of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (version.Key === undefined) continue;
        yield { Key: version.Key, ...(version.VersionId === undefined ? {} : { VersionId: version.VersionId }) };
      }
      if (!page.IsTruncated) return;
      markers = {
        ...(page.NextKeyMarker === undefined ? {} : { KeyMarker: page.NextKeyMarker }),
        ...(page.NextVersionIdMarker === undefined ? {} : { VersionIdMarker: page.NextVersionIdMarker }),
      };
    }
  }
}

async function* mapAsync<T, U>(source: AsyncIterable<T>, map: (value: T) => U): AsyncIterable<U> {
  for await (const value of source) yield map(value);
}
