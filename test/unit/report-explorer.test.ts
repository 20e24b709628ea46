import { describe, expect, it } from 'vitest';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import type { OutcomeRecord } from '../../shared/records.ts';
import { loadChartJsSource } from '../../stages/report/chart-script.ts';
import {
  EXPLORER_CAPS,
  EXPLORER_MAX_ROWS,
  ExplorerSelection,
  seededRandom,
} from '../../stages/report/explorer-selection.ts';
import { html, trustedHtml } from '../../stages/report/html-template.ts';
import { renderReportHtml } from '../../stages/report/report-html.ts';
import { diffRuns } from '../../stages/report/run-diff.ts';
import { buildRunReport } from '../../stages/report/run-report.ts';
import { MemoryPredictionStore } from '../helpers/memory-stores.ts';

/** The page of a 100,000-row run stays under this, whatever the run's size (thumbnails included). */
const PAGE_LIMIT_BYTES = 4 * 1024 * 1024;
/** A realistic thumbnail: 160 x 60 WebP of two lines of text is 2-4 KB; this is the upper end. */
const THUMBNAIL = `data:image/webp;base64,${Buffer.alloc(4 * 1024, 7).toString('base64')}`;

function row(i: number): OutcomeRecord {
  const key = `scans/${String(i).padStart(7, '0')}.jpg`;
  if (i % 50 === 7) {
    return {
      runId: 'big',
      key,
      bucket: 'd',
      outcome: 'REJECTED',
      reason: 'CORRUPT_IMAGE',
      message: 'truncated',
      stage: 'preprocess',
      updatedAt: 't',
    };
  }
  if (i % 40 === 3) {
    return {
      runId: 'big',
      key,
      bucket: 'd',
      outcome: 'NO_TEXT',
      modelName: 'm',
      modelVersion: '1',
      part: 'p',
      updatedAt: 't',
    };
  }
  const text = `Invoice ${i} total ${i % 997}.50 EUR`;
  const mismatch = i % 9 === 0;
  return {
    runId: 'big',
    key,
    bucket: 'd',
    outcome: 'PREDICTED',
    modelName: 'm',
    modelVersion: '1',
    text,
    confidence: ((i * 7919) % 1000) / 1000,
    expected: mismatch ? `${text}!` : text,
    match: !mismatch,
    image: { width: 1200, height: 800 },
    lines: [
      {
        text: `Invoice ${i}`,
        confidence: 0.9,
        box: [
          [10, 10],
          [400, 10],
          [400, 60],
          [10, 60],
        ],
      },
      {
        text: `total ${i % 997}.50 EUR`,
        confidence: 0.8,
        box: [
          [10, 80],
          [500, 80],
          [500, 130],
          [10, 130],
        ],
      },
    ],
    part: 'p',
    updatedAt: 't',
  };
}

describe('the results explorer selection', () => {
  it('keeps a 100,000-row run to a bounded, deterministic selection and a page under 4 MiB', async () => {
    const first = new ExplorerSelection('big');
    const second = new ExplorerSelection('big');
    for (let i = 0; i < 100_000; i++) {
      first.add(row(i));
      second.add(row(i));
    }

    const data = first.finish();
    for (const shown of data.rows) shown.thumbnail = THUMBNAIL;
    const report = buildRunReport({
      run: {
        runId: 'big',
        status: 'RUNNING',
        dataset: 's3://d/scans/',
        settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
        settingsHash: 'h',
        createdAt: '2025-03-01T00:00:00.000Z',
        updatedAt: '2025-03-01T00:00:00.000Z',
      },
      counts: {
        items: 100_000,
        predicted: 95_500,
        noText: 2_500,
        rejected: 2_000,
        rejectedByReason: { CORRUPT_IMAGE: 2_000 },
      },
      statistics: {
        parts: 1,
        predicted: 95_500,
        confidenceHistogram: new Array(10).fill(9_550),
        confidenceSum: 47_750,
        withExpected: 98_000,
        matches: 87_000,
        models: ['m@1'],
      },
      stageTimes: {},
      sampleRejections: [],
      explorer: { shown: data.rows.length, of: data.totalRows, caps: data.caps },
      files: { json: 'j', csv: 'c', html: 'h' },
      generatedAt: new Date('2025-03-01T01:00:00.000Z'),
    });
    const page = renderReportHtml(report, await loadChartJsSource(), data);

    expect(data.totalRows).toBe(100_000);
    expect(data.rows.length).toBeLessThanOrEqual(EXPLORER_MAX_ROWS);
    expect(data.rows.filter((shown) => shown.why.includes('rejected'))).toHaveLength(EXPLORER_CAPS.rejected);
    expect(data.rows.filter((shown) => shown.why.includes('mismatch'))).toHaveLength(EXPLORER_CAPS.mismatch);
    const lowest = data.rows.filter((shown) => shown.why.includes('lowest-confidence'));
    expect(lowest).toHaveLength(EXPLORER_CAPS.lowestConfidence);
    expect(Math.max(...lowest.map((shown) => shown.confidence ?? 1))).toBeLessThanOrEqual(0.001);
    expect(second.finish().rows.map((shown) => shown.key)).toEqual(data.rows.map((shown) => shown.key));
    expect(Buffer.byteLength(page)).toBeLessThan(PAGE_LIMIT_BYTES);
    expect(page).toContain(`Showing ${data.rows.length} of 100,000 objects`);
  });

  it('draws the same sample for the same seed and another for another seed', () => {
    const a = seededRandom('run-a');
    const b = seededRandom('run-a');
    const c = seededRandom('run-b');
    const draw = (next: () => number) => Array.from({ length: 5 }, next);

    const fromA = draw(a);

    expect(draw(b)).toEqual(fromA);
    expect(draw(c)).not.toEqual(fromA);
    expect(fromA.every((value) => value >= 0 && value < 1)).toBe(true);
  });
});

describe('the markup template', () => {
  it('escapes every interpolated value unless it is already markup', () => {
    const key = '<img src=x onerror="alert(1)">';

    const markup = html`<td title="${key}">${key}${html`<b>${'&'}</b>`}${[1, '<', trustedHtml('<i>ok</i>')]}</td>`;

    expect(markup.markup).toBe(
      '<td title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;<b>&amp;</b>1&lt;<i>ok</i></td>',
    );
  });
});

describe('diffRuns', () => {
  it('joins two runs by key: counts side by side, changed answers, and objects only in one run', async () => {
    const store = new MemoryPredictionStore();
    const predicted = (runId: string, key: string, text: string, expected?: string): OutcomeRecord => ({
      runId,
      key,
      bucket: 'd',
      outcome: 'PREDICTED',
      modelName: 'm',
      modelVersion: '1',
      text,
      confidence: 0.9,
      ...(expected === undefined ? {} : { expected, match: text === expected }),
      part: 'p',
      updatedAt: 't',
    });
    await store.put([
      predicted('a', 'k1', 'STOP', 'STOP'),
      predicted('a', 'k2', 'EXIT', 'EXIT'),
      predicted('a', 'k3', 'gone'),
      predicted('b', 'k1', 'STOP', 'STOP'),
      predicted('b', 'k2', 'EX1T', 'EXIT'),
      {
        runId: 'b',
        key: 'k4',
        outcome: 'REJECTED',
        reason: 'NOT_FOUND',
        message: 'm',
        stage: 'preprocess',
        updatedAt: 't',
      },
    ]);

    const diff = await diffRuns(store, 'a', 'b', { maxChanges: 10 });

    expect(diff.before).toMatchObject({ items: 3, predicted: 3, accuracy: 1 });
    expect(diff.after).toMatchObject({ items: 3, predicted: 2, rejected: 1, accuracy: 0.5 });
    expect(diff).toMatchObject({ compared: 2, changed: 1, onlyBefore: 1, onlyAfter: 1 });
    expect(diff.changes).toEqual([
      {
        key: 'k2',
        before: { outcome: 'PREDICTED', text: 'EXIT' },
        after: { outcome: 'PREDICTED', text: 'EX1T' },
        expected: 'EXIT',
      },
    ]);
  });
});
