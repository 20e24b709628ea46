import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { PipelineStateError, ServiceError } from '../../shared/errors.ts';
import { runLayout } from '../../shared/layout.ts';
import { silentLog } from '../../shared/logging.ts';
import type { ObjectStore, PredictionStore } from '../../shared/ports.ts';
import { type OutcomeRecord, type PartStats, PartStatsSchema } from '../../shared/records.ts';
import type { AggregateBatch } from '../../shared/stage-events.ts';
import { type AggregateDeps, runAggregate } from '../../stages/aggregate/aggregate.ts';
import { createHandler } from '../../stages/aggregate/handler.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { testWire } from '../helpers/stage-wiring.ts';

const PIPELINE = 'aggregate-pipeline';
const DATA = 'aggregate-data';
const geometry = {
  originalWidth: 2000,
  originalHeight: 1000,
  width: 960,
  height: 480,
  scaleX: 0.48,
  scaleY: 0.48,
  offsetX: 0,
  offsetY: 0,
};
const model = { name: 'paddleocr-ppocrv4', version: '4.0.0' };

/**
 * The real stores, noting in `events` when the stage asks for an object, gets it, reads an output line and starts a
 * put, so a test can assert the order of reads and writes without timing anything.
 */
function recording(objects: ObjectStore, predictions: PredictionStore, events: string[]) {
  const recordingObjects: ObjectStore = {
    list: (prefix) => objects.list(prefix),
    open: (location) => objects.open(location),
    async get(location) {
      events.push(`get ${location.key}`);
      const body = await objects.get(location);
      events.push(`got ${location.key}`);
      return body;
    },
    async *lines(location) {
      events.push(`lines ${location.key}`);
      let n = 0;
      let readToEnd = false;
      try {
        for await (const line of objects.lines(location)) {
          n += 1;
          events.push(`line ${n}`);
          yield line;
        }
        readToEnd = true;
      } finally {
        // Reached only through return() when the reader stops early; leaving the loop closes the S3 stream.
        if (!readToEnd) events.push(`closed ${location.key}`);
      }
    },
    put: (location, body, type) => objects.put(location, body, type),
    putStream: (location, chunks, type) => objects.putStream(location, chunks, type),
    deletePrefix: (prefix) => objects.deletePrefix(prefix),
  };
  const recordingPredictions: PredictionStore = {
    async put(records) {
      events.push(`put ${records.length} rows`);
      await predictions.put(records);
      events.push(`put ${records.length} rows done`);
    },
    list: (runId, options) => predictions.list(runId, options),
    existing: (runId, keys) => predictions.existing(runId, keys),
    deleteRun: (runId) => predictions.deleteRun(runId),
  };
  return { objects: recordingObjects, predictions: recordingPredictions };
}

/** One part, as the state machine would pass it: a batch of one. */
interface PartEvent {
  readonly runId: string;
  readonly pipelineBucket: string;
  readonly key: string;
}

/** The ItemBatcher batch of these parts (all of one run). */
function batchOf(...parts: PartEvent[]): AggregateBatch {
  const [first] = parts;
  if (first === undefined) throw new Error('a batch holds at least one part');
  return {
    Items: parts.map(({ key }) => ({ key })),
    BatchInput: { runId: first.runId, pipelineBucket: first.pipelineBucket },
  };
}

async function aggregateOne(part: PartEvent, deps: AggregateDeps): Promise<PartStats> {
  const { parts } = await runAggregate(batchOf(part), deps);
  expect(parts).toHaveLength(1);
  return parts[0] as PartStats;
}

function outputLine(id: number, key: string, output: Record<string, unknown>, expected?: string): string {
  return JSON.stringify({
    id,
    key,
    bucket: DATA,
    ...(expected ? { expected } : {}),
    geometry,
    SageMakerOutput: output,
  });
}

describe('aggregate stage against the local S3 and DynamoDB servers', () => {
  let aws: LocalAws;
  let deps: AggregateDeps;
  let predictions: DynamoPredictionStore;

  beforeAll(async () => {
    aws = await startLocalAws();
    await aws.createBucket(PIPELINE);
    const tables = await aws.createTables();
    predictions = new DynamoPredictionStore(aws.doc, tables.predictionsTable);
    deps = { objects: new S3ObjectStore(aws.s3), predictions, clock: { now: () => new Date() }, log: silentLog };
  });
  afterAll(async () => {
    await aws?.stop();
  });

  const put = (key: string, body: string) =>
    aws.s3.send(new PutObjectCommand({ Bucket: PIPELINE, Key: key, Body: body }));
  const rowsOf = async (runId: string) => {
    const all: OutcomeRecord[] = [];
    for await (const row of predictions.list(runId)) all.push(row);
    return new Map(all.map((row) => [row.key, row]));
  };
  async function seedPart(runId: string, part: string, keys: string[], lines: string[]) {
    await put(
      `${runLayout.transformIndex(runId)}${part}.json`,
      JSON.stringify(keys.map((key, id) => ({ id: id + 10, key, bucket: DATA }))),
    );
    await put(`${runLayout.transformOutput(runId)}${part}.jsonl.out`, `${lines.join('\n')}\n`);
    return { runId, pipelineBucket: PIPELINE, key: `${runLayout.transformOutput(runId)}${part}.jsonl.out` };
  }

  it('joins each output line to its item: predictions, model errors, malformed and missing lines become one row each', async () => {
    const keys = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg', 'f.jpg', 'g.jpg'];
    const event = await seedPart('run-join', 'part-000000010', keys, [
      outputLine(
        10,
        'a.jpg',
        {
          model,
          text: 'STOP',
          confidence: 0.95,
          lines: [
            {
              text: 'STOP',
              confidence: 0.95,
              box: [
                [96, 48],
                [480, 48],
                [480, 240],
                [96, 240],
              ],
            },
          ],
        },
        'STOP',
      ),
      outputLine(11, 'b.jpg', { model, text: 'EXIT  ', confidence: 0.41 }, 'EXIT 2'),
      outputLine(12, 'c.jpg', { model, error: { code: 'UNDECODABLE_IMAGE', message: 'cannot decode' } }),
      '{"id": 13, "key": "d.jpg", "SageMakerOutput": ',
      outputLine(15, 'f.jpg', { model, text: 'out of order', confidence: 0.5 }),
    ]);

    const stats = await aggregateOne(event, deps);

    expect(PartStatsSchema.parse(stats)).toMatchObject({
      part: 'part-000000010.jsonl',
      lines: 5,
      predicted: 2,
      rejected: 5,
      rejectedByReason: { MODEL_ERROR: 1, MALFORMED_OUTPUT: 2, MISSING_OUTPUT: 2 },
      withExpected: 2,
      matches: 1,
      models: ['paddleocr-ppocrv4@4.0.0'],
    });
    expect(stats.confidenceHistogram[9]).toBe(1);
    expect(stats.confidenceHistogram[4]).toBe(1);
    const rows = await rowsOf('run-join');
    expect([...rows.keys()].sort()).toEqual(keys);
    expect(rows.get('a.jpg')).toMatchObject({
      outcome: 'PREDICTED',
      text: 'STOP',
      match: true,
      modelName: 'paddleocr-ppocrv4',
      lines: [
        {
          text: 'STOP',
          box: [
            [200, 100],
            [1000, 100],
            [1000, 500],
            [200, 500],
          ],
        },
      ],
    });
    expect(rows.get('b.jpg')).toMatchObject({ outcome: 'PREDICTED', match: false });
    expect(rows.get('c.jpg')).toMatchObject({ outcome: 'REJECTED', reason: 'MODEL_ERROR', stage: 'aggregate' });
    expect(rows.get('d.jpg')).toMatchObject({ outcome: 'REJECTED', reason: 'MALFORMED_OUTPUT' });
    expect(rows.get('e.jpg')).toMatchObject({ outcome: 'REJECTED', reason: 'MALFORMED_OUTPUT' });
    expect(rows.get('g.jpg')).toMatchObject({ outcome: 'REJECTED', reason: 'MISSING_OUTPUT' });
  });

  it('is idempotent: aggregating the same output twice leaves one row per item', async () => {
    const event = await seedPart(
      'run-twice',
      'part-000000000',
      ['x.jpg', 'y.jpg'],
      [
        outputLine(10, 'x.jpg', { model, text: 'X', confidence: 0.9 }),
        outputLine(11, 'y.jpg', { model, labels: [{ label: 'cat', score: 0.7 }] }),
      ],
    );

    const first = await aggregateOne(event, deps);
    const second = await aggregateOne(event, deps);

    expect(second).toEqual(first);
    const rows = await rowsOf('run-twice');
    expect(rows.size).toBe(2);
    expect(rows.get('y.jpg')).toMatchObject({ label: 'cat', confidence: 0.7 });
  });

  it('stores an empty or blank text as NO_TEXT, outside the confidence figures and a miss against expected text', async () => {
    const event = await seedPart(
      'run-no-text',
      'part-000000000',
      ['blank.jpg', 'spaces.jpg', 'read.jpg'],
      [
        outputLine(10, 'blank.jpg', { model, text: '', confidence: 0, lines: [] }, 'STOP'),
        outputLine(11, 'spaces.jpg', { model, text: '  ', lines: [] }),
        outputLine(12, 'read.jpg', { model, text: 'STOP', confidence: 0.8 }, 'STOP'),
      ],
    );

    const stats = await aggregateOne(event, deps);

    expect(stats).toMatchObject({ lines: 3, predicted: 1, noText: 2, rejected: 0, withExpected: 2, matches: 1 });
    expect(stats.confidenceSum).toBeCloseTo(0.8, 6);
    expect(stats.confidenceHistogram.reduce((sum, n) => sum + n, 0)).toBe(1);
    const rows = await rowsOf('run-no-text');
    expect(rows.get('blank.jpg')).toMatchObject({ outcome: 'NO_TEXT', expected: 'STOP', match: false });
    expect(rows.get('blank.jpg')).not.toHaveProperty('confidence');
    expect(rows.get('spaces.jpg')).toMatchObject({ outcome: 'NO_TEXT' });
    expect(rows.get('spaces.jpg')).not.toHaveProperty('match');
    expect(rows.get('read.jpg')).toMatchObject({
      outcome: 'PREDICTED',
      match: true,
      image: { width: 2000, height: 1000 },
    });
  });

  it('fails with PipelineStateError when the preprocess index for the part is missing', async () => {
    await put(`${runLayout.transformOutput('run-orphan')}part-000000000.jsonl.out`, '{}\n');

    const attempt = aggregateOne(
      {
        runId: 'run-orphan',
        pipelineBucket: PIPELINE,
        key: `${runLayout.transformOutput('run-orphan')}part-000000000.jsonl.out`,
      },
      deps,
    );

    await expect(attempt).rejects.toThrow(PipelineStateError);
  });

  it('fails with PipelineStateError naming the index when the preprocess index is not JSON', async () => {
    const key = `${runLayout.transformOutput('run-garbled')}part-000000000.jsonl.out`;
    await put(key, '{}\n');
    await put(`${runLayout.transformIndex('run-garbled')}part-000000000.json`, '[{"id": 0,');

    const attempt = aggregateOne({ runId: 'run-garbled', pipelineBucket: PIPELINE, key }, deps);

    await expect(attempt).rejects.toThrow(PipelineStateError);
    await expect(attempt).rejects.toThrow(/transform-index\/part-000000000\.json written by preprocess is not JSON/);
  });

  it('asks for the index and the output at once, and starts writing before the output is read to its end', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `flow-${i}.jpg`);
    const event = await seedPart(
      'run-flow',
      'part-000000000',
      keys,
      keys.map((key, i) => outputLine(i + 10, key, { model, text: 'T', confidence: 0.5 })),
    );
    const events: string[] = [];

    const stats = await aggregateOne(event, { ...deps, ...recording(deps.objects, predictions, events) });

    const indexKey = `${runLayout.transformIndex('run-flow')}part-000000000.json`;
    expect(events.slice(0, 2)).toEqual([`get ${indexKey}`, `lines ${event.key}`]);
    expect(events.filter((e) => e.startsWith('put') && !e.endsWith('done'))).toEqual([
      'put 25 rows',
      'put 25 rows',
      'put 10 rows',
    ]);
    expect(events.indexOf('put 25 rows')).toBeLessThan(events.indexOf('line 26'));
    expect(stats.predicted).toBe(60);
    expect((await rowsOf('run-flow')).size).toBe(60);
  });

  it('keeps the later row when a damaged index names one key twice in different writes', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => (i === 0 || i === 29 ? 'twice.jpg' : `once-${i}.jpg`));
    const event = await seedPart(
      'run-twice-in-index',
      'part-000000000',
      keys,
      keys.map((key, i) => outputLine(i + 10, key, { model, text: i === 0 ? 'FIRST' : 'LAST', confidence: 0.5 })),
    );

    await aggregateOne(event, { ...deps, writeConcurrency: 4 });

    const rows = await rowsOf('run-twice-in-index');
    expect(rows.size).toBe(29);
    expect(rows.get('twice.jpg')).toMatchObject({ text: 'LAST' });
  });

  it('fails the part with the store error when a write fails while the output is still being read', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `lost-${i}.jpg`);
    const event = await seedPart(
      'run-no-table',
      'part-000000000',
      keys,
      keys.map((key, i) => outputLine(i + 10, key, { model, text: 'T', confidence: 0.5 })),
    );
    const missingTable = new DynamoPredictionStore(aws.doc, 'no-such-predictions-table');

    const attempt = aggregateOne(event, { ...deps, predictions: missingTable });

    await expect(attempt).rejects.toThrow(ServiceError);
    await expect(attempt).rejects.toThrow(/no-such-predictions-table/);
  });

  it('returns statistics whose size does not depend on the number of lines', async () => {
    const keys = Array.from({ length: 400 }, (_, i) => `many-${i}.jpg`);
    const event = await seedPart(
      'run-size',
      'part-000000000',
      keys,
      keys.map((key, i) => outputLine(i + 10, key, { model, text: 'T', confidence: (i % 10) / 10 })),
    );

    const stats = await aggregateOne(event, deps);

    expect(stats.predicted).toBe(400);
    expect(Buffer.byteLength(JSON.stringify(stats))).toBeLessThan(1024);
  });

  it('aggregates a batch of parts in order, one PartStats each, and re-running the batch leaves one row per item', async () => {
    const parts = await Promise.all(
      [0, 1, 2].map((n) =>
        seedPart(
          'run-batch',
          `part-00000000${n}`,
          [`b${n}-1.jpg`, `b${n}-2.jpg`],
          [
            outputLine(10, `b${n}-1.jpg`, { model, text: 'T', confidence: 0.9 }),
            outputLine(11, `b${n}-2.jpg`, { model, error: { code: 'UNDECODABLE_IMAGE', message: 'no' } }),
          ],
        ),
      ),
    );

    const first = await runAggregate(batchOf(...parts), deps);
    const again = await runAggregate(batchOf(...parts), deps);

    expect(first.parts.map((part) => part.part)).toEqual([
      'part-000000000.jsonl',
      'part-000000001.jsonl',
      'part-000000002.jsonl',
    ]);
    expect(first.parts.every((part) => part.predicted === 1 && part.rejected === 1)).toBe(true);
    expect(again).toEqual(first);
    expect((await rowsOf('run-batch')).size).toBe(6);
  });

  it("requests the next part's index and output once a part is read, before that part's last write is sent", async () => {
    const keys = (n: number) => Array.from({ length: 60 }, (_, i) => `ahead-${n}-${i}.jpg`);
    const lines = (n: number) =>
      keys(n).map((key, i) => outputLine(i + 10, key, { model, text: 'T', confidence: 0.5 }));
    const one = await seedPart('run-ahead', 'part-000000000', keys(0), lines(0));
    const two = await seedPart('run-ahead', 'part-000000060', keys(1), lines(1));
    const events: string[] = [];

    const result = await runAggregate(batchOf(one, two), { ...deps, ...recording(deps.objects, predictions, events) });

    const secondIndex = events.indexOf(`get ${runLayout.transformIndex('run-ahead')}part-000000060.json`);
    expect(secondIndex).toBeGreaterThan(events.indexOf('line 60'));
    expect(events[secondIndex + 1]).toBe(`lines ${two.key}`);
    // The first part's 10-row write goes out after the second part's reads were asked for.
    expect(events.indexOf('put 10 rows')).toBeGreaterThan(secondIndex);
    expect(result.parts.map((part) => part.predicted)).toEqual([60, 60]);
    expect((await rowsOf('run-ahead')).size).toBe(120);
  });

  it('names the part that failed and keeps its error class; the parts before it are written', async () => {
    const good = await seedPart('run-part-fails', 'part-000000000', ['ok.jpg'], [outputLine(10, 'ok.jpg', { model })]);
    const orphanKey = `${runLayout.transformOutput('run-part-fails')}part-000000001.jsonl.out`;
    await put(orphanKey, '{}\n');
    const never = await seedPart('run-part-fails', 'part-000000002', ['never.jpg'], [outputLine(10, 'never.jpg', {})]);

    const attempt = runAggregate(batchOf(good, { ...good, key: orphanKey }, never), deps);

    await expect(attempt).rejects.toThrow(PipelineStateError);
    await expect(attempt).rejects.toThrow(
      `aggregating s3://${PIPELINE}/${orphanKey} (part 2 of 3 in this batch): the index s3://${PIPELINE}/`,
    );
    expect([...(await rowsOf('run-part-fails')).keys()]).toEqual(['ok.jpg']);
  });

  it('closes the part it read ahead, without an unhandled rejection, when the part before it fails', async () => {
    const first = await seedPart('run-ahead-fails', 'part-000000000', ['x.jpg'], [outputLine(10, 'x.jpg', { model })]);
    // The second part has no index: reading it ahead fails, and nothing may surface that failure.
    const orphanKey = `${runLayout.transformOutput('run-ahead-fails')}part-000000001.jsonl.out`;
    await put(orphanKey, '{}\n');
    const missingTable = new DynamoPredictionStore(aws.doc, 'no-such-predictions-table');

    const events: string[] = [];

    const attempt = runAggregate(batchOf(first, { ...first, key: orphanKey }), {
      ...deps,
      ...recording(deps.objects, missingTable, events),
    });

    await expect(attempt).rejects.toThrow(ServiceError);
    await expect(attempt).rejects.toThrow(`aggregating s3://${PIPELINE}/${first.key} (part 1 of 2 in this batch): `);
    expect(events).toContain(`lines ${orphanKey}`);
    expect(events.filter((event) => event.startsWith('closed '))).toEqual([`closed ${orphanKey}`]);
  });

  it('takes the one-part event of an execution started before the map batched (redriven after the deploy) and returns a bare PartStats', async () => {
    // RedriveExecution keeps the original state machine definition, whose Aggregate map sent one part per child.
    const event = await seedPart(
      'run-redriven',
      'part-000000000',
      ['old-1.jpg', 'old-2.jpg'],
      [
        outputLine(10, 'old-1.jpg', { model, text: 'OLD', confidence: 0.9 }),
        outputLine(11, 'old-2.jpg', { model, error: { code: 'UNDECODABLE_IMAGE', message: 'no' } }),
      ],
    );
    const handler = createHandler(testWire({ objects: deps.objects, predictions }));

    const bare = await handler({ runId: event.runId, pipelineBucket: event.pipelineBucket, key: event.key });
    const batched = await handler(batchOf(event));

    expect(PartStatsSchema.parse(bare)).toMatchObject({ part: 'part-000000000.jsonl', predicted: 1, rejected: 1 });
    expect(batched).toEqual({ parts: [bare] });
    expect([...(await rowsOf('run-redriven')).keys()].sort()).toEqual(['old-1.jpg', 'old-2.jpg']);
  });

  it('names the fields of a malformed one-part event, as it does for a batch', async () => {
    const handler = createHandler(testWire({ objects: deps.objects, predictions }));

    const attempt = handler({ runId: 'run-x', key: 'runs/run-x/transform-output/p.jsonl.out', extra: 1 });

    await expect(attempt).rejects.toThrow(expect.objectContaining({ name: 'InvalidInputError' }));
    await expect(attempt).rejects.toThrow(
      /aggregate batch is invalid: pipelineBucket: .*; \(root\): unknown field\(s\) "extra"/,
    );
  });

  it('checks every key of the batch before reading or writing anything', async () => {
    const good = await seedPart('run-bad-key', 'part-000000000', ['a.jpg'], [outputLine(10, 'a.jpg', { model })]);
    const events: string[] = [];

    const attempt = runAggregate(batchOf(good, { ...good, key: 'elsewhere/part.jsonl.out' }), {
      ...deps,
      ...recording(deps.objects, predictions, events),
    });

    await expect(attempt).rejects.toThrow(PipelineStateError);
    await expect(attempt).rejects.toThrow(
      /elsewhere\/part\.jsonl\.out is not a transform output object of run run-bad-key/,
    );
    expect(events).toEqual([]);
  });
});
