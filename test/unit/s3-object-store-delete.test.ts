import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { ServiceError } from '../../shared/errors.ts';

const s3 = mockClient(S3Client);
const store = () => new S3ObjectStore(new S3Client({ region: 'us-east-1' }));
const prefix = { bucket: 'pipeline', key: 'runs/r/transform-input/' };

afterEach(() => s3.reset());

describe('S3ObjectStore.deletePrefix (mocked S3 client: the local server keeps no versions and never fails one key)', () => {
  it('deletes every version and delete marker under the prefix, page by page, when asked for all versions', async () => {
    s3.on(ListObjectVersionsCommand, { KeyMarker: undefined })
      .resolves({
        Versions: [
          { Key: 'runs/r/transform-input/part-000000000.jsonl', VersionId: 'v2' },
          { Key: 'runs/r/transform-input/part-000000000.jsonl', VersionId: 'v1' },
        ],
        IsTruncated: true,
        NextKeyMarker: 'runs/r/transform-input/part-000000000.jsonl',
        NextVersionIdMarker: 'v1',
      })
      .on(ListObjectVersionsCommand, { KeyMarker: 'runs/r/transform-input/part-000000000.jsonl' })
      .resolves({
        Versions: [{ Key: 'runs/r/transform-input/part-000000200.jsonl', VersionId: 'v3' }],
        DeleteMarkers: [{ Key: 'runs/r/transform-input/part-000000400.jsonl', VersionId: 'm1' }],
        IsTruncated: false,
      });
    s3.on(DeleteObjectsCommand).resolves({});

    const deleted = await store().deletePrefix(prefix, { allVersions: true });

    expect(deleted).toBe(4);
    expect(s3).toReceiveCommandWith(ListObjectVersionsCommand, {
      Bucket: 'pipeline',
      Prefix: prefix.key,
      KeyMarker: 'runs/r/transform-input/part-000000000.jsonl',
      VersionIdMarker: 'v1',
    });
    expect(s3).toReceiveCommandTimes(DeleteObjectsCommand, 1);
    expect(s3).toReceiveCommandWith(DeleteObjectsCommand, {
      Bucket: 'pipeline',
      Delete: {
        Quiet: true,
        Objects: [
          { Key: 'runs/r/transform-input/part-000000000.jsonl', VersionId: 'v2' },
          { Key: 'runs/r/transform-input/part-000000000.jsonl', VersionId: 'v1' },
          { Key: 'runs/r/transform-input/part-000000200.jsonl', VersionId: 'v3' },
          { Key: 'runs/r/transform-input/part-000000400.jsonl', VersionId: 'm1' },
        ],
      },
    });
  });

  it('deletes the current keys where the server does not implement ListObjectVersions', async () => {
    s3.on(ListObjectVersionsCommand).rejects(
      new S3ServiceException({ name: 'NotImplemented', $fault: 'server', $metadata: { httpStatusCode: 501 } }),
    );
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'runs/r/transform-input/part-000000000.jsonl' }] });
    s3.on(DeleteObjectsCommand).resolves({});

    expect(await store().deletePrefix(prefix, { allVersions: true })).toBe(1);
    expect(s3).toReceiveCommandWith(DeleteObjectsCommand, {
      Delete: { Quiet: true, Objects: [{ Key: 'runs/r/transform-input/part-000000000.jsonl' }] },
    });
  });

  it('fails with ServiceError naming a key S3 did not delete (DeleteObjects answers 200 and lists it in Errors)', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'runs/r/transform-input/part-000000000.jsonl' }] });
    s3.on(DeleteObjectsCommand).resolves({
      Errors: [{ Key: 'runs/r/transform-input/part-000000000.jsonl', Code: 'AccessDenied', Message: 'Access Denied' }],
    });

    const deleting = store().deletePrefix(prefix);

    await expect(deleting).rejects.toThrow(ServiceError);
    await expect(deleting).rejects.toThrow(/part-000000000\.jsonl: AccessDenied/);
  });
});
