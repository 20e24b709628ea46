import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { DatasetAccessError, InvalidInputError, ManifestError, RunConflictError } from '../../shared/errors.ts';
import { silentLog } from '../../shared/logging.ts';
import type { OutcomeRecord } from '../../shared/records.ts';
import { PlanResultSchema } from '../../shared/stage-events.ts';
import { type PlanDeps, runPlan } from '../../stages/plan/plan.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

const DATA = 'plan-data';
const PIPELINE = 'plan-pipeline';
const OTHER = 'plan-other';

describe('plan stage against the local S3 and DynamoDB servers', () => {
  let aws: LocalAws;
  let deps: PlanDeps;
  let predictions: DynamoPredictionStore;
  let runs: DynamoRunStore;

  beforeAll(async () => {
    aws = await startLocalAws();
    await Promise.all([aws.createBucket(DATA), aws.createBucket(PIPELINE), aws.createBucket(OTHER)]);
    const tables = await aws.createTables();
    const clock = { now: () => new Date() };
    predictions = new DynamoPredictionStore(aws.doc, tables.predictionsTable);
    runs = new DynamoRunStore(aws.doc, tables.runsTable, clock);
    deps = {
      objects: new S3ObjectStore(aws.s3),
      runs,
      predictions,
      clock,
      log: silentLog,
      pipelineBucket: PIPELINE,
      allowedDatasetLocations: [
        { bucket: DATA, key: '' },
        { bucket: PIPELINE, key: 'manifests/' },
      ],
    };
  });
  afterAll(async () => {
    await aws?.stop();
  });

  const put = (bucket: string, key: string, body: string | Uint8Array = 'x') =>
    aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const text = async (bucket: string, key: string) =>
    (await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString() ?? '';
  const rows = async (runId: string) => {
    const all: OutcomeRecord[] = [];
    for await (const row of predictions.list(runId)) all.push(row);
    return all;
  };
  const itemsOf = async (manifestKey: string) => {
    const parts = JSON.parse(await text(PIPELINE, manifestKey)) as string[];
    const lines = (await Promise.all(parts.map((key) => text(PIPELINE, key)))).join('').trimEnd().split('\n');
    return lines.filter((line) => line !== '').map((line) => JSON.parse(line));
  };

  it('lists a prefix into item parts, rejects unsupported types and creates a RUNNING run record', async () => {
    await Promise.all([
      put(DATA, 'happy/a.jpg'),
      put(DATA, 'happy/b.PNG'),
      put(DATA, 'happy/sub/c.webp'),
      put(DATA, 'happy/notes.txt'),
      put(DATA, 'happy/folder/', ''),
    ]);

    const result = await runPlan(
      { input: { dataset: `s3://${DATA}/happy/` }, execution: { name: 'exec-happy' } },
      deps,
    );

    expect(PlanResultSchema.parse(result).runId).toBe('exec-happy');
    expect(result.items).toMatchObject({ total: 4, accepted: 3, rejected: 1, partCount: 1 });
    expect(result.next).toBe('preprocess');
    const items = await itemsOf(result.items.manifestKey);
    expect(items.map((item) => item.key)).toEqual(['happy/a.jpg', 'happy/b.PNG', 'happy/sub/c.webp']);
    expect(items.map((item) => item.index)).toEqual([0, 1, 2]);
    const rejected = await rows('exec-happy');
    expect(rejected).toEqual([
      expect.objectContaining({
        key: 'happy/notes.txt',
        outcome: 'REJECTED',
        reason: 'UNSUPPORTED_TYPE',
        stage: 'plan',
      }),
    ]);
    const run = await runs.get('exec-happy');
    expect(run).toMatchObject({ status: 'RUNNING', dataset: `s3://${DATA}/happy/`, counts: { items: 4, rejected: 1 } });
    expect(run?.settings.transform.instanceType).toBe('ml.g5.xlarge');
  });

  it('plans an empty dataset with zero items and tells the state machine to skip to the report', async () => {
    const result = await runPlan(
      { input: { dataset: `s3://${DATA}/nothing-here/` }, execution: { name: 'exec-empty' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 0, accepted: 0, rejected: 0, partCount: 0 });
    expect(result.next).toBe('empty');
    expect(JSON.parse(await text(PIPELINE, result.items.manifestKey))).toEqual([]);
  });

  it('pages through a 1,500-key prefix (ListObjectsV2 returns 1,000 per page)', async () => {
    const limit = pLimit(32);
    await Promise.all(
      Array.from({ length: 1500 }, (_, i) => limit(() => put(DATA, `many/img-${String(i).padStart(4, '0')}.jpg`))),
    );

    const result = await runPlan({ input: { dataset: `s3://${DATA}/many/` }, execution: { name: 'exec-many' } }, deps);

    expect(result.items).toMatchObject({ total: 1500, accepted: 1500 });
    const items = await itemsOf(result.items.manifestKey);
    expect(new Set(items.map((item) => item.key)).size).toBe(1500);
    expect(items.at(-1)).toMatchObject({ index: 1499, key: 'many/img-1499.jpg' });
  });

  it('reads a JSONL manifest with expected text, rejecting lines outside the dataset and malformed lines by number', async () => {
    const manifest = [
      JSON.stringify({ key: 'jsonl/one.jpg', expected: 'HELLO' }),
      JSON.stringify({ key: `s3://${OTHER}/stolen.jpg` }),
      '{"key": "jsonl/broken.jpg"',
      '',
      JSON.stringify({ key: `s3://${DATA}/jsonl/two.png` }),
      JSON.stringify({ key: 'jsonl/one.jpg', expected: 'HELLO' }),
      JSON.stringify({ key: 'jsonl/three.jpg', colour: 'red' }),
    ].join('\n');
    await put(DATA, 'manifests/run.jsonl', manifest);

    const result = await runPlan(
      { input: { dataset: `s3://${DATA}/manifests/run.jsonl`, runId: 'jsonl-run' }, execution: { name: 'exec-jsonl' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 6, accepted: 2, rejected: 4, duplicates: 1 });
    const items = await itemsOf(result.items.manifestKey);
    expect(items).toEqual([
      { index: 0, bucket: DATA, key: 'jsonl/one.jpg', expected: 'HELLO' },
      { index: 1, bucket: DATA, key: 'jsonl/two.png' },
    ]);
    const rejected = await rows('jsonl-run');
    expect(
      rejected.map((row) => [row.outcome === 'REJECTED' && row.reason, row.outcome === 'REJECTED' && row.line]),
    ).toEqual([
      ['OUTSIDE_DATASET', 2],
      ['MALFORMED_MANIFEST_LINE', 3],
      ['DUPLICATE', 6],
      ['MALFORMED_MANIFEST_LINE', 7],
    ]);
    const outside = rejected.find((row) => row.outcome === 'REJECTED' && row.reason === 'OUTSIDE_DATASET');
    expect(outside?.outcome === 'REJECTED' && outside.message).toContain(`s3://${OTHER}/stolen.jpg`);
    expect(outside?.outcome === 'REJECTED' && outside.message).toContain('line 2');
  });

  it('keeps a run to one bucket: a manifest line in a second allowed bucket is rejected with its line number', async () => {
    const manifest = [
      JSON.stringify({ key: `s3://${DATA}/two/a.jpg` }),
      JSON.stringify({ key: `s3://${PIPELINE}/manifests/b.jpg` }),
    ];
    await put(DATA, 'manifests/two-buckets.jsonl', manifest.join('\n'));

    const result = await runPlan(
      { input: { dataset: `s3://${DATA}/manifests/two-buckets.jsonl` }, execution: { name: 'exec-two' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 2, accepted: 1, rejected: 1 });
    const [rejection] = await rows('exec-two');
    expect(rejection).toMatchObject({ reason: 'OUTSIDE_DATASET', line: 2, key: 'manifests/two-buckets.jsonl#L2' });
  });

  it('reads a SageMaker ManifestFile, rejecting an entry that escapes its prefix with its line number', async () => {
    const manifest = `[\n  {"prefix": "s3://${DATA}/mf/"},\n  "a.jpg",\n  "../../etc/b.jpg",\n  "c.png"\n]\n`;
    await put(PIPELINE, 'manifests/mf.json', manifest);

    const result = await runPlan(
      { input: { dataset: `s3://${PIPELINE}/manifests/mf.json` }, execution: { name: 'exec-mf' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 3, accepted: 2, rejected: 1 });
    const [rejection] = await rows('exec-mf');
    expect(rejection).toMatchObject({ outcome: 'REJECTED', reason: 'OUTSIDE_DATASET', line: 4 });
  });

  it('names the line of each ManifestFile entry where entries share a line, span lines or hold brackets', async () => {
    const manifest = [
      '[',
      `  {"prefix": "s3://${DATA}/mf/"},`,
      '  "a.jpg", "x\\"],[/../y.jpg",',
      '  {"not": ["a",',
      '    "key"]},',
      '',
      '  "../b.jpg"',
      ']',
    ].join('\n');
    await put(PIPELINE, 'manifests/lines.json', manifest);

    const result = await runPlan(
      { input: { dataset: `s3://${PIPELINE}/manifests/lines.json` }, execution: { name: 'exec-lines' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 4, accepted: 1, rejected: 3 });
    const rejections = (await rows('exec-lines')).map((row) =>
      row.outcome === 'REJECTED' ? [row.line, row.reason] : [],
    );
    expect(rejections.sort()).toEqual([
      [3, 'OUTSIDE_DATASET'],
      [4, 'MALFORMED_MANIFEST_LINE'],
      [7, 'OUTSIDE_DATASET'],
    ]);
  });

  it('keys rejections of a one-line SageMaker ManifestFile by line and entry, so every bad entry is its own row', async () => {
    const entries = ['a.jpg', '', '../x.jpg', 5, 'notes.txt', '../../y.jpg', 'a.jpg', null, 'b.png', 'a.jpg'];
    await put(PIPELINE, 'manifests/one-line.json', JSON.stringify([{ prefix: `s3://${DATA}/ol/` }, ...entries]));

    const result = await runPlan(
      { input: { dataset: `s3://${PIPELINE}/manifests/one-line.json` }, execution: { name: 'exec-one-line' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 10, accepted: 2, rejected: 8, duplicates: 2 });
    const rejected = await rows('exec-one-line');
    expect(rejected).toHaveLength(result.items.rejected);
    expect(
      rejected
        .map((row) => [row.key, row.outcome === 'REJECTED' && row.reason])
        .sort((a, b) => `${a}`.localeCompare(`${b}`)),
    ).toEqual([
      ['manifests/one-line.json#L1E10', 'DUPLICATE'],
      ['manifests/one-line.json#L1E2', 'MALFORMED_MANIFEST_LINE'],
      ['manifests/one-line.json#L1E3', 'OUTSIDE_DATASET'],
      ['manifests/one-line.json#L1E4', 'MALFORMED_MANIFEST_LINE'],
      ['manifests/one-line.json#L1E6', 'OUTSIDE_DATASET'],
      ['manifests/one-line.json#L1E7', 'DUPLICATE'],
      ['manifests/one-line.json#L1E8', 'MALFORMED_MANIFEST_LINE'],
      ['ol/notes.txt', 'UNSUPPORTED_TYPE'],
    ]);
    const duplicate = rejected.find((row) => row.key === 'manifests/one-line.json#L1E7');
    expect(duplicate?.outcome === 'REJECTED' && duplicate.message).toContain('entry 7 repeats line 1 entry 1');
  });

  it('reports a repeated JSONL line as a DUPLICATE rejection naming both line numbers, so lines reconcile with items', async () => {
    const line = JSON.stringify({ key: 'dup/a.jpg' });
    await put(DATA, 'manifests/dup.jsonl', [line, JSON.stringify({ key: 'dup/b.jpg' }), '', line].join('\n'));

    const result = await runPlan(
      { input: { dataset: `s3://${DATA}/manifests/dup.jsonl` }, execution: { name: 'exec-dup' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 3, accepted: 2, rejected: 1, duplicates: 1 });
    const [duplicate] = await rows('exec-dup');
    expect(duplicate).toMatchObject({
      outcome: 'REJECTED',
      reason: 'DUPLICATE',
      line: 4,
      key: 'manifests/dup.jsonl#L4',
    });
    expect(duplicate?.outcome === 'REJECTED' && duplicate.message).toMatch(
      /line 4 repeats line 1: s3:\/\/plan-data\/dup\/a\.jpg/,
    );
  });

  it("rejects a manifest key over S3's 1,024-byte limit as INVALID_KEY and accepts one of exactly 1,024 bytes", async () => {
    const keyOf = (bytes: number) => {
      const room = bytes - 'long/'.length - '.jpg'.length;
      return `long/${'é'.repeat(Math.floor(room / 2))}${'a'.repeat(room % 2)}.jpg`;
    };
    const [fits, tooLong] = [keyOf(1024), keyOf(1025)];
    await put(
      DATA,
      'manifests/long.jsonl',
      [JSON.stringify({ key: fits }), JSON.stringify({ key: tooLong })].join('\n'),
    );

    const result = await runPlan(
      { input: { dataset: `s3://${DATA}/manifests/long.jsonl` }, execution: { name: 'exec-long' } },
      deps,
    );

    expect(Buffer.byteLength(fits)).toBe(1024);
    expect(result.items).toMatchObject({ total: 2, accepted: 1, rejected: 1 });
    const [rejection] = await rows('exec-long');
    expect(rejection).toMatchObject({ reason: 'INVALID_KEY', line: 2, key: 'manifests/long.jsonl#L2' });
    expect(rejection?.outcome === 'REJECTED' && rejection.message).toContain('1025 bytes');
  });

  it('accepts a JSONL manifest that starts with a UTF-8 byte order mark', async () => {
    await put(
      DATA,
      'manifests/bom.jsonl',
      `\uFEFF${JSON.stringify({ key: 'bom/a.jpg' })}\n${JSON.stringify({ key: 'bom/b.jpg' })}\n`,
    );

    const result = await runPlan(
      { input: { dataset: `s3://${DATA}/manifests/bom.jsonl` }, execution: { name: 'exec-bom' } },
      deps,
    );

    expect(result.items).toMatchObject({ total: 2, accepted: 2, rejected: 0 });
    expect((await itemsOf(result.items.manifestKey)).map((item) => item.key)).toEqual(['bom/a.jpg', 'bom/b.jpg']);
  });

  it('refuses a manifest that is not JSON, naming the manifest and the line of the error', async () => {
    await put(PIPELINE, 'manifests/bad.json', `[\n  {"prefix": "s3://${DATA}/mf/"},\n  "a.jpg",,\n]`);

    const attempt = runPlan(
      { input: { dataset: `s3://${PIPELINE}/manifests/bad.json` }, execution: { name: 'exec-bad' } },
      deps,
    );

    await expect(attempt).rejects.toThrow(ManifestError);
    await expect(attempt).rejects.toThrow(/manifests\/bad\.json is not valid JSON \(line 3/);
  });

  it('refuses a missing manifest with a DatasetAccessError naming it', async () => {
    const attempt = runPlan(
      { input: { dataset: `s3://${DATA}/manifests/nope.jsonl` }, execution: { name: 'exec-nope' } },
      deps,
    );

    await expect(attempt).rejects.toThrow(DatasetAccessError);
    await expect(attempt).rejects.toThrow(/nope\.jsonl does not exist/);
  });

  it('refuses to clobber an existing run id with different settings, and re-joins it with the same ones', async () => {
    await put(DATA, 'conflict/a.jpg');
    const input = { dataset: `s3://${DATA}/conflict/`, runId: 'same-id' };
    await runPlan({ input, execution: { name: 'exec-c1' } }, deps);
    await runs.update('same-id', { status: 'SUCCEEDED' });

    const rerun = await runPlan({ input, execution: { name: 'exec-c2' } }, deps);
    const clash = runPlan(
      { input: { ...input, transform: { instanceCount: 2 } }, execution: { name: 'exec-c3' } },
      deps,
    );

    expect(rerun.items.accepted).toBe(1);
    await expect(clash).rejects.toThrow(RunConflictError);
    expect((await runs.get('same-id'))?.settings.transform.instanceCount).toBe(1);
  });

  it('re-running a run id over a changed dataset clears its old parts and rows and plans the dataset as it is now', async () => {
    await Promise.all([put(DATA, 'changing/a.jpg'), put(DATA, 'changing/b.jpg'), put(DATA, 'changing/old-notes.txt')]);
    const input = { dataset: `s3://${DATA}/changing/`, runId: 'changing' };
    await runPlan({ input, execution: { name: 'exec-change-1' } }, deps);
    await runs.update('changing', { status: 'SUCCEEDED' });
    await put(PIPELINE, 'runs/changing/transform-input/part-000000000.jsonl', '{"stale": true}\n');
    await aws.s3.send(new DeleteObjectCommand({ Bucket: DATA, Key: 'changing/b.jpg' }));
    await aws.s3.send(new DeleteObjectCommand({ Bucket: DATA, Key: 'changing/old-notes.txt' }));
    await put(DATA, 'changing/c.jpg');

    const result = await runPlan({ input, execution: { name: 'exec-change-2' } }, deps);

    expect(result.items).toMatchObject({ total: 2, accepted: 2, rejected: 0 });
    expect((await itemsOf(result.items.manifestKey)).map((item) => item.key)).toEqual([
      'changing/a.jpg',
      'changing/c.jpg',
    ]);
    expect(await rows('changing')).toEqual([]);
    await expect(text(PIPELINE, 'runs/changing/transform-input/part-000000000.jsonl')).rejects.toThrow();
  });

  describe('one live execution per run id (a conditional write on the run record)', () => {
    const arn = (name: string) => `arn:aws:states:us-east-1:123456789012:execution:Nightshift:${name}`;
    const planAs = (runId: string, name: string, dataset = `s3://${DATA}/live/`) =>
      runPlan({ input: { dataset, runId }, execution: { name, id: arn(name) } }, deps);

    it('refuses a second execution while the first is RUNNING, and changes nothing of the first', async () => {
      await Promise.all([put(DATA, 'live/a.jpg'), put(DATA, 'live/b.jpg')]);
      const first = await planAs('live', 'live-1');
      const before = await runs.get('live');

      const second = planAs('live', 'live-2');

      await expect(second).rejects.toThrow(RunConflictError);
      await expect(second).rejects.toThrow(/run id "live" is RUNNING in execution .*live-1.*wait for it to end/);
      expect(await runs.get('live')).toEqual(before);
      expect(before?.executionId).toBe(arn('live-1'));
      expect((await itemsOf(first.items.manifestKey)).map((item) => item.key)).toEqual(['live/a.jpg', 'live/b.jpg']);
    });

    it('lets the owning execution plan again (a Lambda retry, or a redrive of a failed plan)', async () => {
      await put(DATA, 'live-retry/a.jpg');
      await planAs('live-retry', 'retry-1', `s3://${DATA}/live-retry/`);

      const again = await planAs('live-retry', 'retry-1', `s3://${DATA}/live-retry/`);

      expect(again.items.accepted).toBe(1);
      expect((await runs.get('live-retry'))?.executionId).toBe(arn('retry-1'));
    });

    it('lets a new execution take over once the run has ended, clearing the last failure', async () => {
      await put(DATA, 'live-ended/a.jpg');
      await planAs('live-ended', 'ended-1', `s3://${DATA}/live-ended/`);
      await runs.update('live-ended', {
        status: 'FAILED',
        finishedAt: '2026-11-23T03:00:00.000Z',
        error: { error: 'States.Timeout', cause: 'too slow' },
        failedAttempt: 0,
      });

      await planAs('live-ended', 'ended-2', `s3://${DATA}/live-ended/`);

      const run = await runs.get('live-ended');
      expect(run).toMatchObject({ status: 'RUNNING', executionId: arn('ended-2') });
      expect(run?.error).toBeUndefined();
      expect(run?.finishedAt).toBeUndefined();
      expect(run?.failedAttempt).toBeUndefined();
    });

    it('lets exactly one of two executions started at once take an ended run over', async () => {
      await put(DATA, 'live-race/a.jpg');
      await planAs('live-race', 'race-0', `s3://${DATA}/live-race/`);
      await runs.update('live-race', { status: 'SUCCEEDED' });

      const outcomes = await Promise.allSettled(
        ['race-1', 'race-2', 'race-3'].map((name) => planAs('live-race', name, `s3://${DATA}/live-race/`)),
      );

      const won = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [index] : []));
      expect(won).toHaveLength(1);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(RunConflictError);
      }
      expect((await runs.get('live-race'))?.executionId).toBe(arn(`race-${(won[0] ?? 0) + 1}`));
    });

    it('lets exactly one of two executions started at once create a new run', async () => {
      await put(DATA, 'live-new/a.jpg');

      const outcomes = await Promise.allSettled(
        ['new-1', 'new-2'].map((name) => planAs('live-new', name, `s3://${DATA}/live-new/`)),
      );

      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(1);
    });
  });

  it('rejects a dataset outside the allowed locations, or overlapping the pipeline folders, before creating a run', async () => {
    const ownBucketOnly = { ...deps, allowedDatasetLocations: [{ bucket: PIPELINE, key: '' }] };

    await expect(
      runPlan({ input: { dataset: `s3://${OTHER}/x/` }, execution: { name: 'exec-outside' } }, deps),
    ).rejects.toThrow(DatasetAccessError);
    await expect(
      runPlan({ input: { dataset: `s3://${PIPELINE}/` }, execution: { name: 'exec-own' } }, ownBucketOnly),
    ).rejects.toThrow(/overlaps the pipeline's own runs\/ folder/);
    await expect(
      runPlan(
        { input: { dataset: `s3://${PIPELINE}/map-results/aggregate/` }, execution: { name: 'exec-results' } },
        ownBucketOnly,
      ),
    ).rejects.toThrow(/overlaps the pipeline's own map-results\/ folder/);
    await expect(
      runPlan(
        { input: { dataset: `s3://${PIPELINE}/manifests/` }, execution: { name: 'exec-overlap' } },
        ownBucketOnly,
      ),
    ).resolves.toMatchObject({ runId: 'exec-overlap' });
    expect(await runs.get('exec-outside')).toBeUndefined();
  });

  it('rejects an execution input that is not a JSON object (a string, an array), saying so', async () => {
    const inputs: unknown[] = ['s3://plan-data/x/', [{ dataset: `s3://${DATA}/x/` }], null];

    const attempts = inputs.map((input) => runPlan({ input, execution: { name: 'exec-not-object' } }, deps));

    for (const attempt of attempts) {
      await expect(attempt).rejects.toThrow(InvalidInputError);
      await expect(attempt).rejects.toThrow(
        /execution input must be a JSON object .*\{"dataset": "s3:\/\/bucket\/prefix\/"\}/,
      );
    }
    await expect(attempts[0]).rejects.toThrow(/got a string/);
    await expect(attempts[1]).rejects.toThrow(/got an array/);
    expect(await runs.get('exec-not-object')).toBeUndefined();
  });

  it('rejects an execution input with an unknown field, naming it', async () => {
    const attempt = runPlan(
      { input: { dataset: `s3://${DATA}/x/`, preprocess: { widht: 10 } }, execution: { name: 'exec-typo' } },
      deps,
    );

    await expect(attempt).rejects.toThrow(InvalidInputError);
    await expect(attempt).rejects.toThrow(/preprocess: unknown field\(s\) "widht"/);
  });
});
