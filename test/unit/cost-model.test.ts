import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  COST_ASSUMPTIONS,
  type CostEstimate,
  dynamoItemBytes,
  estimateCost,
  preprocessBatchSeconds,
  S3_REQUESTS,
} from '../../shared/cost-model.ts';
import { PreprocessSettingsSchema } from '../../shared/execution-input.ts';
import type { ObjectStore } from '../../shared/ports.ts';
import type { S3Location } from '../../shared/s3-location.ts';
import { STAGE_SIZING } from '../../shared/stage-sizing.ts';
import { runPreprocess } from '../../stages/preprocess/preprocess.ts';
import { sceneImage, testPreprocessSettings } from '../helpers/images.ts';
import { MemoryObjectStore, MemoryPredictionStore } from '../helpers/memory-stores.ts';

const MILLION = 1_000_000;
const defaults = PreprocessSettingsSchema.parse({});

/** docs/cost.md's million-image run: the defaults, and the assumed 20 images/s on one ml.g5.xlarge. */
function millionImages(): CostEstimate {
  return estimateCost({
    items: MILLION,
    batchSize: defaults.batchSize,
    downloadConcurrency: defaults.downloadConcurrency,
    transform: { seconds: MILLION / 20, instanceType: 'ml.g5.xlarge', instanceCount: 1 },
  });
}

/** The rows of docs/cost.md's million-image table, by their first cell, with the dollar figure of the last. */
function documentedTable(): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/cost.md', import.meta.url), 'utf8');
  const start = doc.indexOf('<!-- cost-table:');
  expect(start).toBeGreaterThan(0);
  const rows = new Map<string, string>();
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').map((cell) => cell.trim());
    const name = cells[1]?.replaceAll('*', '').replace(/ \(.*\)$/, '') ?? '';
    const cost = cells.at(-2)?.replaceAll('*', '') ?? '';
    if (/^\$\d/.test(cost)) rows.set(name, cost);
  }
  return rows;
}

const dollars = (usd: number) => `$${usd.toFixed(2)}`;

describe('the cost model (shared/cost-model.ts)', () => {
  it("gives every line of docs/cost.md's million-image table, and its totals, to the cent", () => {
    const estimate = millionImages();
    const table = documentedTable();

    for (const line of estimate.lines) expect(table.get(line.item), line.item).toBe(dollars(line.usd));
    expect(table.get('everything but the GPU')).toBe(dollars(estimate.otherUsd));
    expect(table.get('orchestration')).toBe(dollars(estimate.orchestrationUsd));
    expect(table.get('total')).toBe(dollars(estimate.totalUsd));
    expect(table.size).toBe(estimate.lines.length + 3);
  });

  it('splits the total by service, the GPU share included', () => {
    const estimate = millionImages();

    const byService = Object.fromEntries(estimate.byService.map(({ service, usd }) => [service, usd]));
    expect(byService.SageMaker).toBeCloseTo(estimate.gpuUsd, 9);
    expect(Object.values(byService).reduce((a, b) => a + b, 0)).toBeCloseTo(estimate.totalUsd, 9);
    expect(estimate.gpuShare).toBeCloseTo(estimate.gpuUsd / estimate.totalUsd, 9);
    // Everything but the GPU is about a tenth of a million-image run since thumbnails are packed per batch.
    expect(estimate.gpuShare).toBeGreaterThan(0.85);
    expect(estimate.gpuShare).toBeLessThan(0.95);
  });

  it('prices the preprocess function as deployed: its memory buys its vCPUs, and its architecture sets the price', () => {
    const batch = preprocessBatchSeconds(200, defaults.downloadConcurrency);
    const vcpus = STAGE_SIZING.preprocess.memoryMb / COST_ASSUMPTIONS.lambdaMbPerVcpu;

    expect(batch.cpu).toBeCloseTo((200 * COST_ASSUMPTIONS.preprocessCpuSecondsPerImage) / vcpus, 9);
    // 7 download waves of 32 + the thumbnail pack + the index + the part.
    expect(batch.waits).toBeCloseTo(10 * COST_ASSUMPTIONS.s3RequestSeconds, 9);
    const preprocess = millionImages().lines.find((line) => line.item === 'Lambda preprocess');
    expect(preprocess?.detail).toContain('x 1024 MB arm64');
    expect(preprocess?.usd).toBeCloseTo(5000 * batch.total * 1 * 0.0000133334 + 5000 * 0.0000002, 9);
  });

  it('bills each Express child for the Lambda call it wraps, rounded up to 100 ms, and each child start as a transition', () => {
    const estimate = estimateCost({
      items: 400,
      batchSize: 200,
      downloadConcurrency: 8,
      transform: { seconds: 0, instanceType: 'ml.g5.xlarge', instanceCount: 1 },
    });

    const express = estimate.lines.find((line) => line.item === 'Express children');
    const starts = estimate.lines.find((line) => line.item === 'Map Run child starts');
    const rounded = Math.ceil(preprocessBatchSeconds(200, 8).total * 10) / 10;
    expect(express?.usd).toBeCloseTo(4 * 0.000001 + (2 * rounded + 2 * 1) * 0.0625 * 0.00001667, 12);
    expect(starts?.usd).toBeCloseTo(4 * 0.000025, 12);
  });

  it('charges fewer child starts per image as batches grow, which is why the default batch is 200', () => {
    const at = (batchSize: number) =>
      estimateCost({
        items: MILLION,
        batchSize,
        downloadConcurrency: 8,
        transform: { seconds: 0, instanceType: 'ml.g5.xlarge', instanceCount: 1 },
      }).orchestrationUsd;

    expect(defaults.batchSize).toBe(200);
    expect(at(50)).toBeGreaterThan(at(100));
    expect(at(100)).toBeGreaterThan(at(200));
  });

  it('counts item sizes as DynamoDB does: names plus values, numbers by significant digits, list and map overhead', () => {
    // "MP" + "2447": 2 + 4; confidence 0.9993: 10 + ceil(4 / 2) + 1; box: 3 + 4 x (1 + (3 + 2 x (1 + 2))).
    const row = {
      text: 'MP 2447',
      confidence: 0.9993,
      box: [
        [33, 19],
        [86, 19],
        [86, 56],
        [33, 56],
      ],
    };

    expect(dynamoItemBytes(row)).toBe(4 + 7 + (10 + 3) + (3 + 3 + 4 * (1 + 3 + 2 * (1 + 2))));
    expect(dynamoItemBytes({ match: true, image: { width: 246 } })).toBe(5 + 1 + (5 + 3 + 1 + 5 + 3));
  });

  it('counts the S3 requests preprocess makes per batch: one GET per image, then the thumbnail pack, index and part (in-process store counting calls)', async () => {
    const objects = new CountingObjectStore();
    const items = await Promise.all(
      [0, 1, 2, 3, 4].map(async (index) => {
        const body = await sceneImage(120, 80, 'jpeg');
        await objects.put({ bucket: 'in', key: `p${index}.jpg` }, body);
        return { index, bucket: 'in', key: `p${index}.jpg`, size: body.length };
      }),
    );
    objects.reset();

    const result = await runPreprocess(
      { Items: items, BatchInput: { runId: 'r', pipelineBucket: 'pipeline', settings: testPreprocessSettings() } },
      {
        objects,
        predictions: new MemoryPredictionStore(),
        clock: { now: () => new Date('2026-12-01T00:00:00Z') },
        log: { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never,
      },
    );

    expect(result.records).toBe(5);
    expect(objects.gets).toBe(5 * S3_REQUESTS.getsPerImage);
    // The batch's other PUT is Batch Transform's `.out`.
    expect(objects.puts).toBe(S3_REQUESTS.preprocessPutsPerBatch);
    expect(S3_REQUESTS.putsPerBatch).toBe(S3_REQUESTS.preprocessPutsPerBatch + 1);
  });
});

/** Counts the requests a stage makes through the ObjectStore port. */
class CountingObjectStore extends MemoryObjectStore implements ObjectStore {
  gets = 0;
  puts = 0;

  reset(): void {
    this.gets = 0;
    this.puts = 0;
  }

  override async get(location: S3Location): Promise<Uint8Array | undefined> {
    this.gets += 1;
    return super.get(location);
  }

  override async head(location: S3Location) {
    this.gets += 1;
    return super.head(location);
  }

  override async put(location: S3Location, body: string | Uint8Array): Promise<void> {
    this.puts += 1;
    return super.put(location, body);
  }
}
