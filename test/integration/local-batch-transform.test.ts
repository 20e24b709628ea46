import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LocalBatchTransform,
  type ModelServerInstance,
  type TransformJobRequest,
} from '../../pipeline/local/batch-transform.ts';
import { startModelServer } from '../../pipeline/local/model-server-process.ts';
import { generateSampleDataset } from '../../pipeline/local/sample-dataset.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { silentLog } from '../../shared/logging.ts';
import { TRANSFORM_DATA_PROCESSING } from '../../shared/records.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { RecordingSleeper } from '../helpers/recording-sleeper.ts';

const BUCKET = 'transform-local';
const clock = { now: () => new Date() };

/** A transform input line as preprocess writes it. */
async function record(id: number, body: Uint8Array, expected?: string) {
  const { data, info } = await sharp(body).png().toBuffer({ resolveWithObject: true });
  return JSON.stringify({
    id,
    key: `img-${id}.png`,
    bucket: 'data',
    ...(expected ? { expected } : {}),
    geometry: {
      originalWidth: info.width,
      originalHeight: info.height,
      width: info.width,
      height: info.height,
      scaleX: 1,
      scaleY: 1,
      offsetX: 0,
      offsetY: 0,
    },
    input: { image: data.toString('base64'), format: 'png', width: info.width, height: info.height },
  });
}

function job(name: string, prefix: string, overrides: Partial<TransformJobRequest> = {}): TransformJobRequest {
  return {
    TransformJobName: name,
    ModelName: 'ocr',
    BatchStrategy: 'MultiRecord',
    MaxPayloadInMB: 6,
    MaxConcurrentTransforms: 2,
    ModelClientConfig: { InvocationsTimeoutInSeconds: 60, InvocationsMaxRetries: 1 },
    TransformInput: {
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${BUCKET}/${prefix}/in/` } },
      ContentType: 'application/jsonlines',
      SplitType: 'Line',
    },
    TransformOutput: {
      S3OutputPath: `s3://${BUCKET}/${prefix}/out/`,
      Accept: 'application/jsonlines',
      AssembleWith: 'Line',
    },
    TransformResources: { InstanceType: 'ml.g5.xlarge', InstanceCount: 1 },
    DataProcessing: { ...TRANSFORM_DATA_PROCESSING },
    ...overrides,
  };
}

describe('the local batch transform against the real model server and the local S3 server', () => {
  let aws: LocalAws;
  let server: ModelServerInstance;
  let lines: string[];
  let launched: number[];
  const transform = () =>
    new LocalBatchTransform({
      objects: new S3ObjectStore(aws.s3),
      clock,
      log: silentLog,
      launchInstance: async (index) => {
        launched.push(index);
        return index === 0 ? { endpoint: server.endpoint, stop: async () => undefined } : startModelServer();
      },
    });
  const put = (key: string, body: string) =>
    aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  const get = async (key: string) =>
    (await aws.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString() ?? '';

  beforeAll(async () => {
    [aws, server] = await Promise.all([startLocalAws(), startModelServer()]);
    await aws.createBucket(BUCKET);
    const signs = (await generateSampleDataset()).filter((file) => file.kind === 'sign').slice(0, 4);
    lines = await Promise.all(signs.map((file, i) => record(i, file.body, file.expected)));
    launched = [];
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  it('writes one .out per input object, a line per input line in order, joined to its input by DataProcessing', async () => {
    await put('join/in/part-a.jsonl', `${lines.slice(0, 3).join('\n')}\n`);
    await put('join/in/sub/part-b.jsonl', `${lines[3]}\n`);
    const local = transform();

    local.create(job('join-job', 'join'));
    const done = await local.wait('join-job');

    expect(done).toMatchObject({ TransformJobStatus: 'Completed', TransformJobName: 'join-job', ModelName: 'ocr' });
    const a = (await get('join/out/part-a.jsonl.out'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    const b = (await get('join/out/sub/part-b.jsonl.out'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(a.map((line) => line.id)).toEqual([0, 1, 2]);
    expect(b.map((line) => line.id)).toEqual([3]);
    for (const line of [...a, ...b]) {
      expect(Object.keys(line).sort()).toEqual(['SageMakerOutput', 'bucket', 'expected', 'geometry', 'id', 'key']);
      expect(line.SageMakerOutput.model.name).toBe('paddleocr-ppocrv4');
    }
    expect(a[0].SageMakerOutput.text).toBe(a[0].expected);
  });

  it('asks the container for MaxConcurrentTransforms and MaxPayloadInMB when the job leaves them to it', async () => {
    await put('params/in/part.jsonl', `${lines[0]}\n`);
    const local = transform();

    local.create(
      job('params-job', 'params', { MaxConcurrentTransforms: 0, MaxPayloadInMB: undefined, BatchStrategy: undefined }),
    );
    const done = await local.wait('params-job');
    const recommended = await (await fetch(`${server.endpoint}/execution-parameters`)).json();

    expect(done.TransformJobStatus).toBe('Completed');
    expect(done.MaxConcurrentTransforms).toBe(recommended.MaxConcurrentTransforms);
    expect(done.MaxPayloadInMB).toBe(recommended.MaxPayloadInMB);
  });

  it("fails the object holding a record larger than MaxPayloadInMB with SageMaker's message, and the job with it", async () => {
    const huge = JSON.stringify({
      id: 9,
      key: 'huge.png',
      bucket: 'data',
      geometry: {},
      input: { image: 'A'.repeat(1_200_000), format: 'png', width: 1, height: 1 },
    });
    await put('payload/in/ok.jsonl', `${lines[0]}\n`);
    await put('payload/in/too-big.jsonl', `${huge}\n`);
    const local = transform();

    local.create(job('payload-job', 'payload', { MaxPayloadInMB: 1 }));
    const done = await local.wait('payload-job');

    expect(done.TransformJobStatus).toBe('Failed');
    expect(done.FailureReason).toContain('ClientError: See job logs for more information');
    expect(done.FailureReason).toContain('payload/in/too-big.jsonl: Too much data for max payload size');
    expect(await get('payload/out/ok.jsonl.out')).toContain('"id":0');
  });

  it('spreads objects over InstanceCount model-server processes', async () => {
    await put('instances/in/p1.jsonl', `${lines[0]}\n`);
    await put('instances/in/p2.jsonl', `${lines[1]}\n`);
    launched = [];
    const local = transform();

    local.create(
      job('instances-job', 'instances', { TransformResources: { InstanceType: 'ml.g5.xlarge', InstanceCount: 2 } }),
    );
    const done = await local.wait('instances-job');

    expect(done.TransformJobStatus).toBe('Completed');
    expect(launched).toEqual([0, 1]);
    expect(await get('instances/out/p2.jsonl.out')).toContain('"id":1');
  });

  it('refuses a second job with the same name (ResourceInUse) and an invalid name (ValidationException)', () => {
    const local = transform();
    local.create(job('twice', 'join'));

    expect(() => local.create(job('twice', 'join'))).toThrow(expect.objectContaining({ name: 'ResourceInUse' }));
    expect(() => local.create(job('bad_name!', 'join'))).toThrow(
      expect.objectContaining({ name: 'ValidationException' }),
    );
  });
});

describe('ModelClientConfig retries (in-process fake model server: the real one cannot answer 500 on demand)', () => {
  let aws: LocalAws;
  let fake: Server;
  let failuresLeft = 0;
  let requests = 0;
  let sleeper: RecordingSleeper;
  const endpoint = () => `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const local = () =>
    new LocalBatchTransform({
      objects: new S3ObjectStore(aws.s3),
      clock,
      log: silentLog,
      sleeper,
      launchInstance: async () => ({ endpoint: endpoint(), stop: async () => undefined }),
    });

  beforeAll(async () => {
    aws = await startLocalAws();
    await aws.createBucket(BUCKET);
    fake = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        requests += 1;
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          res.writeHead(500).end('boom');
          return;
        }
        const out = body
          .trimEnd()
          .split('\n')
          .map(() => JSON.stringify({ model: { name: 'fake', version: '1' }, text: 'x', confidence: 1 }));
        res.writeHead(200, { 'content-type': 'application/jsonlines' }).end(`${out.join('\n')}\n`);
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    fake?.close();
    await aws?.stop();
  });

  async function runWith(retries: number, failures: number) {
    failuresLeft = failures;
    requests = 0;
    sleeper = new RecordingSleeper();
    const transform = local();
    const name = `retry-${retries}-${failures}`;
    await aws.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `${name}/in/p.jsonl`, Body: '{"id":1,"key":"k","input":{}}\n' }),
    );
    transform.create(
      job(name, name, { ModelClientConfig: { InvocationsTimeoutInSeconds: 5, InvocationsMaxRetries: retries } }),
    );
    return transform.wait(name);
  }

  it('retries a 500 up to InvocationsMaxRetries times, backing off, and then succeeds', async () => {
    const done = await runWith(2, 2);

    expect(done.TransformJobStatus).toBe('Completed');
    expect(requests).toBe(3);
    expect(sleeper.delays('retry')).toEqual([250, 500]);
  });

  it('fails the object once the retries are spent', async () => {
    const done = await runWith(1, 5);

    expect(done.TransformJobStatus).toBe('Failed');
    expect(done.FailureReason).toContain('ServerError: 500');
    expect(requests).toBe(2);
    expect(sleeper.delays('retry')).toEqual([250]);
  });

  /** A ManifestFile job; the manifest is written one element per line, so element i is on line i + 1. */
  function manifestJob(name: string, manifest: unknown[]) {
    const transform = local();
    sleeper = new RecordingSleeper();
    const request = job(name, name, {
      TransformInput: {
        DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: `s3://${BUCKET}/${name}/input.manifest` } },
        ContentType: 'application/jsonlines',
        SplitType: 'Line',
      },
    });
    return {
      run: async () => {
        await aws.s3.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: `${name}/input.manifest`,
            Body: `[${manifest.map((entry) => JSON.stringify(entry)).join(',\n')}]`,
          }),
        );
        transform.create(request);
        return transform.wait(name);
      },
    };
  }

  it("reads a SageMaker ManifestFile with the pipeline's manifest reader, naming outputs relative to its prefix", async () => {
    const body = '{"id":1,"key":"k","input":{}}\n';
    await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mf-ok/data/a.jsonl', Body: body }));
    await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mf-ok/data/sub/b.jsonl', Body: body }));
    await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mf-ok/data/not-listed.jsonl', Body: body }));
    failuresLeft = 0;
    requests = 0;

    const done = await manifestJob('mf-ok', [{ prefix: `s3://${BUCKET}/mf-ok/data/` }, 'a.jsonl', 'sub/b.jsonl']).run();

    expect(done.TransformJobStatus).toBe('Completed');
    expect(requests).toBe(2);
    const out = await aws.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mf-ok/out/sub/b.jsonl.out' }));
    expect(await out.Body?.transformToString()).toContain('"SageMakerOutput"');
  });

  it('fails a job whose ManifestFile names an object outside its prefix, naming the manifest line', async () => {
    const done = await manifestJob('mf-escape', [
      { prefix: `s3://${BUCKET}/mf-escape/data/` },
      '../secret.jsonl',
    ]).run();

    expect(done.TransformJobStatus).toBe('Failed');
    expect(done.FailureReason).toContain(`ClientError: s3://${BUCKET}/mf-escape/input.manifest line 2 entry 1:`);
  });

  it("fails a job whose ManifestFile is not a ManifestFile, with the reader's advice", async () => {
    const done = await manifestJob('mf-shape', [`s3://${BUCKET}/mf-shape/data/a.jsonl`]).run();

    expect(done.TransformJobStatus).toBe('Failed');
    expect(done.FailureReason).toContain('is not a SageMaker ManifestFile');
  });
});

describe('MaxConcurrentTransforms (in-process fake model server: it counts the requests it holds at once)', () => {
  let aws: LocalAws;
  let fake: Server;
  let held: Array<() => void> = [];
  let peak = 0;
  let limit = 0;
  let flushTimer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    aws = await startLocalAws();
    await aws.createBucket(BUCKET);
    // Answers nothing until `limit` requests are open at once (or none came for a while: the last few), so the peak
    // is the job's concurrency, not the server's speed.
    fake = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const out = body
          .trimEnd()
          .split('\n')
          .map((line) => JSON.stringify({ echo: (JSON.parse(line) as { id: number }).id }));
        held.push(() => res.writeHead(200, { 'content-type': 'application/jsonlines' }).end(`${out.join('\n')}\n`));
        peak = Math.max(peak, held.length);
        const flush = () => {
          clearTimeout(flushTimer);
          const answers = held;
          held = [];
          for (const answer of answers) answer();
        };
        clearTimeout(flushTimer);
        if (held.length >= limit) flush();
        else flushTimer = setTimeout(flush, 300);
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    fake?.close();
    await aws?.stop();
  });

  it('keeps MaxConcurrentTransforms requests in flight across objects, never more, each output in its input order, and counts every record', async () => {
    const name = 'concurrent';
    const objects = 7;
    for (let part = 0; part < objects; part += 1) {
      const body = [0, 1].map((line) => `${JSON.stringify({ id: part * 10 + line })}\n`).join('');
      await aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${name}/in/part-${part}.jsonl`, Body: body }));
    }
    limit = 3;
    peak = 0;
    const progress: { objectsDone: number; recordsDone: number }[] = [];
    const transform = new LocalBatchTransform({
      objects: new S3ObjectStore(aws.s3),
      clock,
      log: silentLog,
      onProgress: ({ objectsDone, recordsDone }) => progress.push({ objectsDone, recordsDone }),
      launchInstance: async () => ({
        endpoint: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
        stop: async () => undefined,
      }),
    });

    transform.create(job(name, name, { MaxConcurrentTransforms: limit, DataProcessing: {} }));
    const done = await transform.wait(name);

    expect(done.TransformJobStatus).toBe('Completed');
    expect(peak).toBe(limit);
    // Objects finish together; the last update still counts all 14 records (a lost update once showed fewer).
    expect(progress.at(-1)).toEqual({ objectsDone: objects, recordsDone: objects * 2 });
    const out = await aws.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${name}/out/part-6.jsonl.out` }));
    expect(await out.Body?.transformToString()).toBe('{"echo":60}\n{"echo":61}\n');
  });
});
