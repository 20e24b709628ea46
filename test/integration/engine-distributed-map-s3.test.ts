import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceIntegration } from '../../pipeline/local/engine/integrations.ts';
import { LocalEngine } from '../../pipeline/local/engine/local-engine.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { RecordingSleeper } from '../helpers/recording-sleeper.ts';

const DATA = 'engine-data';
const RESULTS = 'engine-results';
const WORK = 'arn:aws:states:::work:run';

describe('Distributed Map against the local S3 server', () => {
  let aws: LocalAws;

  beforeAll(async () => {
    aws = await startLocalAws();
    await Promise.all([aws.createBucket(DATA), aws.createBucket(RESULTS)]);
    const put = (key: string, body: string) =>
      aws.s3.send(new PutObjectCommand({ Bucket: DATA, Key: key, Body: body }));
    await Promise.all([
      put('images/a.png', 'aaaa'),
      put('images/b.png', 'bb'),
      put('images/c.png', 'c'),
      put('other/d.png', 'd'),
      put('lists/items.json', JSON.stringify([{ id: 1 }, { id: 2 }, { id: 3 }])),
      put('lists/items.jsonl', '{"id":1}\n{"id":2}\n\n{"id":3}\n'),
      put('lists/items.csv', 'key,label\r\nimg/1.png,"stop, sign"\r\nimg/2.png,"say ""hi"""\r\n'),
      put('lists/headless.csv', 'img/1.png|one\nimg/2.png|two\n'),
      put('lists/broken.jsonl', '{"id":1}\nnot json\n'),
      put('lists/ragged.csv', 'a,b\n1,2,3\n'),
      put('lists/not-array.json', '{"id":1}'),
    ]);
  });

  afterAll(async () => {
    await aws?.stop();
  });

  /** Children echo their input (and fail on `fail: true`). */
  function engine(inputs: unknown[] = []) {
    const echo = serviceIntegration('work', [WORK], async ({ parameters }) => {
      inputs.push(parameters);
      const batch = (parameters as { Items?: { fail?: boolean }[] }).Items ?? [parameters as { fail?: boolean }];
      if (batch.some((item) => item.fail)) throw new Error('child failed');
      return { echoed: parameters };
    });
    return new LocalEngine({ s3: aws.s3, sleeper: new RecordingSleeper(), integrations: [echo] });
  }

  function mapOver(fields: Record<string, unknown>) {
    return {
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Map',
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
            StartAt: 'Work',
            States: { Work: { Type: 'Task', Resource: WORK, End: true } },
          },
          End: true,
          ...fields,
        },
      },
    };
  }

  async function readJson(bucket: string, key: string): Promise<unknown> {
    const response = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse((await response.Body?.transformToString()) ?? '');
  }

  it('lists objects under a prefix as {Etag, Key, LastModified, Size, StorageClass} items', async () => {
    const inputs: Record<string, unknown>[] = [];
    const execution = engine(inputs).startExecution({
      definition: mapOver({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:listObjectsV2',
          Parameters: { Bucket: DATA, 'Prefix.$': '$.prefix' },
        },
      }),
      input: { prefix: 'images/' },
    });
    const result = await execution.result();
    expect(result.status).toBe('SUCCEEDED');
    const byKey = inputs.sort((a, b) => String(a.Key).localeCompare(String(b.Key)));
    expect(byKey.map((item) => item.Key)).toEqual(['images/a.png', 'images/b.png', 'images/c.png']);
    expect(byKey[0]).toEqual({
      Etag: expect.stringMatching(/^"[0-9a-f]{32}"$/),
      Key: 'images/a.png',
      LastModified: expect.any(Number),
      Size: 4,
      StorageClass: 'STANDARD',
    });
    expect(Math.abs((byKey[0]?.LastModified as number) - Date.now() / 1000)).toBeLessThan(3600);
  });

  it.each([
    ['JSON', 'lists/items.json', {}, [{ id: 1 }, { id: 2 }, { id: 3 }]],
    ['JSONL', 'lists/items.jsonl', {}, [{ id: 1 }, { id: 2 }, { id: 3 }]],
    [
      'CSV',
      'lists/items.csv',
      { CSVHeaderLocation: 'FIRST_ROW' },
      [
        { key: 'img/1.png', label: 'stop, sign' },
        { key: 'img/2.png', label: 'say "hi"' },
      ],
    ],
    [
      'CSV',
      'lists/headless.csv',
      { CSVHeaderLocation: 'GIVEN', CSVHeaders: ['key', 'label'], CSVDelimiter: 'PIPE' },
      [
        { key: 'img/1.png', label: 'one' },
        { key: 'img/2.png', label: 'two' },
      ],
    ],
  ])('reads %s items from %s', async (inputType, key, config, expected) => {
    const execution = engine().startExecution({
      definition: mapOver({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: inputType, ...config },
          Parameters: { Bucket: DATA, Key: key },
        },
      }),
    });
    const result = await execution.result();
    expect(result.status).toBe('SUCCEEDED');
    expect((result.output as { echoed: unknown }[]).map((output) => output.echoed)).toEqual(expected);
  });

  it('keeps only the first MaxItems items', async () => {
    const execution = engine().startExecution({
      definition: mapOver({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSONL', MaxItemsPath: '$.max' },
          Parameters: { Bucket: DATA, Key: 'lists/items.jsonl' },
        },
      }),
      input: { max: 2 },
    });
    expect((await execution.result()).output).toEqual([{ echoed: { id: 1 } }, { echoed: { id: 2 } }]);
  });

  it.each([
    ['a missing object', 'lists/none.json', 'JSON', 'NoSuchKey'],
    ['a bad JSON line', 'lists/broken.jsonl', 'JSONL', 'line 2 of s3://engine-data/lists/broken.jsonl is not JSON'],
    ['a ragged CSV row', 'lists/ragged.csv', 'CSV', 'has 3 fields, but there are 2 column headers'],
    ['a JSON object instead of an array', 'lists/not-array.json', 'JSON', 'must hold a JSON array'],
  ])('fails with States.ItemReaderFailed on %s', async (_what, key, inputType, cause) => {
    const execution = engine().startExecution({
      definition: mapOver({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: inputType, ...(inputType === 'CSV' ? { CSVHeaderLocation: 'FIRST_ROW' } : {}) },
          Parameters: { Bucket: DATA, Key: key },
        },
      }),
    });
    const result = await execution.result();
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.ItemReaderFailed' });
    expect(result.cause).toContain(cause);
  });

  it('writes the result files and manifest AWS writes, and returns where they are', async () => {
    const execution = engine().startExecution({
      definition: mapOver({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSONL' },
          Parameters: { Bucket: DATA, Key: 'lists/items.jsonl' },
        },
        ItemSelector: {
          'id.$': '$$.Map.Item.Value.id',
          'fail.$': 'States.ArrayContains(States.Array(3), $$.Map.Item.Value.id)',
        },
        ItemBatcher: { MaxItemsPerBatch: 2, BatchInput: { 'runId.$': '$.runId' } },
        ToleratedFailurePercentage: 100,
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: RESULTS, 'Prefix.$': "States.Format('runs/{}/map', $.runId)" },
        },
      }),
      input: { runId: 'r1' },
    });
    const result = await execution.result();
    expect(result.status).toBe('SUCCEEDED');
    const output = result.output as { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
    const mapRunId = output.MapRunArn.split(':').at(-1) as string;
    expect(output.ResultWriterDetails).toEqual({ Bucket: RESULTS, Key: `runs/r1/map/${mapRunId}/manifest.json` });

    const manifest = (await readJson(RESULTS, output.ResultWriterDetails.Key)) as {
      DestinationBucket: string;
      MapRunArn: string;
      ResultFiles: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]>;
    };
    expect(manifest).toEqual({
      DestinationBucket: RESULTS,
      MapRunArn: output.MapRunArn,
      ResultFiles: {
        FAILED: [{ Key: `runs/r1/map/${mapRunId}/FAILED_0.json`, Size: expect.any(Number) }],
        PENDING: [],
        SUCCEEDED: [{ Key: `runs/r1/map/${mapRunId}/SUCCEEDED_0.json`, Size: expect.any(Number) }],
      },
    });
    const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: RESULTS, Prefix: `runs/r1/map/${mapRunId}/` }));
    expect(listed.Contents?.map((object) => object.Key).sort()).toEqual(
      ['FAILED_0.json', 'SUCCEEDED_0.json', 'manifest.json'].map((name) => `runs/r1/map/${mapRunId}/${name}`),
    );
    const sizeOf = (key: string) => listed.Contents?.find((object) => object.Key === key)?.Size;
    expect(manifest.ResultFiles.SUCCEEDED[0]?.Size).toBe(sizeOf(manifest.ResultFiles.SUCCEEDED[0]?.Key as string));

    const succeeded = (await readJson(RESULTS, `runs/r1/map/${mapRunId}/SUCCEEDED_0.json`)) as Record<
      string,
      unknown
    >[];
    expect(succeeded).toHaveLength(1);
    const entry = succeeded[0] as Record<string, unknown>;
    expect(Object.keys(entry)).toEqual([
      'ExecutionArn',
      'Input',
      'InputDetails',
      'Name',
      'Output',
      'OutputDetails',
      'RedriveCount',
      'RedriveStatus',
      'RedriveStatusReason',
      'StartDate',
      'StateMachineArn',
      'Status',
      'StopDate',
    ]);
    const batchInput = {
      Items: [
        { id: 1, fail: false },
        { id: 2, fail: false },
      ],
      BatchInput: { runId: 'r1' },
    };
    expect(entry).toMatchObject({
      ExecutionArn: expect.stringMatching(/:express:LocalStateMachine\/Fan:/),
      Input: JSON.stringify(batchInput),
      InputDetails: { Included: true },
      Output: JSON.stringify({ echoed: batchInput }),
      OutputDetails: { Included: true },
      RedriveCount: 0,
      RedriveStatus: 'NOT_REDRIVABLE',
      StateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:LocalStateMachine/Fan',
      Status: 'SUCCEEDED',
      StartDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });

    const failed = (await readJson(RESULTS, `runs/r1/map/${mapRunId}/FAILED_0.json`)) as Record<string, unknown>[];
    expect(failed).toEqual([
      expect.objectContaining({
        Status: 'FAILED',
        Error: 'States.TaskFailed',
        Cause: 'Error: child failed',
        RedriveStatus: 'REDRIVABLE',
      }),
    ]);
    expect(failed[0]).not.toHaveProperty('Output');
    expect(execution.mapRuns()[0]?.itemCounts).toMatchObject({ total: 3, succeeded: 2, failed: 1, resultsWritten: 3 });
  });

  it('writes JSON Lines with COMPACT outputs, and PENDING children of a failed Map Run', async () => {
    const execution = new LocalEngine({
      s3: aws.s3,
      sleeper: new RecordingSleeper(),
      concurrencyCap: 1,
      integrations: [
        serviceIntegration('work', [WORK], async ({ parameters }) => {
          if ((parameters as { id: number }).id === 2) throw new Error('second fails');
          return parameters;
        }),
      ],
    }).startExecution({
      definition: mapOver({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON' },
          Parameters: { Bucket: DATA, Key: 'lists/items.json' },
        },
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: RESULTS, Prefix: 'compact/' },
          WriterConfig: { Transformation: 'COMPACT', OutputType: 'JSONL' },
        },
      }),
    });
    const result = await execution.result();
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
    const mapRunId = execution.mapRuns()[0]?.mapRunArn.split(':').at(-1) as string;
    const manifest = (await readJson(RESULTS, `compact/${mapRunId}/manifest.json`)) as {
      ResultFiles: Record<string, { Key: string }[]>;
    };
    expect(manifest.ResultFiles.PENDING?.[0]?.Key).toBe(`compact/${mapRunId}/PENDING_0.json`);
    const body = await aws.s3.send(
      new GetObjectCommand({ Bucket: RESULTS, Key: `compact/${mapRunId}/SUCCEEDED_0.json` }),
    );
    expect(await body.Body?.transformToString()).toBe('{"id":1}\n');
    const pending = await aws.s3.send(
      new GetObjectCommand({ Bucket: RESULTS, Key: `compact/${mapRunId}/PENDING_0.json` }),
    );
    expect(
      (await pending.Body?.transformToString())
        ?.trim()
        .split('\n')
        .map((line) => JSON.parse(line).Status),
    ).toEqual(['PENDING']);
  });

  it('fails with States.ResultWriterFailed when the results cannot be written', async () => {
    const execution = engine().startExecution({
      definition: mapOver({
        ItemsPath: '$.items',
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: 'no-such-bucket', Prefix: 'x' },
        },
      }),
      input: { items: [1] },
    });
    const result = await execution.result();
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.ResultWriterFailed' });
    expect(result.cause).toContain('NoSuchBucket');
  });
});
