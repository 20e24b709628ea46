import { describe, expect, it } from 'vitest';
import type { PartStats, RejectionReason, RejectionRecord } from '../../shared/records.ts';
import { loadChartJsSource } from '../../stages/report/chart-script.ts';
import { MAX_SAMPLE_REJECTIONS, OutcomeTally } from '../../stages/report/outcome-tally.ts';
import { mergePartStats } from '../../stages/report/part-statistics.ts';
import { stageTimings } from '../../stages/report/stage-timings.ts';

function stats(fields: Partial<PartStats>): PartStats {
  return {
    part: 'p',
    lines: 0,
    predicted: 0,
    noText: 0,
    rejected: 0,
    rejectedByReason: {},
    confidenceHistogram: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    confidenceSum: 0,
    withExpected: 0,
    matches: 0,
    models: [],
    ...fields,
  };
}

function rejection(key: string, reason: RejectionReason): RejectionRecord {
  return { runId: 'r', key, outcome: 'REJECTED', reason, message: 'm', stage: 'preprocess', updatedAt: '' };
}

describe('mergePartStats', () => {
  it('adds histograms bucket by bucket and sums, and unions the models', () => {
    const merged = mergePartStats([
      stats({ predicted: 2, confidenceHistogram: [1, 0, 0, 0, 0, 0, 0, 0, 0, 1], confidenceSum: 1, models: ['b@1'] }),
      stats({
        predicted: 1,
        confidenceHistogram: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        confidenceSum: 0.95,
        withExpected: 1,
      }),
      stats({ matches: 1, withExpected: 1, models: ['a@2', 'b@1'] }),
    ]);

    expect(merged).toEqual({
      parts: 3,
      predicted: 3,
      confidenceHistogram: [1, 0, 0, 0, 0, 0, 0, 0, 0, 2],
      confidenceSum: 1.95,
      withExpected: 2,
      matches: 1,
      models: ['a@2', 'b@1'],
    });
  });

  it('gives zeros for no parts', () => {
    expect(mergePartStats([])).toMatchObject({ parts: 0, predicted: 0, confidenceHistogram: new Array(10).fill(0) });
  });
});

describe('OutcomeTally', () => {
  it('samples rejections from every reason even when one reason fills the first hundred keys', () => {
    const tally = new OutcomeTally();
    for (let i = 0; i < 500; i++) tally.add(rejection(`a/${String(i).padStart(3, '0')}`, 'NOT_PROCESSED'));
    tally.add(rejection('z/last', 'CORRUPT_IMAGE'));

    const sample = tally.sampleRejections();

    expect(sample).toHaveLength(MAX_SAMPLE_REJECTIONS);
    expect(sample.map((r) => r.key)).toContain('z/last');
    expect(tally.rejectedByReason()).toEqual({ NOT_PROCESSED: 500, CORRUPT_IMAGE: 1 });
    expect(tally.rows).toBe(501);
  });
});

describe('stageTimings', () => {
  it('orders stages as the pipeline runs them and times a running stage up to now', () => {
    const timings = stageTimings(
      {
        report: { startedAt: '2025-01-01T00:10:00.000Z' },
        plan: { startedAt: '2025-01-01T00:00:00.000Z', finishedAt: '2025-01-01T00:00:05.250Z' },
      },
      new Date('2025-01-01T00:10:30.000Z'),
    );

    expect(Object.keys(timings)).toEqual(['plan', 'report']);
    expect(timings.plan?.seconds).toBe(5.25);
    expect(timings.report?.seconds).toBe(30);
  });

  it('names the field of a time that is not a timestamp, as our own data gone wrong (PipelineStateError)', () => {
    const attempt = () => stageTimings({ plan: { startedAt: 'yesterday' } }, new Date());

    expect(attempt).toThrow(/stageTimes\.plan\.startedAt/);
    expect(attempt).toThrow(expect.objectContaining({ name: 'PipelineStateError' }));
  });

  it('reports Chart.js missing from the bundle as a ServiceError, which a redrive after a redeploy resolves', async () => {
    const attempt = loadChartJsSource(['/nonexistent/chart.umd.js']);

    await expect(attempt).rejects.toThrow(expect.objectContaining({ name: 'ServiceError' }));
    await expect(attempt).rejects.toThrow(/beside the bundled report handler/);
  });
});
