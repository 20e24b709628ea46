import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBatchTransform, type ModelServerInstance } from '../../pipeline/local/batch-transform.ts';
import { startModelServer } from '../../pipeline/local/model-server-process.ts';
import { DynamoPredictionStore } from '../../shared/aws/dynamo-prediction-store.ts';
import { DynamoRunStore } from '../../shared/aws/dynamo-run-store.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { silentLog } from '../../shared/logging.ts';
import {
  DatasetItemSchema,
  type OutcomeRecord,
  type PartStats,
  TRANSFORM_DATA_PROCESSING,
} from '../../shared/records.ts';
import type { PlanResult } from '../../shared/stage-events.ts';
import { AGGREGATE_PARTS_PER_CHILD } from '../../shared/stage-sizing.ts';
import { runAggregate } from '../../stages/aggregate/aggregate.ts';
import { runPlan } from '../../stages/plan/plan.ts';
import { runPreprocess } from '../../stages/preprocess/preprocess.ts';
import { runReport } from '../../stages/report/report.ts';
import { BAD_INPUT_SET, badInputSet, TEST_MAX_OBJECT_BYTES } from '../helpers/images.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';

const DATA = 'chain-data';
const PIPELINE = 'chain-pipeline';
/** The settings the bad-input set's expectations hold under, as execution input. */
const PREPROCESS = { width: 256, height: 256, maxObjectBytes: TEST_MAX_OBJECT_BYTES, batchSize: 4 };

/**
 * Every stage, in the order the state machine runs them, over the local S3 and DynamoDB servers, with the real OCR
 * model server behind the local Batch Transform (the same job request the state machine sends). The whole state
 * machine around them is exercised by test/e2e/local-pipeline.test.ts.
 */
describe('stages chained over the local servers: every input ends as exactly one prediction or rejection', () => {
  let aws: LocalAws;
  let objects: S3ObjectStore;
  let predictions: DynamoPredictionStore;
  let runs: DynamoRunStore;
  let server: ModelServerInstance;
  let jobs = 0;
  const clock = { now: () => new Date() };

  beforeAll(async () => {
    [aws, server] = await Promise.all([startLocalAws(), startModelServer()]);
    await Promise.all([aws.createBucket(DATA), aws.createBucket(PIPELINE)]);
    const tables = await aws.createTables();
    objects = new S3ObjectStore(aws.s3);
    predictions = new DynamoPredictionStore(aws.doc, tables.predictionsTable);
    runs = new DynamoRunStore(aws.doc, tables.runsTable, clock);
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  /** The transform job the state machine would start for this plan, on the local batch transform. */
  async function transform(plan: PlanResult): Promise<string[]> {
    const inputs = [];
    for await (const object of objects.list({ bucket: PIPELINE, key: plan.transformInputPrefix })) inputs.push(object);
    if (inputs.length === 0) return [];
    const batch = new LocalBatchTransform({
      objects,
      clock,
      log: silentLog,
      launchInstance: async () => ({ endpoint: server.endpoint, stop: async () => undefined }),
    });
    jobs += 1;
    const name = `ns-chain-${jobs}`;
    batch.create({
      TransformJobName: name,
      ModelName: 'ocr',
      BatchStrategy: 'MultiRecord',
      MaxPayloadInMB: 6,
      MaxConcurrentTransforms: 2,
      TransformInput: {
        DataSource: {
          S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${PIPELINE}/${plan.transformInputPrefix}` },
        },
        ContentType: 'application/jsonlines',
        SplitType: 'Line',
      },
      TransformOutput: { S3OutputPath: `s3://${PIPELINE}/${plan.transformOutputPrefix}`, AssembleWith: 'Line' },
      TransformResources: { InstanceType: 'ml.g5.xlarge', InstanceCount: 1 },
      DataProcessing: { ...TRANSFORM_DATA_PROCESSING },
    });
    const done = await batch.wait(name);
    if (done.TransformJobStatus !== 'Completed') throw new Error(`transform job failed: ${done.FailureReason}`);
    const outputs: string[] = [];
    for await (const object of objects.list({ bucket: PIPELINE, key: plan.transformOutputPrefix }))
      outputs.push(object.key);
    return outputs;
  }

  async function runAllStages(input: Record<string, unknown>, executionName: string) {
    const ports = { objects, runs, predictions, clock, log: silentLog };
    const plan: PlanResult = await runPlan(
      { input, execution: { name: executionName } },
      { ...ports, pipelineBucket: PIPELINE, allowedDatasetLocations: [{ bucket: DATA, key: '' }] },
    );
    // The Distributed Map: ItemReader over the plan's parts, ItemBatcher with batchSize items per batch.
    const items = [];
    for (const key of JSON.parse(
      new TextDecoder().decode(await objects.get({ bucket: PIPELINE, key: plan.items.manifestKey })),
    ) as string[]) {
      for await (const line of objects.lines({ bucket: PIPELINE, key }))
        items.push(DatasetItemSchema.parse(JSON.parse(line)));
    }
    const batchSize = plan.settings.preprocess.batchSize;
    for (let i = 0; i < items.length; i += batchSize) {
      await runPreprocess(
        {
          Items: items.slice(i, i + batchSize),
          BatchInput: { runId: plan.runId, pipelineBucket: PIPELINE, settings: plan.settings.preprocess },
        },
        ports,
      );
    }
    const outputs = await transform(plan);
    const parts: PartStats[] = [];
    // In batches of AGGREGATE_PARTS_PER_CHILD, as the Aggregate map's ItemBatcher groups them.
    for (let i = 0; i < outputs.length; i += AGGREGATE_PARTS_PER_CHILD) {
      const Items = outputs.slice(i, i + AGGREGATE_PARTS_PER_CHILD).map((key) => ({ key }));
      const result = await runAggregate({ Items, BatchInput: { runId: plan.runId, pipelineBucket: PIPELINE } }, ports);
      parts.push(...result.parts);
    }
    const report = await runReport({ runId: plan.runId, pipelineBucket: PIPELINE, parts }, ports);
    const rows: OutcomeRecord[] = [];
    for await (const row of predictions.list(plan.runId)) rows.push(row);
    return { plan, report, rows };
  }

  const text = async (uri: string) => {
    const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri) ?? [];
    return (await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString() ?? '';
  };

  it('runs the bad-input set from a prefix: each object gets the outcome its kind calls for, and counts reconcile', async () => {
    const set = await badInputSet();
    await Promise.all([
      ...set.map((image) =>
        aws.s3.send(
          new PutObjectCommand({
            Bucket: DATA,
            Key: `bad/${image.key}`,
            Body: image.body,
            ContentType: image.contentType,
          }),
        ),
      ),
      aws.s3.send(new PutObjectCommand({ Bucket: DATA, Key: 'bad/images/notes.txt', Body: 'plain text' })),
    ]);

    const { plan, report, rows } = await runAllStages(
      { dataset: `s3://${DATA}/bad/`, preprocess: PREPROCESS },
      'chain-bad',
    );

    const total = BAD_INPUT_SET.length + 1;
    expect(plan.items.total).toBe(total);
    expect(rows).toHaveLength(total);
    expect(new Set(rows.map((row) => row.key)).size).toBe(total);
    for (const spec of BAD_INPUT_SET) {
      const row = rows.find((r) => r.key === `bad/${spec.key}`);
      // The accepted images are scenes without text: the model reads each, and finds text in it or none (NO_TEXT).
      if (spec.expected.outcome === 'accepted') expect(['PREDICTED', 'NO_TEXT'], spec.name).toContain(row?.outcome);
      else expect(row, spec.name).toMatchObject({ outcome: 'REJECTED', reason: spec.expected.reason });
    }
    expect(rows.find((r) => r.key === 'bad/images/notes.txt')).toMatchObject({
      reason: 'UNSUPPORTED_TYPE',
      stage: 'plan',
    });
    const noText = report.counts.noText ?? 0;
    expect(report.counts.items).toBe(report.counts.predicted + noText + report.counts.rejected);
    expect(report.counts).toMatchObject({ items: total, rejected: total - 8 });
    expect(report.counts.predicted + noText).toBe(8);
    expect(await runs.get(plan.runId)).toMatchObject({ status: 'SUCCEEDED', counts: report.counts });
    const csvLines = (await text(report.report.csv)).trimEnd().split('\n');
    expect(csvLines).toHaveLength(total + 1);
    expect(JSON.parse(await text(report.report.json))).toMatchObject({ counts: report.counts });
  });

  it('runs a JSONL manifest with a line in another bucket and a malformed line: both are rejections with line numbers', async () => {
    const set = await badInputSet();
    const clean = set.filter((image) => image.expected.outcome === 'accepted').slice(0, 3);
    await Promise.all(
      clean.map((image) =>
        aws.s3.send(new PutObjectCommand({ Bucket: DATA, Key: `m/${image.key}`, Body: image.body })),
      ),
    );
    const manifest = [
      ...clean.map((image) => JSON.stringify({ key: `m/${image.key}`, expected: 'light' })),
      JSON.stringify({ key: 's3://somebody-elses-bucket/secret.jpg' }),
      '{not json',
    ].join('\n');
    await aws.s3.send(new PutObjectCommand({ Bucket: DATA, Key: 'manifests/m.jsonl', Body: manifest }));

    const { report, rows } = await runAllStages(
      { dataset: `s3://${DATA}/manifests/m.jsonl`, preprocess: PREPROCESS },
      'chain-manifest',
    );

    expect(report.counts).toMatchObject({
      items: 5,
      rejected: 2,
      rejectedByReason: { OUTSIDE_DATASET: 1, MALFORMED_MANIFEST_LINE: 1 },
    });
    expect(report.counts.predicted + (report.counts.noText ?? 0)).toBe(3);
    expect(
      rows.filter((row) => row.outcome === 'REJECTED').map((row) => row.outcome === 'REJECTED' && row.line),
    ).toEqual([4, 5]);
    const read = rows.filter((row) => row.outcome !== 'REJECTED');
    expect(read).toHaveLength(3);
    expect(read.every((row) => 'expected' in row && row.expected === 'light')).toBe(true);
  });

  it('runs an empty dataset to a SUCCEEDED report with zero items', async () => {
    const { plan, report, rows } = await runAllStages({ dataset: `s3://${DATA}/empty/` }, 'chain-empty');

    expect(plan.next).toBe('empty');
    expect(rows).toEqual([]);
    expect(report.counts).toMatchObject({ items: 0, predicted: 0, rejected: 0 });
    expect(JSON.parse(await text(report.report.json)).counts.items).toBe(0);
  });

  it('is idempotent: running the same input again gives the same counts and no duplicate rows', async () => {
    const first = await runAllStages(
      { dataset: `s3://${DATA}/bad/`, preprocess: PREPROCESS, runId: 'chain-again' },
      'chain-again-1',
    );

    const second = await runAllStages(
      { dataset: `s3://${DATA}/bad/`, preprocess: PREPROCESS, runId: 'chain-again' },
      'chain-again-2',
    );

    expect(second.report.counts).toEqual(first.report.counts);
    expect(second.rows).toHaveLength(first.rows.length);
  });
});
