import { describe, expect, it } from 'vitest';
import { silentLog } from '../../shared/logging.ts';
import type { ObjectSummary } from '../../shared/ports.ts';
import { DatasetItemSchema } from '../../shared/records.ts';
import type { S3Location } from '../../shared/s3-location.ts';
import { runPlan } from '../../stages/plan/plan.ts';
import { MemoryObjectStore, MemoryPredictionStore, MemoryRunStore } from '../helpers/memory-stores.ts';

const clock = { now: () => new Date('2026-11-23T00:00:00Z') };

describe('plan at a million keys (in-memory stores: the local S3 server cannot list 1,000,000 objects in test time)', () => {
  it('writes ten 100,000-line parts while listing and returns a payload that does not grow with the dataset', async () => {
    // Arrange: a listing generated on the fly, one key at a time, like paginated ListObjectsV2.
    const total = 1_000_000;
    let listed = 0;
    let listedAtFirstWrite = -1;
    const objects = new MemoryObjectStore(async function* (): AsyncIterable<ObjectSummary> {
      for (let i = 0; i < total; i++) {
        listed += 1;
        yield { key: `big/img-${String(i).padStart(7, '0')}.jpg`, size: 1000 };
      }
    });
    const originalPut = objects.put.bind(objects);
    objects.put = async (location: S3Location, body: string | Uint8Array) => {
      if (listedAtFirstWrite < 0) listedAtFirstWrite = listed;
      return originalPut(location, body);
    };

    // Act
    const result = await runPlan(
      { input: { dataset: 's3://data-bucket/big/', runId: 'million' }, execution: { name: 'exec-1' } },
      {
        objects,
        runs: new MemoryRunStore(),
        predictions: new MemoryPredictionStore(),
        clock,
        log: silentLog,
        pipelineBucket: 'pipeline-bucket',
        allowedDatasetLocations: [{ bucket: 'data-bucket', key: '' }],
      },
    );

    // Assert
    expect(result.items).toMatchObject({ total, accepted: total, rejected: 0, partCount: 10 });
    expect(listedAtFirstWrite).toBe(100_000); // the first part left before the second was listed
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThan(2048);
    const partKeys = JSON.parse(objects.text({ bucket: 'pipeline-bucket', key: result.items.manifestKey }) ?? '[]');
    expect(partKeys).toHaveLength(10);
    const lastPart = objects.text({ bucket: 'pipeline-bucket', key: partKeys[9] }) ?? '';
    const lastLines = lastPart.trimEnd().split('\n');
    expect(lastLines).toHaveLength(100_000);
    expect(DatasetItemSchema.parse(JSON.parse(lastLines.at(-1) ?? '{}')).index).toBe(total - 1);
  });
});
