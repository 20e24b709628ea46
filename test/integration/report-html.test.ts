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
import { type ReportDeps, runReport } from '../../stages/report/report.ts';
import { REPORT_CHART_IDS } from '../../stages/report/report-html.ts';
import { type RunReport, RunReportSchema } from '../../stages/report/run-report.ts';
import { describeWithChromium, launchChromium } from '../helpers/chromium.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

const BUCKET = 'nightshift-report-html-test';
const RUN_ID = 'nightly-2025-03-01';
const SCRIPT_KEY = 'uploads/<script>window.__pwned = "script"</script>.png';
const IMG_KEY = 'uploads/<img src=x onerror="window.__pwned = \'img\'">.jpg';
const SCREENSHOT = '/tmp/report-screenshot.png';

describeWithChromium('report.html in a browser', () => {
  let aws: LocalAws;
  let browser: Browser;
  let directory: string;
  let fileUrl: string;
  let report: RunReport;

  /** Opens the report with every request but the file itself aborted; collects what the page asked for and said. */
  async function openReport(): Promise<{ page: Page; requested: string[]; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
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
      text: `page ${i}`,
      confidence: 0.5 + i / 80,
      part: 'part-00000',
      updatedAt: '2025-03-01T03:00:00.000Z',
    }));
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
        rejected: value('[data-count="rejected"]'),
        rejectedByReason: reasons,
        kpiItems: document.querySelector('[data-kpi="items"]')?.textContent,
      };
    });

    expect(shown).toEqual({ ...report.counts, kpiItems: String(report.counts.items) });
    expect(report.counts).toMatchObject({ items: 45, predicted: 40, rejected: 5 });
  });

  it('shows keys and messages holding HTML as text and never runs them', async () => {
    const { page } = await openReport();

    const result = await page.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: unknown }).__pwned,
      scripts: document.scripts.length,
      images: document.images.length,
      keys: Array.from(document.querySelectorAll('#sample-rejections td.key')).map((cell) => cell.textContent),
      bold: document.querySelectorAll('#sample-rejections b').length,
    }));

    expect(result.pwned).toBeUndefined();
    expect(result.scripts).toBe(3);
    expect(result.images).toBe(0);
    expect(result.bold).toBe(0);
    expect(result.keys).toEqual(expect.arrayContaining([SCRIPT_KEY, IMG_KEY]));
  });
});
