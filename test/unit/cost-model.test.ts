import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  aggregateCalls,
  COST_ASSUMPTIONS,
  type CostEstimate,
  dynamoItemBytes,
  estimateCost,
  preprocessBatchSeconds,
  S3_REQUESTS,
} from '../../shared/cost-model.ts';
import { costTable, documentedCostTable, documentedRun } from '../../shared/cost-table.ts';
import { PreprocessSettingsSchema } from '../../shared/execution-input.ts';
import type { ObjectStore } from '../../shared/ports.ts';
import type { S3Location } from '../../shared/s3-location.ts';
import { AGGREGATE_PARTS_PER_CHILD, STAGE_SIZING } from '../../shared/stage-sizing.ts';
import { runPreprocess } from '../../stages/preprocess/preprocess.ts';
import { sceneImage, testPreprocessSettings } from '../helpers/images.ts';
import { MemoryObjectStore, MemoryPredictionStore } from '../helpers/memory-stores.ts';

const MILLION = 1_000_000;
const defaults = PreprocessSettingsSchema.parse({});

/** docs/cost.md's million-image run: the defaults, and the assumed 20 images/s on one ml.g5.xlarge. */
function millionImages(): CostEstimate {
  return estimateCost(documentedRun());
}

/** docs/cost.md's copy of the table: from its marker line to the first line that is not a table row. */
function documentedTable(): string {
  const table = documentedCostTable(readFileSync(new URL('../../docs/cost.md', import.meta.url), 'utf8'));
  expect(table, 'the cost-table marker line in docs/cost.md').toBeDefined();
  return table ?? '';
}

describe('the cost model (shared/cost-model.ts)', () => {
  it("matches docs/cost.md's million-image table row for row, totals included (`npm run cost:table` prints it)", () => {
    const estimate = millionImages();

    // On a difference, paste the expected text (the output of `npm run cost:table`) over the document's table.
    expect(documentedTable()).toBe(costTable(estimate));
    expect(costTable(estimate)).toContain(`| **everything but the GPU** | | | **$${estimate.otherUsd.toFixed(2)}** |`);
    for (const line of estimate.lines) expect(costTable(estimate)).toContain(`| ${line.item} | ${line.detail} |`);
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
    const deployed = preprocessBatchSeconds(200, defaults.downloadConcurrency);
    expect(preprocess?.usd).toBeCloseTo(5000 * deployed.total * 1 * 0.0000133334 + 5000 * 0.0000002, 9);
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
    // Two preprocess children, and one aggregate child for both parts: a 200-row part is its CPU over the 0.29 vCPU
    // of 512 MB plus three waits (the two reads together, then two waves of four 25-row BatchWriteItem calls),
    // 0.37 s; two in one call, billed as 0.8 s.
    const part = (200 * COST_ASSUMPTIONS.aggregateCpuSecondsPerRow) / (512 / 1769) + 3 * 0.05;
    const aggregateCall = Math.ceil(2 * part * 10) / 10;
    expect(aggregateCall).toBe(0.8);
    expect(express?.usd).toBeCloseTo(3 * 0.000001 + (2 * rounded + aggregateCall) * 0.0625 * 0.00001667, 12);
    expect(starts?.usd).toBeCloseTo(3 * 0.000025, 12);
  });

  it('gives the aggregate map one child per AGGREGATE_PARTS_PER_CHILD parts, and bills the Lambda requests of those calls', () => {
    const estimate = estimateCost({
      items: 1_100_000,
      batchSize: 200,
      downloadConcurrency: 8,
      transform: { seconds: 0, instanceType: 'ml.g5.xlarge', instanceCount: 1 },
    });

    // 5,500 parts: 1,100 children of five.
    expect(AGGREGATE_PARTS_PER_CHILD).toBe(5);
    expect(aggregateCalls(5500)).toEqual({ calls: 1100, full: 1100, lastParts: 0 });
    expect(aggregateCalls(5501)).toEqual({ calls: 1101, full: 1100, lastParts: 1 });
    const starts = estimate.lines.find((line) => line.item === 'Map Run child starts');
    expect(starts?.usd).toBeCloseTo((5500 + 1100) * 0.000025, 9);
    const aggregate = estimate.lines.find((line) => line.item === 'Lambda aggregate');
    const seconds = 5500 * ((200 * COST_ASSUMPTIONS.aggregateCpuSecondsPerRow) / (512 / 1769) + 3 * 0.05);
    expect(aggregate?.usd).toBeCloseTo(seconds * 0.5 * 0.0000133334 + 1100 * 0.0000002, 9);
    expect(aggregate?.detail).toBe(
      '1,100 calls of up to 5 parts: 5,500 parts x 0.37 s (0.22 s CPU + 0.15 s waits) x 512 MB arm64',
    );
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

  it('counts the S3 requests preprocess makes per batch: one GET per image, listed size or not, then the thumbnail pack, index and part (in-process store counting calls)', async () => {
    const objects = new CountingObjectStore();
    const items = await Promise.all(
      [0, 1, 2, 3, 4].map(async (index) => {
        const body = await sceneImage(120, 80, 'jpeg');
        await objects.put({ bucket: 'in', key: `p${index}.jpg` }, body);
        // Even items as a listing gives them (with sizes), odd ones as a manifest line does (without).
        return { index, bucket: 'in', key: `p${index}.jpg`, ...(index % 2 === 0 ? { size: body.length } : {}) };
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

  override async open(location: S3Location) {
    this.gets += 1;
    return super.open(location);
  }

  override async put(location: S3Location, body: string | Uint8Array): Promise<void> {
    this.puts += 1;
    return super.put(location, body);
  }
}
