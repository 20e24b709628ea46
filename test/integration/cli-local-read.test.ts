import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ENDPOINTS_FILE } from '../../pipeline/local/local-servers.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { type OutcomeRecord, type RunRecord, RunRecordSchema } from '../../shared/records.ts';
import { predictionsCsv } from '../../stages/report/predictions-csv.ts';
import { type RunReport, RunReportSchema } from '../../stages/report/run-report.ts';
import { captureIo, runCli, SteppingClock } from '../helpers/cli-harness.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

const BUCKET = 'nightshift-local';
const NOW = new Date('2026-11-23T03:00:00Z');
const settings = { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) };
const reportUris = (runId: string) => ({
  json: `s3://${BUCKET}/reports/${runId}/report.json`,
  csv: `s3://${BUCKET}/reports/${runId}/predictions.csv`,
  html: `s3://${BUCKET}/reports/${runId}/report.html`,
});

const RUNS: RunRecord[] = [
  {
    runId: 'demo-1',
    status: 'SUCCEEDED',
    dataset: `s3://${BUCKET}/datasets/demo/`,
    settings,
    settingsHash: 'h1',
    createdAt: '2026-11-23T01:00:00.000Z',
    updatedAt: '2026-11-23T01:04:10.000Z',
    finishedAt: '2026-11-23T01:04:10.000Z',
    counts: { items: 4, predicted: 3, rejected: 1, rejectedByReason: { NOT_AN_IMAGE: 1 } },
    timings: {
      plan: { startedAt: '2026-11-23T01:00:00.000Z', finishedAt: '2026-11-23T01:00:02.000Z', seconds: 2 },
      transform: { startedAt: '2026-11-23T01:00:10.000Z', finishedAt: '2026-11-23T01:03:10.000Z', seconds: 180 },
      report: { startedAt: '2026-11-23T01:04:00.000Z', finishedAt: '2026-11-23T01:04:10.000Z', seconds: 10 },
    },
    report: reportUris('demo-1'),
  },
  {
    runId: 'demo-2',
    status: 'FAILED',
    dataset: `s3://${BUCKET}/manifests/missing.jsonl`,
    settings,
    settingsHash: 'h2',
    createdAt: '2026-11-23T02:00:00.000Z',
    updatedAt: '2026-11-23T02:00:05.000Z',
    finishedAt: '2026-11-23T02:00:05.000Z',
    error: { error: 'ManifestError', cause: `manifest s3://${BUCKET}/manifests/missing.jsonl does not exist` },
  },
  {
    runId: 'demo-3',
    status: 'RUNNING',
    dataset: `s3://${BUCKET}/datasets/big/`,
    settings,
    settingsHash: 'h3',
    createdAt: '2026-11-23T02:30:00.000Z',
    updatedAt: '2026-11-23T02:30:00.000Z',
  },
];

const ROWS: OutcomeRecord[] = [
  {
    runId: 'demo-1',
    key: 'datasets/demo/receipt-01.jpg',
    bucket: BUCKET,
    outcome: 'PREDICTED',
    modelName: 'paddleocr',
    modelVersion: 'v4',
    text: 'TOTAL 12.50',
    confidence: 0.93,
    expected: 'TOTAL 12.50',
    match: true,
    part: 'part-000000000',
    updatedAt: '2026-11-23T01:03:30.000Z',
  },
  {
    runId: 'demo-1',
    key: 'datasets/demo/sign-stop.png',
    bucket: BUCKET,
    outcome: 'PREDICTED',
    modelName: 'paddleocr',
    modelVersion: 'v4',
    text: 'STOP',
    confidence: 0.99,
    part: 'part-000000000',
    updatedAt: '2026-11-23T01:03:30.000Z',
  },
  {
    runId: 'demo-1',
    key: 'datasets/demo/street/shop.jpg',
    bucket: BUCKET,
    outcome: 'PREDICTED',
    modelName: 'paddleocr',
    modelVersion: 'v4',
    text: 'Bakery, "fresh" bread',
    confidence: 0.71,
    part: 'part-000000000',
    updatedAt: '2026-11-23T01:03:30.000Z',
  },
  {
    runId: 'demo-1',
    key: 'datasets/demo/notes.txt',
    bucket: BUCKET,
    outcome: 'REJECTED',
    reason: 'NOT_AN_IMAGE',
    message: 'not an image: text/plain',
    stage: 'preprocess',
    updatedAt: '2026-11-23T01:01:00.000Z',
  },
  {
    runId: 'demo-2',
    key: 'other-run.jpg',
    bucket: BUCKET,
    outcome: 'REJECTED',
    reason: 'NOT_FOUND',
    message: 'gone',
    stage: 'plan',
    updatedAt: '2026-11-23T02:00:01.000Z',
  },
];

const REPORT: RunReport = RunReportSchema.parse({
  runId: 'demo-1',
  dataset: `s3://${BUCKET}/datasets/demo/`,
  settings,
  status: 'SUCCEEDED',
  startedAt: '2026-11-23T01:00:00.000Z',
  generatedAt: '2026-11-23T01:04:10.000Z',
  durationSeconds: 250,
  counts: { items: 4, predicted: 3, rejected: 1, rejectedByReason: { NOT_AN_IMAGE: 1 } },
  confidence: {
    predictions: 3,
    histogram: Array.from({ length: 10 }, (_, i) => ({
      from: i / 10,
      to: (i + 1) / 10,
      count: [7, 9].includes(i) ? 1 : 0,
    })),
    mean: 0.8767,
  },
  accuracy: { withExpected: 1, matches: 1, rate: 1 },
  models: ['paddleocr@v4'],
  stageTimes: RUNS[0]?.timings ?? {},
  sampleRejections: [{ key: 'datasets/demo/notes.txt', reason: 'NOT_AN_IMAGE', message: 'not an image: text/plain' }],
  explorer: { shown: 4, of: 4, caps: { mismatched: 200, rejected: 100 } },
  files: reportUris('demo-1'),
});
const HTML = '<!doctype html><title>demo-1</title><p>report</p>\n';

describe('read commands with --local against the local S3 and DynamoDB servers', () => {
  let aws: LocalAws;
  let home: string;
  let work: string;
  const clock = new SteppingClock(NOW);

  beforeAll(async () => {
    aws = await startLocalAws();
    const { runsTable, predictionsTable } = await aws.createTables();
    await aws.createBucket(BUCKET);
    const runStore = new DynamoRunStore(aws.doc, runsTable, clock);
    for (const run of RUNS) await runStore.create(RunRecordSchema.parse(run));
    await new DynamoPredictionStore(aws.doc, predictionsTable).put(ROWS);
    const put = (key: string, body: string, type: string) =>
      aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: type }));
    await put('reports/demo-1/report.json', JSON.stringify(REPORT), 'application/json');
    await put('reports/demo-1/predictions.csv', await csvOf(ROWS.filter((r) => r.runId === 'demo-1')), 'text/csv');
    await put('reports/demo-1/report.html', HTML, 'text/html');
    home = await mkdtemp(join(tmpdir(), 'nightshift-home-'));
    work = await mkdtemp(join(tmpdir(), 'nightshift-work-'));
    await writeFile(
      join(home, LOCAL_ENDPOINTS_FILE),
      JSON.stringify({
        s3: aws.s3Endpoint,
        dynamodb: aws.dynamoEndpoint,
        pipelineBucket: BUCKET,
        runsTable,
        predictionsTable,
      }),
    );
  });

  afterAll(async () => {
    await aws?.stop();
    await Promise.all([home, work].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  const cli = (...argv: string[]) =>
    runCli(argv, { io: captureIo({ env: { NIGHTSHIFT_HOME: home }, cwd: work }), deps: { clock } });

  describe('runs', () => {
    it('lists the runs newest first', async () => {
      const result = await cli('runs', '--local');

      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines[0]).toMatch(
        /^RUN\s+STATUS\s+CREATED\s+DURATION\s+ITEMS\s+PREDICTED\s+NO TEXT\s+REJECTED\s+ACCURACY\s+DATASET$/,
      );
      expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 2))).toEqual([
        ['demo-3', 'RUNNING'],
        ['demo-2', 'FAILED'],
        ['demo-1', 'SUCCEEDED'],
      ]);
      expect(lines[3]).toMatch(
        /demo-1\s+SUCCEEDED\s+2026-11-23 01:00:00 UTC\s+4m 10s\s+4\s+3\s+0\s+1\s+100\.0%\s+s3:\/\/nightshift-local\/datasets\/demo\//,
      );
    });

    it('filters by status on the byStatus index and honours --limit', async () => {
      const failed = await cli('runs', '--local', '--status', 'failed', '--json');
      const newest = await cli('runs', '--local', '--limit', '2', '--json');

      expect((JSON.parse(failed.stdout) as RunRecord[]).map((r) => r.runId)).toEqual(['demo-2']);
      expect((JSON.parse(newest.stdout) as RunRecord[]).map((r) => r.runId)).toEqual(['demo-3', 'demo-2']);
    });
  });

  describe('status', () => {
    it('shows counts, stage timings, the report and a cost estimate, and exits 0 for a run that succeeded', async () => {
      const result = await cli('status', 'demo-1', '--local');

      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^run\s+demo-1$/m);
      expect(result.stdout).toMatch(/^status\s+SUCCEEDED$/m);
      expect(result.stdout).toMatch(/^finished\s+2026-11-23 01:04:10 UTC \(4m 10s\)$/m);
      expect(result.stdout).toMatch(/^rejected\s+1 \(NOT_AN_IMAGE 1\)$/m);
      expect(result.stdout).toMatch(/^stages\s+plan 2\.0s · transform 3m 00s · report 10s$/m);
      expect(result.stdout).toMatch(/^report\s+s3:\/\/nightshift-local\/reports\/demo-1\/report\.html$/m);
      expect(result.stdout).toMatch(/^cost\s+~\$0\.07 \(estimate\), GPU 99%$/m);
      expect(result.stdout).toMatch(
        /^ {2}SageMaker\s+\$0\.07 {2}Batch Transform: 0\.05 h x 1 x ml\.g5\.xlarge at \$1\.408\/h$/m,
      );
      expect(result.stdout).toMatch(/^ {2}Lambda\s+\S+ {2}Lambda preprocess \S+ · Lambda aggregate \S+/m);
      expect(result.stdout).not.toContain('console');
    });

    it('exits 1 for a run that failed and shows its error', async () => {
      const result = await cli('status', 'demo-2', '--local', '--json');

      expect(result.code).toBe(1);
      const printed = JSON.parse(result.stdout) as { run: RunRecord; cost: { totalUsd: number } };
      expect(printed.run.error?.error).toBe('ManifestError');
      expect(printed.cost.totalUsd).toBeGreaterThanOrEqual(0);
    });

    it('says the run was not found and how to list runs', async () => {
      const result = await cli('status', 'nope', '--local');

      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^error: run "nope" not found in table runs-[0-9a-z-]+ \(the local servers \(.+\)\): list runs with `nightshift runs --local`\n$/,
      );
    });
  });

  describe('report', () => {
    it('downloads the three report files byte for byte and summarises report.json', async () => {
      const out = join(work, 'out');

      const result = await cli('report', 'demo-1', '--local', '--out', out);

      expect(result.code).toBe(0);
      expect(JSON.parse(await readFile(join(out, 'report.json'), 'utf8'))).toEqual(REPORT);
      expect(await readFile(join(out, 'predictions.csv'), 'utf8')).toBe(
        await csvOf(ROWS.filter((r) => r.runId === 'demo-1')),
      );
      expect(await readFile(join(out, 'report.html'), 'utf8')).toBe(HTML);
      expect(result.stdout).toContain(`report of run demo-1 in ${out}`);
      expect(result.stdout).toContain(
        '4 items · 3 predicted · 1 rejected · mean confidence 0.877 · accuracy 100.0% of 1',
      );
    });

    it('writes to ./nightshift-reports/RUN by default and opens report.html with --open', async () => {
      const opened: string[] = [];
      const io = captureIo({ env: { NIGHTSHIFT_HOME: home }, cwd: work });

      const result = await runCli(['report', 'demo-1', '--local', '--open', '--json'], {
        io,
        deps: {
          clock,
          openFile: async (path) => {
            opened.push(path);
            return true;
          },
        },
      });

      const html = join(work, 'nightshift-reports', 'demo-1', 'report.html');
      expect(result.code).toBe(0);
      expect(opened).toEqual([html]);
      expect(JSON.parse(result.stdout)).toMatchObject({ runId: 'demo-1', opened: true, files: { html } });
    });

    it('prints the file URL when no browser opener is installed', async () => {
      const io = captureIo({ env: { NIGHTSHIFT_HOME: home }, cwd: work });

      const result = await runCli(['report', 'demo-1', '--local', '--open'], {
        io,
        deps: { clock, openFile: async () => false },
      });

      expect(result.code).toBe(0);
      expect(result.stdout).toContain(
        `no browser opener found: open file://${join(work, 'nightshift-reports', 'demo-1', 'report.html')}`,
      );
    });

    it('explains why a running or failed run has no report', async () => {
      const runningRun = await cli('report', 'demo-3', '--local');
      const failedRun = await cli('report', 'demo-2', '--local');

      expect(runningRun.code).toBe(1);
      expect(runningRun.stderr).toContain('run "demo-3" has no report: it is still RUNNING');
      expect(failedRun.stderr).toContain('run "demo-2" has no report: it FAILED before the report stage');
    });
  });

  describe('predictions', () => {
    it("lists the run's rows in key order, and only that run's", async () => {
      const result = await cli('predictions', 'demo-1', '--local');

      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^KEY\s+OUTCOME\s+TEXT \/ REASON\s+CONF\s+EXPECTED$/);
      expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual([
        'datasets/demo/notes.txt',
        'datasets/demo/receipt-01.jpg',
        'datasets/demo/sign-stop.png',
        'datasets/demo/street/shop.jpg',
      ]);
      expect(lines[1]).toMatch(/REJECTED\s+NOT_AN_IMAGE: not an image: text\/plain/);
      expect(lines[2]).toMatch(/PREDICTED\s+TOTAL 12\.50\s+0\.930\s+TOTAL 12\.50$/);
    });

    it('writes the columns of predictions.csv with --format csv', async () => {
      const result = await cli('predictions', 'demo-1', '--local', '--format', 'csv');

      const inKeyOrder = ROWS.filter((r) => r.runId === 'demo-1').sort((a, b) => (a.key < b.key ? -1 : 1));
      expect(result.stdout).toBe(await csvOf(inKeyOrder));
    });

    it('filters by key prefix and by text, ignoring case', async () => {
      const byKey = await cli('predictions', 'demo-1', '--local', '--key', 'datasets/demo/s', '--format', 'json');
      const byText = await cli('predictions', 'demo-1', '--local', '--search', 'FRESH', '--json');
      const byReason = await cli('predictions', 'demo-1', '--local', '--search', 'not_an_image', '--json');

      expect((JSON.parse(byKey.stdout) as OutcomeRecord[]).map((r) => r.key)).toEqual([
        'datasets/demo/sign-stop.png',
        'datasets/demo/street/shop.jpg',
      ]);
      expect((JSON.parse(byText.stdout) as OutcomeRecord[]).map((r) => r.key)).toEqual([
        'datasets/demo/street/shop.jpg',
      ]);
      expect((JSON.parse(byReason.stdout) as OutcomeRecord[]).map((r) => r.key)).toEqual(['datasets/demo/notes.txt']);
    });

    it('stops at --limit and says so', async () => {
      const result = await cli('predictions', 'demo-1', '--local', '--limit', '2');

      expect(result.stdout.trim().split('\n')).toHaveLength(3);
      expect(result.stderr).toContain('showing the first 2 rows');
    });

    it('rejects an unknown --format with exit 2', async () => {
      const result = await cli('predictions', 'demo-1', '--local', '--format', 'xml');

      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--format must be one of table, json, csv, got "xml"');
    });

    it('says the run was not found rather than printing nothing', async () => {
      const result = await cli('predictions', 'nope', '--local');

      expect(result.code).toBe(1);
      expect(result.stderr).toContain('run "nope" not found');
    });
  });
});

async function csvOf(rows: OutcomeRecord[]): Promise<string> {
  let text = '';
  for await (const chunk of predictionsCsv(
    (async function* () {
      yield* rows;
    })(),
  ))
    text += chunk;
  return text;
}
