import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { runLayout } from '../../shared/layout.ts';
import type { Clock } from '../../shared/ports.ts';
import type { OutcomeRecord, RejectionReason } from '../../shared/records.ts';
import { thumbnailPackBody, thumbnailPackKey } from '../../shared/thumbnails.ts';
import { makeThumbnail } from '../../stages/preprocess/thumbnail.ts';
import { type ReportDeps, runReport } from '../../stages/report/report.ts';
import { REPORT_CHART_IDS } from '../../stages/report/report-html.ts';
import { type RunReport, RunReportSchema } from '../../stages/report/run-report.ts';
import { describeWithChromium, launchChromium } from '../helpers/chromium.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { renderText, type TextImage } from '../helpers/text-images.ts';

const BUCKET = 'nightshift-report-html-test';
const RUN_ID = 'nightly-2025-03-01';
const SCRIPT_KEY = 'uploads/<script>window.__pwned = "script"</script>.png';
const IMG_KEY = 'uploads/<img src=x onerror="window.__pwned = \'img\'">.jpg';
const SCREENSHOT = '/tmp/report-screenshot.png';
const PHONE_SCREENSHOT = '/tmp/report-screenshot-390.png';
const BOXED_KEY = 'scans/page-003.jpg';
/** The first line's box of BOXED_KEY, in the original image's pixels. */
const BOX: [number, number][] = [
  [24, 20],
  [370, 20],
  [370, 72],
  [24, 72],
];
let image: TextImage;

describeWithChromium('report.html in a browser', () => {
  let aws: LocalAws;
  let browser: Browser;
  let directory: string;
  let fileUrl: string;
  let report: RunReport;

  /** Opens the report with every request but the file itself aborted; collects what the page asked for and said. */
  async function openReport(width = 1280): Promise<{ page: Page; requested: string[]; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const requested: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => {
      requested.push(request.url());
    });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => {
      problems.push(`page error: ${error.message}`);
    });
    await page.route('**', (route) => (route.request().url() === fileUrl ? route.continue() : route.abort()));
    await page.goto(fileUrl, { waitUntil: 'load' });
    await page.waitForSelector('html[data-charts="ready"]', { timeout: 10_000 });
    return { page, requested, problems };
  }

  beforeAll(async () => {
    aws = await startLocalAws();
    await aws.createBucket(BUCKET);
    const tables = await aws.createTables();
    const clock: Clock = { now: () => new Date('2025-03-01T03:12:40.000Z') };
    image = await renderText(['Invoice 2024-117', 'Total: 1,284.50 EUR']);
    const deps: ReportDeps = {
      objects: new S3ObjectStore(aws.s3),
      runs: new DynamoRunStore(aws.doc, tables.runsTable, clock),
      predictions: new DynamoPredictionStore(aws.doc, tables.predictionsTable),
      clock,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    };
    const rows: OutcomeRecord[] = Array.from({ length: 40 }, (_, i) => ({
      runId: RUN_ID,
      key: `scans/page-${String(i).padStart(3, '0')}.jpg`,
      bucket: 'datasets',
      outcome: 'PREDICTED',
      modelName: 'paddleocr',
      modelVersion: '2.8',
      text: i === 3 ? 'Invoice 2O24-117' : `page ${i}`,
      confidence: 0.5 + i / 80,
      ...(i === 3
        ? {
            expected: 'Invoice 2024-117',
            match: false,
            image: { width: image.width, height: image.height },
            lines: [{ text: 'Invoice 2O24-117', confidence: 0.41, box: BOX }],
          }
        : {}),
      part: 'part-00000',
      updatedAt: '2025-03-01T03:00:00.000Z',
    }));
    await deps.objects.put(
      { bucket: BUCKET, key: thumbnailPackKey(RUN_ID, 'part-00000') },
      thumbnailPackBody([{ bucket: 'datasets', key: BOXED_KEY, webp: await makeThumbnail(image.bytes, 10_000_000) }]),
      'application/json',
    );
    for (const key of [`scans/blank-1.jpg`, `scans/blank-2.jpg`]) {
      rows.push({
        runId: RUN_ID,
        key,
        bucket: 'datasets',
        outcome: 'NO_TEXT',
        modelName: 'paddleocr',
        modelVersion: '2.8',
        image: { width: 640, height: 480 },
        part: 'part-00000',
        updatedAt: '2025-03-01T03:00:00.000Z',
      });
    }
    const rejection = (key: string, reason: RejectionReason, message: string): OutcomeRecord => ({
      runId: RUN_ID,
      key,
      bucket: 'datasets',
      outcome: 'REJECTED',
      reason,
      message,
      stage: 'preprocess',
      updatedAt: '2025-03-01T03:00:00.000Z',
    });
    rows.push(
      rejection(SCRIPT_KEY, 'CORRUPT_IMAGE', 'the image data is truncated <b>after 512 bytes</b>'),
      rejection(IMG_KEY, 'NOT_AN_IMAGE', 'the object is HTML, not an image'),
      rejection('uploads/huge.tiff', 'TOO_MANY_PIXELS', 'the image has 180000000 pixels; the limit is 100000000'),
      rejection('uploads/notes.txt', 'UNSUPPORTED_TYPE', 'text/plain is not an image type'),
      rejection('uploads/readme.md', 'UNSUPPORTED_TYPE', 'text/markdown is not an image type'),
    );
    await deps.runs.create({
      runId: RUN_ID,
      status: 'RUNNING',
      dataset: 's3://datasets/scans/',
      settings: { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) },
      settingsHash: 'hash',
      createdAt: '2025-03-01T03:00:00.000Z',
      updatedAt: '2025-03-01T03:00:00.000Z',
      counts: { items: rows.length, predicted: 0, rejected: 0, rejectedByReason: {} },
    });
    await deps.predictions.put(rows);
    const histogram = [0, 0, 0, 0, 0, 8, 8, 8, 8, 8];
    await runReport(
      {
        runId: RUN_ID,
        pipelineBucket: BUCKET,
        parts: [
          {
            part: 'part-00000',
            lines: 42,
            predicted: 40,
            noText: 2,
            rejected: 2,
            rejectedByReason: { CORRUPT_IMAGE: 1, NOT_AN_IMAGE: 1 },
            confidenceHistogram: histogram,
            confidenceSum: 29.75,
            withExpected: 20,
            matches: 17,
            models: ['paddleocr@2.8'],
          },
        ],
        stageTimes: {
          plan: { startedAt: '2025-03-01T03:00:00.000Z', finishedAt: '2025-03-01T03:00:04.000Z' },
          preprocess: { startedAt: '2025-03-01T03:00:04.000Z', finishedAt: '2025-03-01T03:01:30.000Z' },
          transform: { startedAt: '2025-03-01T03:01:30.000Z', finishedAt: '2025-03-01T03:11:58.000Z' },
          aggregate: { startedAt: '2025-03-01T03:11:58.000Z', finishedAt: '2025-03-01T03:12:31.000Z' },
          report: { startedAt: '2025-03-01T03:12:31.000Z' },
        },
      },
      deps,
    );
    const prefix = runLayout.report(RUN_ID);
    const html = await deps.objects.get({ bucket: BUCKET, key: `${prefix}report.html` });
    const json = await deps.objects.get({ bucket: BUCKET, key: `${prefix}report.json` });
    report = RunReportSchema.parse(JSON.parse(new TextDecoder().decode(json)));
    directory = await mkdtemp(join(tmpdir(), 'nightshift-report-'));
    const path = join(directory, 'report.html');
    await writeFile(path, html ?? new Uint8Array());
    fileUrl = pathToFileURL(path).href;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await aws?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('draws every chart with the inlined Chart.js while every network request is blocked', async () => {
    const { page, requested, problems } = await openReport();

    const charts = await page.evaluate((ids) => {
      const chartJs = (window as unknown as { Chart?: { getChart(canvas: HTMLCanvasElement): unknown } }).Chart;
      return ids.map((id) => {
        const canvas = document.getElementById(id) as HTMLCanvasElement | null;
        const context = canvas?.getContext('2d');
        if (!canvas || !context || !chartJs) return { id, chart: false, painted: 0 };
        const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) painted++;
        return { id, chart: chartJs.getChart(canvas) !== undefined, painted };
      });
    }, REPORT_CHART_IDS);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    for (const chart of charts) {
      expect(chart, chart.id).toMatchObject({ chart: true });
      expect(chart.painted, `painted pixels of ${chart.id}`).toBeGreaterThan(500);
    }
    expect(requested.filter((url) => url !== fileUrl)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('shows the counts of report.json', async () => {
    const { page } = await openReport();

    const shown = await page.evaluate(() => {
      const value = (selector: string) => Number(document.querySelector(selector)?.getAttribute('data-value'));
      const reasons = Object.fromEntries(
        Array.from(document.querySelectorAll('[data-reason]')).map((cell) => [
          cell.getAttribute('data-reason'),
          Number(cell.getAttribute('data-value')),
        ]),
      );
      return {
        items: value('[data-count="items"]'),
        predicted: value('[data-count="predicted"]'),
        noText: value('[data-count="no-text"]'),
        rejected: value('[data-count="rejected"]'),
        rejectedByReason: reasons,
        kpiItems: document.querySelector('[data-kpi="items"]')?.textContent,
      };
    });

    expect(shown).toEqual({ ...report.counts, kpiItems: String(report.counts.items) });
    expect(report.counts).toMatchObject({ items: 47, predicted: 40, noText: 2, rejected: 5 });
  });

  it('shows keys and messages holding HTML as text and never runs them', async () => {
    const { page } = await openReport();

    const result = await page.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: unknown }).__pwned,
      scripts: document.scripts.length,
      images: document.images.length,
      imageSources: Array.from(document.images).map((img) => img.getAttribute('src') ?? ''),
      keys: Array.from(document.querySelectorAll('#sample-rejections td.key')).map((cell) => cell.textContent),
      bold: document.querySelectorAll('#sample-rejections b').length,
    }));

    expect(result.pwned).toBeUndefined();
    expect(result.scripts).toBe(4);
    expect(result.images).toBeGreaterThan(0);
    expect(result.imageSources.every((src) => src.startsWith('data:image/webp;base64,'))).toBe(true);
    expect(result.bold).toBe(0);
    expect(result.keys).toEqual(expect.arrayContaining([SCRIPT_KEY, IMG_KEY]));
  });

  it('filters, searches and sorts the embedded results', async () => {
    const { page, problems } = await openReport();
    const shown = () =>
      page.evaluate(() =>
        Array.from(document.querySelectorAll('#explorer-results > li')).map((li) => ({
          key: li.getAttribute('data-key'),
          outcome: li.getAttribute('data-outcome'),
        })),
      );

    const all = await shown();
    await page.click('[data-filter="rejected"]');
    const rejectedOnly = await shown();
    await page.click('[data-filter="no-text"]');
    const noTextOnly = await shown();
    await page.click('[data-filter="mismatch"]');
    const mismatches = await shown();
    await page.click('[data-filter="all"]');
    await page.fill('#explorer-search', '2o24');
    const searched = await shown();
    await page.fill('#explorer-search', '');
    await page.selectOption('#explorer-sort', 'confidence-asc');
    const sorted = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#explorer-results .confidence')).map((el) =>
        Number(el.textContent?.replace('confidence ', '')),
      ),
    );

    expect(all).toHaveLength(47);
    expect(rejectedOnly).toHaveLength(5);
    expect(rejectedOnly.every((row) => row.outcome === 'REJECTED')).toBe(true);
    expect(noTextOnly.map((row) => row.key)).toEqual(['scans/blank-1.jpg', 'scans/blank-2.jpg']);
    expect(mismatches.map((row) => row.key)).toEqual([BOXED_KEY]);
    expect(searched.map((row) => row.key)).toEqual([BOXED_KEY]);
    expect(sorted).toEqual([...sorted].sort((a, b) => a - b));
    expect(sorted[0]).toBe(0.5);
    expect(problems).toEqual([]);
  });

  it('draws each line box where the prediction says, on the thumbnail and in the larger view', async () => {
    const { page } = await openReport();
    const selector = `#explorer-results > li[data-key="${BOXED_KEY}"]`;
    const measure = (scope: string) =>
      page.evaluate((scope) => {
        const frame = document.querySelector(`${scope} .thumb`);
        const img = frame?.querySelector('img')?.getBoundingClientRect();
        const box = frame?.querySelector('polygon')?.getBoundingClientRect();
        return img && box
          ? {
              img: { x: img.x, y: img.y, width: img.width, height: img.height },
              box: { x: box.x, y: box.y, width: box.width, height: box.height },
            }
          : null;
      }, scope);

    const small = await measure(selector);
    await page.click(`${selector} .result-open`);
    const large = await measure('#explorer-dialog');
    const diff = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#explorer-dialog mark.diff')).map((mark) => mark.textContent),
    );

    for (const shown of [small, large]) {
      expect(shown).not.toBeNull();
      if (!shown) continue;
      const scale = shown.img.width / image.width;
      expect(shown.img.height / image.height).toBeCloseTo(scale, 1);
      expect(shown.box.x).toBeCloseTo(shown.img.x + 24 * scale, 0);
      expect(shown.box.y).toBeCloseTo(shown.img.y + 20 * scale, 0);
      expect(shown.box.width).toBeCloseTo((370 - 24) * scale, 0);
      expect(shown.box.height).toBeCloseTo((72 - 20) * scale, 0);
    }
    expect((large?.img.width ?? 0) > (small?.img.width ?? 0)).toBe(true);
    expect(diff).toEqual(['O', '0']);
    await page.screenshot({ path: '/tmp/report-screenshot-viewer.png' });
  });

  it('fits a 390 px phone screen without sideways scrolling, long keys truncated in the middle', async () => {
    const { page } = await openReport(390);

    const layout = await page.evaluate(() => {
      const wide = Array.from(document.querySelectorAll('body *')).filter(
        (el) => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !el.closest('.table-scroll'),
      );
      const key = document.querySelector('#sample-rejections .key-trunc');
      return {
        scrollWidth: document.documentElement.scrollWidth,
        wide: wide.slice(0, 5).map((el) => `${el.tagName}.${el.className}`),
        keyTitle: key?.getAttribute('title'),
      };
    });
    await page.screenshot({ path: PHONE_SCREENSHOT, fullPage: true });

    expect(layout.scrollWidth).toBeLessThanOrEqual(390);
    expect(layout.wide).toEqual([]);
    expect(layout.keyTitle).toBeTruthy();
  });
});
