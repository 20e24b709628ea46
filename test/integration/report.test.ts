import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { lambdaClients, wireFrom } from '../../shared/aws/lambda-wiring.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { COST_SERVICES, TRANSFORM_PRICE_PER_HOUR } from '../../shared/cost-model.ts';
import { InvalidInputError, PipelineStateError } from '../../shared/errors.ts';
import { PreprocessSettingsSchema, TransformSettingsSchema } from '../../shared/execution-input.ts';
import { mapResultsLayout, runLayout } from '../../shared/layout.ts';
import type { Log } from '../../shared/logging.ts';
import type { Clock } from '../../shared/ports.ts';
import type {
  DatasetItem,
  OutcomeRecord,
  PartStats,
  PredictionRecord,
  RejectionReason,
  RejectionRecord,
  RunRecord,
} from '../../shared/records.ts';
import type { S3Location } from '../../shared/s3-location.ts';
import type { ReportEvent } from '../../shared/stage-events.ts';
import { thumbnailPackBody, thumbnailPackKey } from '../../shared/thumbnails.ts';
import { createHandler } from '../../stages/report/handler.ts';
import { PREDICTIONS_CSV_COLUMNS } from '../../stages/report/predictions-csv.ts';
import { type ReportDeps, runReport } from '../../stages/report/report.ts';
import { RunReportSchema } from '../../stages/report/run-report.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { testWire } from '../helpers/stage-wiring.ts';

const BUCKET = 'nightshift-report-test';
const CREATED_AT = '2025-03-01T09:00:00.000Z';
const NOW = new Date('2025-03-01T09:30:00.000Z');
const clock: Clock = { now: () => NOW };
const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
const settings = { preprocess: PreprocessSettingsSchema.parse({}), transform: TransformSettingsSchema.parse({}) };

let aws: LocalAws;
let tables: { runsTable: string; predictionsTable: string };
let deps: ReportDeps;

beforeAll(async () => {
  aws = await startLocalAws();
  await aws.createBucket(BUCKET);
  tables = await aws.createTables();
  deps = {
    objects: new S3ObjectStore(aws.s3),
    runs: new DynamoRunStore(aws.doc, tables.runsTable, clock),
    predictions: new DynamoPredictionStore(aws.doc, tables.predictionsTable),
    clock,
    log: silent,
  };
});

afterAll(async () => {
  await aws?.stop();
});

// --- fixtures ---------------------------------------------------------------------------------------------------

function item(index: number, key: string, expected?: string): DatasetItem {
  return { index, bucket: 'datasets', key, ...(expected === undefined ? {} : { expected }) };
}

function predicted(runId: string, key: string, fields: Partial<PredictionRecord> = {}): PredictionRecord {
  return {
    runId,
    key,
    bucket: 'datasets',
    outcome: 'PREDICTED',
    modelName: 'paddleocr',
    modelVersion: '2.8',
    confidence: 0.9,
    part: 'part-00000',
    updatedAt: CREATED_AT,
    ...fields,
  };
}

function rejected(
  runId: string,
  key: string,
  reason: RejectionReason,
  stage: RejectionRecord['stage'],
): RejectionRecord {
  return {
    runId,
    key,
    bucket: 'datasets',
    outcome: 'REJECTED',
    reason,
    message: `${reason.toLowerCase()} for ${key}`,
    stage,
    updatedAt: CREATED_AT,
  };
}

function stats(part: string, fields: Partial<PartStats> = {}): PartStats {
  return {
    part,
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

/** Seeds what the plan and the earlier stages leave behind: the run record, the item parts and the rows. */
async function seedRun(
  runId: string,
  plan: { items: number; accepted: DatasetItem[]; rows: OutcomeRecord[]; partSize?: number },
): Promise<void> {
  const record: RunRecord = {
    runId,
    status: 'RUNNING',
    dataset: 's3://datasets/photos/',
    settings,
    settingsHash: 'sha256-of-dataset-and-settings',
    createdAt: CREATED_AT,
    updatedAt: CREATED_AT,
    counts: { items: plan.items, predicted: 0, rejected: 0, rejectedByReason: {} },
  };
  await deps.runs.create(record);
  const partSize = plan.partSize ?? 100;
  const partKeys: string[] = [];
  for (let start = 0; start < plan.accepted.length; start += partSize) {
    const key = `${runLayout.items(runId)}part-${String(partKeys.length).padStart(5, '0')}.jsonl`;
    const lines = plan.accepted.slice(start, start + partSize).map((entry) => JSON.stringify(entry));
    await deps.objects.put({ bucket: BUCKET, key }, `${lines.join('\n')}\n`, 'application/x-ndjson');
    partKeys.push(key);
  }
  await deps.objects.put(
    { bucket: BUCKET, key: runLayout.itemsManifest(runId) },
    JSON.stringify(partKeys),
    'application/json',
  );
  if (plan.rows.length > 0) await deps.predictions.put(plan.rows);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of deps.objects.list({ bucket: BUCKET, key: prefix })) keys.push(object.key);
  return keys;
}

async function readText(key: string): Promise<string> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return (await out.Body?.transformToString('utf-8')) ?? '';
}

async function readReport(runId: string) {
  return RunReportSchema.parse(JSON.parse(await readText(`${runLayout.report(runId)}report.json`)));
}

/** RFC 4180: quoted fields may hold commas, CRLF and doubled quotes; records end with CRLF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

async function readCsv(runId: string): Promise<{ text: string; header: string[]; rows: Record<string, string>[] }> {
  const text = await readText(`${runLayout.report(runId)}predictions.csv`);
  const [header = [], ...records] = parseCsv(text);
  return {
    text,
    header,
    rows: records.map((record) => Object.fromEntries(header.map((name, i) => [name, record[i] ?? '']))),
  };
}

async function tableRows(runId: string): Promise<OutcomeRecord[]> {
  const rows: OutcomeRecord[] = [];
  for await (const row of deps.predictions.list(runId)) rows.push(row);
  return rows;
}

function event(runId: string, fields: Partial<ReportEvent> = {}): ReportEvent {
  return { runId, pipelineBucket: BUCKET, ...fields };
}

/** A Distributed Map child execution as ResultWriter exports it with the default `Transformation: NONE`. */
function childExecution(name: string, input: unknown, result: { output: unknown } | { error: string; cause: string }) {
  const execution = {
    ExecutionArn: `arn:aws:states:us-east-1:123456789012:execution:Nightshift/Aggregate:${name}`,
    Input: JSON.stringify(input),
    InputDetails: { Included: true },
    Name: name,
    RedriveCount: 0,
    StartDate: '2025-03-01T09:20:00.000Z',
    StateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Nightshift/Aggregate',
    StopDate: '2025-03-01T09:20:03.000Z',
  };
  return 'output' in result
    ? {
        ...execution,
        Output: JSON.stringify(result.output),
        OutputDetails: { Included: true },
        RedriveStatus: 'NOT_REDRIVABLE',
        RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven',
        Status: 'SUCCEEDED',
      }
    : {
        ...execution,
        Error: result.error,
        Cause: result.cause,
        RedriveStatus: 'REDRIVABLE',
        Status: 'FAILED',
      };
}

// --- the scenarios ----------------------------------------------------------------------------------------------

describe('report stage', () => {
  const TRICKY_KEY = 'photos/b, "quoted"\nline.jpg';
  const FORMULA_KEY = '=HYPERLINK("http://attacker.example","open").png';

  async function seedMixedRun(runId: string): Promise<PartStats> {
    const accepted = [
      item(0, 'photos/a.jpg', 'hello'),
      item(1, TRICKY_KEY),
      item(2, FORMULA_KEY),
      item(3, 'photos/d.jpg'),
    ];
    await seedRun(runId, {
      items: 5,
      accepted,
      rows: [
        predicted(runId, 'photos/a.jpg', { text: 'hello', expected: 'hello', match: true, confidence: 0.95 }),
        predicted(runId, TRICKY_KEY, { label: 'cat', text: 'a "cat", sleeping', confidence: 0.55 }),
        predicted(runId, FORMULA_KEY, { text: '-1+2', confidence: 0.05 }),
        rejected(runId, 'photos/d.jpg', 'MODEL_ERROR', 'aggregate'),
        rejected(runId, 'photos/notes.txt', 'UNSUPPORTED_TYPE', 'plan'),
      ],
    });
    return stats('part-00000', {
      lines: 4,
      predicted: 3,
      rejected: 1,
      rejectedByReason: { MODEL_ERROR: 1 },
      confidenceHistogram: [1, 0, 0, 0, 0, 1, 0, 0, 0, 1],
      confidenceSum: 1.55,
      withExpected: 1,
      matches: 1,
      models: ['paddleocr@2.8'],
    });
  }

  it('writes report.json, predictions.csv and report.html whose counts reconcile with the input objects', async () => {
    const part = await seedMixedRun('run-mixed');

    const result = await runReport(
      event('run-mixed', {
        parts: [part],
        stageTimes: { plan: { startedAt: '2025-03-01T09:00:00.000Z', finishedAt: '2025-03-01T09:00:12.500Z' } },
      }),
      deps,
    );

    const counts = {
      items: 5,
      predicted: 3,
      noText: 0,
      rejected: 2,
      rejectedByReason: { MODEL_ERROR: 1, UNSUPPORTED_TYPE: 1 },
    };
    expect(result.counts).toEqual(counts);
    expect(result.counts.predicted + (result.counts.noText ?? 0) + result.counts.rejected).toBe(result.counts.items);
    const report = await readReport('run-mixed');
    expect(report.counts).toEqual(counts);
    expect(report.confidence.mean).toBeCloseTo(1.55 / 3, 4);
    expect(report.confidence.histogram.map((bucket) => bucket.count)).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(report.accuracy).toEqual({ withExpected: 1, matches: 1, rate: 1 });
    expect(report.models).toEqual(['paddleocr@2.8']);
    expect(report.stageTimes.plan?.seconds).toBe(12.5);
    expect(report.sampleRejections.map((r) => r.reason)).toEqual(['MODEL_ERROR', 'UNSUPPORTED_TYPE']);
    const html = await readText(`${runLayout.report('run-mixed')}report.html`);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<canvas id="chart-confidence"');
    expect(html).not.toMatch(/<(link|img|iframe)\b|\ssrc=/i);
  });

  it("estimates the run's AWS cost by service with the GPU share, in report.json and report.html", async () => {
    const part = await seedMixedRun('run-cost');

    await runReport(
      event('run-cost', {
        parts: [part],
        stageTimes: { transform: { startedAt: '2025-03-01T09:00:00.000Z', finishedAt: '2025-03-01T09:30:00.000Z' } },
      }),
      deps,
    );

    const report = await readReport('run-cost');
    const cost = report.cost;
    expect(cost?.estimate).toBe(true);
    // Half an hour of one ml.g5.xlarge, and the rest priced from the 5 items by shared/cost-model.ts.
    expect(cost?.gpuUsd).toBeCloseTo(0.5 * (TRANSFORM_PRICE_PER_HOUR['ml.g5.xlarge'] ?? Number.NaN), 9);
    expect(cost?.byService.map((entry) => entry.service)).toEqual([...COST_SERVICES]);
    expect(cost?.byService.reduce((sum, entry) => sum + entry.usd, 0)).toBeCloseTo(cost?.totalUsd ?? Number.NaN, 9);
    expect(cost?.gpuShare).toBeGreaterThan(0.99);
    expect(cost?.lines.find((line) => line.item === 'DynamoDB writes')?.detail).toMatch(/^5 rows/);
    const html = await readText(`${runLayout.report('run-cost')}report.html`);
    expect(html).toContain('<h2>Estimated cost</h2>');
    expect(html).toMatch(/About \$0\.70 on AWS at us-east-1 list prices, 100% of it GPU time/);
  });

  it('writes one RFC 4180 CSV line per input object, quoting commas, quotes and line breaks', async () => {
    const part = await seedMixedRun('run-csv');

    await runReport(event('run-csv', { parts: [part] }), deps);

    const csv = await readCsv('run-csv');
    expect(csv.header).toEqual([...PREDICTIONS_CSV_COLUMNS]);
    expect(csv.rows).toHaveLength(5);
    expect(csv.text.endsWith('\r\n')).toBe(true);
    const tricky = csv.rows.find((row) => row.key === TRICKY_KEY);
    expect(tricky).toMatchObject({ outcome: 'PREDICTED', label: 'cat', text: 'a "cat", sleeping', confidence: '0.55' });
    expect(csv.text).toContain('"photos/b, ""quoted""\nline.jpg"');
    const rejection = csv.rows.find((row) => row.key === 'photos/d.jpg');
    expect(rejection).toMatchObject({
      outcome: 'REJECTED',
      reason: 'MODEL_ERROR',
      message: 'model_error for photos/d.jpg',
    });
    const matched = csv.rows.find((row) => row.key === 'photos/a.jpg');
    expect(matched).toMatchObject({ expected: 'hello', match: 'true', confidence: '0.95' });
  });

  it('keeps spreadsheet formulas in keys and texts inert by prefixing a quote', async () => {
    const part = await seedMixedRun('run-formula');

    await runReport(event('run-formula', { parts: [part] }), deps);

    const csv = await readCsv('run-formula');
    const row = csv.rows.find((r) => r.key?.endsWith('.png'));
    expect(row?.key).toBe(`'${FORMULA_KEY}`);
    expect(row?.text).toBe("'-1+2");
  });

  it('finalises the run record as SUCCEEDED with the counts, the report URIs and the stage timings', async () => {
    const part = await seedMixedRun('run-final');

    const result = await runReport(
      event('run-final', {
        parts: [part],
        stageTimes: {
          plan: { startedAt: '2025-03-01T09:00:00.000Z', finishedAt: '2025-03-01T09:00:10.000Z' },
          report: { startedAt: '2025-03-01T09:29:00.000Z' },
        },
      }),
      deps,
    );

    const run = await deps.runs.get('run-final');
    expect(run?.status).toBe('SUCCEEDED');
    expect(run?.counts).toEqual(result.counts);
    expect(run?.finishedAt).toBe(NOW.toISOString());
    expect(run?.report).toEqual({
      json: `s3://${BUCKET}/reports/run-final/report.json`,
      csv: `s3://${BUCKET}/reports/run-final/predictions.csv`,
      html: `s3://${BUCKET}/reports/run-final/report.html`,
    });
    expect(result.report).toEqual(run?.report);
    expect(run?.timings?.plan?.seconds).toBe(10);
    expect(run?.timings?.report).toEqual({
      startedAt: '2025-03-01T09:29:00.000Z',
      finishedAt: NOW.toISOString(),
      seconds: 60,
    });
  });

  it('records a NOT_PROCESSED row for every item whose batch failed, so every input object has exactly one row', async () => {
    const accepted = Array.from({ length: 250 }, (_, i) => item(i, `img/${String(i).padStart(4, '0')}.jpg`));
    const rows = accepted.filter((_, i) => i % 2 === 0).map((entry) => predicted('run-gaps', entry.key));
    await seedRun('run-gaps', { items: 250, accepted, rows });

    const result = await runReport(event('run-gaps'), deps);

    expect(result.counts).toEqual({
      items: 250,
      predicted: 125,
      noText: 0,
      rejected: 125,
      rejectedByReason: { NOT_PROCESSED: 125 },
    });
    const stored = await tableRows('run-gaps');
    expect(stored).toHaveLength(250);
    const missing = stored.find((row) => row.key === 'img/0001.jpg');
    expect(missing).toMatchObject({
      outcome: 'REJECTED',
      reason: 'NOT_PROCESSED',
      stage: 'report',
      bucket: 'datasets',
    });
    expect(missing?.outcome === 'REJECTED' && missing.message).toMatch(
      /start the run again with the same input and run id/,
    );
    const csv = await readCsv('run-gaps');
    expect(new Set(csv.rows.map((row) => row.key)).size).toBe(250);
    expect(csv.rows.filter((row) => row.reason === 'NOT_PROCESSED')).toHaveLength(125);
    expect((await readReport('run-gaps')).counts).toEqual(result.counts);
  });

  it('gives the same counts and no duplicate rows when the report runs twice', async () => {
    const accepted = Array.from({ length: 6 }, (_, i) => item(i, `twice/${i}.jpg`));
    await seedRun('run-twice', {
      items: 7,
      accepted,
      rows: [
        predicted('run-twice', 'twice/0.jpg'),
        predicted('run-twice', 'twice/3.jpg'),
        rejected('run-twice', 'twice/readme.md', 'UNSUPPORTED_TYPE', 'plan'),
      ],
    });

    const first = await runReport(event('run-twice'), deps);
    const firstCsv = await readCsv('run-twice');
    const second = await runReport(event('run-twice'), deps);
    const secondCsv = await readCsv('run-twice');

    expect(second.counts).toEqual(first.counts);
    expect(second.counts).toEqual({
      items: 7,
      predicted: 2,
      noText: 0,
      rejected: 5,
      rejectedByReason: { NOT_PROCESSED: 4, UNSUPPORTED_TYPE: 1 },
    });
    expect(await tableRows('run-twice')).toHaveLength(7);
    expect(secondCsv.rows).toEqual(firstCsv.rows);
    expect(secondCsv.rows).toHaveLength(7);
  });

  it('reads the statistics from the aggregate Map Run ResultWriter output exactly as from inline parts, batched children and one-part children alike', async () => {
    const part = await seedMixedRun('run-results');
    const first = { ...part, part: 'part-00000', predicted: 2, confidenceHistogram: [1, 0, 0, 0, 0, 0, 0, 0, 0, 1] };
    const parts: PartStats[] = [
      { ...first, confidenceSum: 1.0 },
      stats('part-00001', {
        lines: 1,
        predicted: 1,
        confidenceHistogram: [0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        confidenceSum: 0.55,
        models: ['paddleocr@2.8', 'paddleocr@2.9'],
      }),
      stats('part-00002', { lines: 0 }),
    ];
    const prefix = `${mapResultsLayout.aggregate}/4f0c2d1e-90ab-3c4d-8e7f-0123456789ab/`;
    const input = (...n: number[]) => ({
      Items: n.map((i) => ({ key: `runs/run-results/transform-output/part-0000${i}.jsonl.out` })),
      BatchInput: { runId: 'run-results', pipelineBucket: BUCKET },
    });
    const files: Record<string, unknown[]> = {
      // A child of the batched map returns {parts}; one of the one-part-per-child map (a redriven run's earlier
      // children) returned its PartStats.
      'SUCCEEDED_0.json': [childExecution('a1', input(0, 1), { output: { parts: [parts[0], parts[1]] } })],
      'SUCCEEDED_1.json': [childExecution('a3', input(2), { output: parts[2] })],
      'FAILED_0.json': [
        childExecution('a4', input(3), { error: 'States.TaskFailed', cause: 'Lambda timed out after 900 s' }),
      ],
    };
    for (const [name, entries] of Object.entries(files)) {
      await deps.objects.put({ bucket: BUCKET, key: `${prefix}${name}` }, JSON.stringify(entries), 'application/json');
    }
    const resultFile = (name: string) => ({ Key: `${prefix}${name}`, Size: JSON.stringify(files[name]).length });
    const manifest = {
      DestinationBucket: BUCKET,
      MapRunArn:
        'arn:aws:states:us-east-1:123456789012:mapRun:Nightshift/Aggregate:4f0c2d1e-90ab-3c4d-8e7f-0123456789ab',
      ResultFiles: {
        FAILED: [resultFile('FAILED_0.json')],
        PENDING: [],
        SUCCEEDED: [resultFile('SUCCEEDED_0.json'), resultFile('SUCCEEDED_1.json')],
      },
    };
    await deps.objects.put(
      { bucket: BUCKET, key: `${prefix}manifest.json` },
      JSON.stringify(manifest),
      'application/json',
    );

    await runReport(event('run-results', { parts }), deps);
    const fromInline = await readReport('run-results');
    await runReport(
      event('run-results', { aggregateResults: { bucket: BUCKET, manifestKey: `${prefix}manifest.json` } }),
      deps,
    );
    const fromResultWriter = await readReport('run-results');

    expect(fromResultWriter.counts).toEqual(fromInline.counts);
    expect(fromResultWriter.confidence).toEqual(fromInline.confidence);
    expect(fromResultWriter.accuracy).toEqual(fromInline.accuracy);
    expect(fromResultWriter.models).toEqual(['paddleocr@2.8', 'paddleocr@2.9']);
    expect(fromResultWriter.confidence.predictions).toBe(3);
    expect(fromResultWriter.mapRun).toMatchObject({
      arn: manifest.MapRunArn,
      succeeded: 2,
      failed: 1,
      pending: 0,
      failures: [{ error: 'States.TaskFailed', cause: 'Lambda timed out after 900 s' }],
    });
  });

  it('produces a valid report for a run with no input objects', async () => {
    await seedRun('run-empty', { items: 0, accepted: [], rows: [] });

    const result = await runReport(event('run-empty'), deps);

    expect(result.counts).toEqual({ items: 0, predicted: 0, noText: 0, rejected: 0, rejectedByReason: {} });
    const report = await readReport('run-empty');
    expect(report.confidence.mean).toBeNull();
    expect(report.accuracy).toBeNull();
    expect(report.sampleRejections).toEqual([]);
    const csv = await readCsv('run-empty');
    expect(csv.header).toEqual([...PREDICTIONS_CSV_COLUMNS]);
    expect(csv.rows).toEqual([]);
    expect(await readText(`${runLayout.report('run-empty')}report.html`)).toContain('no input objects');
    expect((await deps.runs.get('run-empty'))?.status).toBe('SUCCEEDED');
  });

  it('fails with PipelineStateError, leaving the run unfinished, when the run has more rows than input objects', async () => {
    await seedRun('run-extra', {
      items: 1,
      accepted: [item(0, 'extra/a.jpg')],
      rows: [predicted('run-extra', 'extra/a.jpg'), predicted('run-extra', 'extra/stray.jpg')],
    });

    const attempt = runReport(event('run-extra'), deps);

    await expect(attempt).rejects.toBeInstanceOf(PipelineStateError);
    await expect(attempt).rejects.toThrow(/2 rows .* for 1 input objects/);
    expect((await deps.runs.get('run-extra'))?.status).toBe('RUNNING');
  });

  it('fails with PipelineStateError when rows are missing for objects the plan rejected', async () => {
    await seedRun('run-lost', {
      items: 3,
      accepted: [item(0, 'lost/a.jpg'), item(1, 'lost/b.jpg')],
      rows: [predicted('run-lost', 'lost/a.jpg')],
    });

    const attempt = runReport(event('run-lost'), deps);

    await expect(attempt).rejects.toThrow(PipelineStateError);
    await expect(attempt).rejects.toThrow(/rejection rows are missing/);
  });

  it('fails with PipelineStateError pointing at the plan stage when the run record is missing', async () => {
    const attempt = runReport(event('run-never-planned'), deps);

    await expect(attempt).rejects.toBeInstanceOf(PipelineStateError);
    await expect(attempt).rejects.toThrow(/plan stage creates it/);
  });

  it('rejects an invalid event at the handler with an InvalidInputError naming each field', async () => {
    const attempt = createHandler(testWire(deps))({ runId: '', pipelineBucket: 'x', extra: true });

    await expect(attempt).rejects.toBeInstanceOf(InvalidInputError);
    await expect(attempt).rejects.toThrow(/runId.*pipelineBucket.*"extra"/s);
  });

  it('runs as a Lambda handler that builds its clients from the environment on the first invocation', async () => {
    const part = await seedMixedRun('run-handler');
    const env = {
      ...process.env,
      PIPELINE_BUCKET: BUCKET,
      RUNS_TABLE: tables.runsTable,
      PREDICTIONS_TABLE: tables.predictionsTable,
      LOG_LEVEL: 'SILENT',
    };
    const handler = createHandler(wireFrom(env, lambdaClients(env)));

    const result = await handler({ runId: 'run-handler', pipelineBucket: BUCKET, parts: [part] });

    expect(result).toMatchObject({ runId: 'run-handler', status: 'SUCCEEDED', counts: { items: 5, predicted: 3 } });
    expect((await deps.runs.get('run-handler'))?.status).toBe('SUCCEEDED');
  });
});

describe('report stage: NO_TEXT, the explorer and the previous run', () => {
  function noText(runId: string, key: string, expected?: string): OutcomeRecord {
    return {
      runId,
      key,
      bucket: 'datasets',
      outcome: 'NO_TEXT',
      modelName: 'paddleocr',
      modelVersion: '2.8',
      image: { width: 800, height: 600 },
      ...(expected === undefined ? {} : { expected, match: false }),
      part: 'part-00000',
      updatedAt: CREATED_AT,
    };
  }

  it('counts NO_TEXT rows on their own, so items = predicted + noText + rejected, and leaves their confidence empty', async () => {
    const runId = 'run-no-text';
    const accepted = [item(0, 'photos/a.jpg'), item(1, 'photos/blank.jpg', 'STOP'), item(2, 'photos/c.jpg')];
    await seedRun(runId, {
      items: 4,
      accepted,
      rows: [
        predicted(runId, 'photos/a.jpg', { text: 'hello', confidence: 0.9 }),
        noText(runId, 'photos/blank.jpg', 'STOP'),
        predicted(runId, 'photos/c.jpg', { text: 'world', confidence: 0.7 }),
        rejected(runId, 'photos/notes.txt', 'UNSUPPORTED_TYPE', 'plan'),
      ],
    });

    const result = await runReport(
      event(runId, {
        parts: [
          stats('part-00000', {
            lines: 3,
            predicted: 2,
            noText: 1,
            confidenceHistogram: [0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
            confidenceSum: 1.6,
            withExpected: 1,
          }),
        ],
      }),
      deps,
    );

    expect(result.counts).toEqual({
      items: 4,
      predicted: 2,
      noText: 1,
      rejected: 1,
      rejectedByReason: { UNSUPPORTED_TYPE: 1 },
    });
    const { counts, confidence, accuracy } = await readReport(runId);
    expect(counts.predicted + (counts.noText ?? 0) + counts.rejected).toBe(counts.items);
    expect(confidence.mean).toBeCloseTo(0.8, 4);
    expect(accuracy).toEqual({ withExpected: 1, matches: 0, rate: 0 });
    const csv = await readCsv(runId);
    expect(csv.rows.find((row) => row.key === 'photos/blank.jpg')).toMatchObject({
      outcome: 'NO_TEXT',
      text: '',
      confidence: '',
      expected: 'STOP',
      match: 'false',
    });
  });

  it('embeds the thumbnail preprocess wrote for a shown row, and says how many rows the page shows', async () => {
    const runId = 'run-thumbnails';
    await seedRun(runId, {
      items: 1,
      accepted: [item(0, 'photos/a.jpg', 'hello')],
      rows: [predicted(runId, 'photos/a.jpg', { text: 'hallo', expected: 'hello', match: false, confidence: 0.4 })],
    });
    const webp = new Uint8Array([0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4]);
    await deps.objects.put(
      { bucket: BUCKET, key: thumbnailPackKey(runId, 'part-00000') },
      thumbnailPackBody([{ bucket: 'datasets', key: 'photos/a.jpg', webp }]),
      'application/json',
    );

    await runReport(event(runId), deps);

    const report = await readReport(runId);
    expect(report.explorer).toMatchObject({ shown: 1, of: 1 });
    const page = await readText(`${runLayout.report(runId)}report.html`);
    expect(page).toContain(`data:image/webp;base64,${Buffer.from(webp).toString('base64')}`);
  });

  it("reads each shown part's thumbnail pack once; a row whose pack or thumbnail is missing, and a rejection, show no picture", async () => {
    const runId = 'run-thumbnail-packs';
    const first = 'part-000000000.jsonl';
    const second = 'part-000000200.jsonl';
    const keys = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg'];
    const partOf: Record<string, string> = {
      'a.jpg': first,
      'b.jpg': first,
      'c.jpg': second,
      'd.jpg': 'part-000000400.jsonl',
      'e.jpg': second,
    };
    await seedRun(runId, {
      items: 6,
      accepted: keys.map((key, index) => item(index, key)),
      rows: [
        ...keys.map((key) => predicted(runId, key, { part: partOf[key] ?? '' })),
        rejected(runId, 'r.jpg', 'MALFORMED_OUTPUT', 'aggregate'),
      ],
    });
    const webp = (n: number) => new Uint8Array([0x52, 0x49, 0x46, 0x46, n]);
    const pack = (entries: [string, number][]) =>
      thumbnailPackBody(entries.map(([key, n]) => ({ bucket: 'datasets', key, webp: webp(n) })));
    await deps.objects.put(
      { bucket: BUCKET, key: thumbnailPackKey(runId, first) },
      pack([
        ['a.jpg', 1],
        ['b.jpg', 2],
      ]),
      'application/json',
    );
    // The pack of the part that held c.jpg and e.jpg, without e.jpg (its thumbnail could not be made).
    await deps.objects.put(
      { bucket: BUCKET, key: thumbnailPackKey(runId, second) },
      pack([['c.jpg', 3]]),
      'application/json',
    );
    const objects = new GetCountingObjectStore(aws.s3);

    await runReport(event(runId), { ...deps, objects });

    const page = await readText(`${runLayout.report(runId)}report.html`);
    const data = JSON.parse(
      /<script type="application\/json" id="explorer-data">(.*?)<\/script>/s.exec(page)?.[1] ?? '{}',
    );
    const pictures = Object.fromEntries(
      (data.rows as { key: string; thumbnail?: string }[]).map((row) => [row.key, row.thumbnail]),
    );
    const uri = (n: number) => `data:image/webp;base64,${Buffer.from(webp(n)).toString('base64')}`;
    expect(pictures).toEqual({
      'a.jpg': uri(1),
      'b.jpg': uri(2),
      'c.jpg': uri(3),
      'd.jpg': undefined,
      'e.jpg': undefined,
      'r.jpg': undefined,
    });
    const packReads = objects.keys.filter((key) => key.startsWith(runLayout.thumbnails(runId)));
    expect(packReads.sort()).toEqual(
      [first, second, 'part-000000400.jsonl'].map((part) => thumbnailPackKey(runId, part)).sort(),
    );
  });

  it("deletes the transform input of a run it marks SUCCEEDED, and keeps the run's index, output and thumbnails", async () => {
    const runId = 'run-input-cleanup';
    await seedRun(runId, { items: 1, accepted: [item(0, 'a.jpg')], rows: [predicted(runId, 'a.jpg')] });
    const put = (key: string) => deps.objects.put({ bucket: BUCKET, key }, '{}\n', 'application/json');
    await put(`${runLayout.transformInput(runId)}part-000000000.jsonl`);
    await put(`${runLayout.transformInput(runId)}part-000000200.jsonl`);
    const kept = [
      `${runLayout.transformIndex(runId)}part-000000000.json`,
      `${runLayout.transformOutput(runId)}part-000000000.jsonl.out`,
      thumbnailPackKey(runId, 'part-000000000'),
    ];
    for (const key of kept) await put(key);

    await runReport(event(runId), deps);

    expect(await keysUnder(runLayout.transformInput(runId))).toEqual([]);
    for (const key of kept) expect(await keysUnder(key)).toEqual([key]);
  });

  it('keeps the transform input of a run whose report fails, for its redrive', async () => {
    const runId = 'run-input-kept';
    // Two rows for one planned item: the report refuses to reconcile the run.
    await seedRun(runId, {
      items: 1,
      accepted: [item(0, 'a.jpg')],
      rows: [predicted(runId, 'a.jpg'), predicted(runId, 'b.jpg')],
    });
    const input = `${runLayout.transformInput(runId)}part-000000000.jsonl`;
    await deps.objects.put({ bucket: BUCKET, key: input }, '{}\n', 'application/jsonlines');

    await expect(runReport(event(runId), deps)).rejects.toThrow(PipelineStateError);

    expect(await keysUnder(runLayout.transformInput(runId))).toEqual([input]);
  });

  it('compares with the previous SUCCEEDED run of the same dataset: counts side by side and the changed objects', async () => {
    const dataset = 's3://datasets/compare/';
    const earlier: RunRecord = {
      runId: 'run-compare-1',
      status: 'SUCCEEDED',
      dataset,
      settings,
      settingsHash: 'h',
      createdAt: '2025-02-28T09:00:00.000Z',
      updatedAt: '2025-02-28T09:00:00.000Z',
      counts: { items: 3, predicted: 3, rejected: 0, rejectedByReason: {} },
    };
    await deps.runs.create(earlier);
    await deps.predictions.put([
      predicted(earlier.runId, 'a.jpg', { text: 'STOP', expected: 'STOP', match: true }),
      predicted(earlier.runId, 'b.jpg', { text: 'EXIT', expected: 'EXIT', match: true }),
      predicted(earlier.runId, 'c.jpg', { text: 'YIELD', expected: 'YIELD', match: true }),
    ]);
    const runId = 'run-compare-2';
    await deps.runs.create({
      ...earlier,
      runId,
      status: 'RUNNING',
      createdAt: CREATED_AT,
      updatedAt: CREATED_AT,
    });
    await deps.predictions.put([
      predicted(runId, 'a.jpg', { text: 'STOP', expected: 'STOP', match: true }),
      predicted(runId, 'b.jpg', { text: 'EX1T', expected: 'EXIT', match: false }),
      noText(runId, 'c.jpg', 'YIELD'),
    ]);

    await runReport(event(runId), deps);

    const { comparison } = await readReport(runId);
    expect(comparison?.before).toMatchObject({ runId: 'run-compare-1', predicted: 3, noText: 0, accuracy: 1 });
    expect(comparison?.after).toMatchObject({ runId, predicted: 2, noText: 1, accuracy: 0.3333 });
    expect(comparison).toMatchObject({ compared: 3, changed: 2, onlyBefore: 0, onlyAfter: 0 });
    expect(comparison?.changes.map((change) => [change.key, change.before.text, change.after.outcome])).toEqual([
      ['b.jpg', 'EXIT', 'PREDICTED'],
      ['c.jpg', 'YIELD', 'NO_TEXT'],
    ]);
    const page = await readText(`${runLayout.report(runId)}report.html`);
    expect(page).toContain('Compared with the previous run');
  });
});

/** The real S3 store, recording the key of every GET. */
class GetCountingObjectStore extends S3ObjectStore {
  readonly keys: string[] = [];

  override async get(location: S3Location): Promise<Uint8Array | undefined> {
    this.keys.push(location.key);
    return super.get(location);
  }
}
