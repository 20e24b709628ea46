import { describe, expect, it } from 'vitest';
import { estimateRunCost, TRANSFORM_PRICE_PER_HOUR } from '../../pipeline/cli/cost-estimate.ts';
import { estimateCost } from '../../shared/cost-model.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import type { RunRecord } from '../../shared/records.ts';

function run(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    runId: 'r',
    status: 'SUCCEEDED',
    dataset: 's3://images/a/',
    settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
    settingsHash: 'h',
    createdAt: '2026-11-23T00:00:00.000Z',
    updatedAt: '2026-11-23T15:00:00.000Z',
    finishedAt: '2026-11-23T15:00:00.000Z',
    ...overrides,
  };
}

const NOW = new Date('2026-11-23T16:00:00Z');
const line = (estimate: ReturnType<typeof estimateRunCost>, item: string) =>
  estimate.lines.find((l) => l.item === item);

describe('the cost estimate of a recorded run (nightshift status)', () => {
  it("gives a recorded million-image run the model's lines, with the run's own GPU time and rejections", () => {
    const recorded = run({
      counts: { items: 1_000_000, predicted: 990_000, rejected: 10_000, rejectedByReason: { NOT_AN_IMAGE: 10_000 } },
      timings: { transform: { startedAt: 'a', finishedAt: 'b', seconds: 14 * 3600 } },
    });

    const estimate = estimateRunCost(recorded, { now: NOW });

    const model = estimateCost({
      items: 1_000_000,
      rejected: 10_000,
      batchSize: 200,
      downloadConcurrency: 32,
      transform: { seconds: 14 * 3600, instanceType: 'ml.g5.xlarge', instanceCount: 1 },
    });
    expect(estimate.lines).toEqual(model.lines);
    expect(line(estimate, 'Batch Transform')?.usd).toBeCloseTo(14 * 1.408, 6);
    expect(line(estimate, 'S3 PUT and LIST requests')?.detail).toMatch(/^4,950 parts x 4 /);
    expect(estimate.notes).toEqual([]);
  });

  it('prices the settings the run recorded: a larger batch makes fewer children', () => {
    const withBatch = (batchSize: number) =>
      estimateRunCost(
        run({
          settings: {
            preprocess: PreprocessSettingsSchema.parse({ batchSize }),
            transform: TransformSettingsSchema.parse({}),
          },
          counts: { items: 1_000_000, predicted: 1_000_000, rejected: 0, rejectedByReason: {} },
          timings: { transform: { startedAt: 'a', finishedAt: 'b', seconds: 0 } },
        }),
        { now: NOW },
      );

    // Preprocess batches, plus one aggregate child per five parts (one part per batch).
    expect(line(withBatch(50), 'Map Run child starts')?.usd).toBeCloseTo((20_000 + 4_000) * 0.000025, 9);
    expect(line(withBatch(200), 'Map Run child starts')?.usd).toBeCloseTo((5_000 + 1_000) * 0.000025, 9);
  });

  it('uses the whole run duration as an upper bound when no transform timing was recorded, and says so', () => {
    const estimate = estimateRunCost(run({ counts: { items: 10, predicted: 10, rejected: 0, rejectedByReason: {} } }), {
      now: NOW,
    });

    expect(line(estimate, 'Batch Transform')?.detail).toBe('15 h x 1 x ml.g5.xlarge at $1.408/h');
    expect(estimate.notes).toContain(
      'no transform timing recorded: the GPU time is the whole run duration, an upper bound',
    );
  });

  it('takes --instance-price for an instance type the table does not know, and notes the gap without it', () => {
    const settings = {
      preprocess: PreprocessSettingsSchema.parse({}),
      transform: TransformSettingsSchema.parse({ instanceType: 'ml.g6e.xlarge', instanceCount: 2 }),
    };
    const timings = { transform: { startedAt: 'a', finishedAt: 'b', seconds: 1800 } };
    expect(TRANSFORM_PRICE_PER_HOUR['ml.g6e.xlarge']).toBeUndefined();

    const unknown = estimateRunCost(run({ settings, timings }), { now: NOW });
    const priced = estimateRunCost(run({ settings, timings }), { now: NOW, instancePricePerHour: 2 });

    expect(unknown.notes).toContain('no price for ml.g6e.xlarge in the table: pass --instance-price USD_PER_HOUR');
    expect(line(priced, 'Batch Transform')?.usd).toBeCloseTo(0.5 * 2 * 2, 6);
  });

  it('counts a run still going up to now', () => {
    const estimate = estimateRunCost(
      run({
        status: 'RUNNING',
        finishedAt: undefined,
        counts: { items: 5, predicted: 0, rejected: 0, rejectedByReason: {} },
      }),
      { now: NOW },
    );

    expect(line(estimate, 'Batch Transform')?.detail).toMatch(/^16 h x 1/);
  });

  it('charges no GPU time to a run that never finished planning', () => {
    const estimate = estimateRunCost(run({ status: 'FAILED' }), { now: NOW });

    expect(line(estimate, 'Batch Transform')?.usd).toBe(0);
    expect(estimate.notes).toEqual(['no item count: the run has not finished planning, so nothing ran after it']);
  });
});
