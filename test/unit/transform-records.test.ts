import { describe, expect, it } from 'vitest';
import { invocationRetryDelayMs } from '../../pipeline/local/batch-transform.ts';
import { applyRecordFilter, RecordFilterError } from '../../pipeline/local/record-filter.ts';
import {
  batchPayloads,
  joinOutputs,
  modelInputs,
  ObjectFailure,
  parseInputs,
  splitRecords,
} from '../../pipeline/local/transform-records.ts';
import { TRANSFORM_DATA_PROCESSING } from '../../shared/records.ts';

const MB = 1024 * 1024;

describe('splitRecords', () => {
  it('makes one record per line with SplitType Line, the trailing newline ending the last record', () => {
    expect(splitRecords('a\nb\n', 'Line')).toEqual(['a', 'b']);
    expect(splitRecords('a\n\nb', 'Line')).toEqual(['a', '', 'b']);
  });

  it('keeps the whole object as one record with SplitType None or absent', () => {
    expect(splitRecords('a\nb\n', 'None')).toEqual(['a\nb\n']);
    expect(splitRecords('a\nb\n', undefined)).toEqual(['a\nb\n']);
  });
});

describe('batchPayloads', () => {
  it('puts as many consecutive records in a MultiRecord request as fit in MaxPayloadInMB, separators counted', () => {
    const record = 'x'.repeat(MB / 2 - 1);

    const batches = batchPayloads([record, record, record, record, record], {
      maxPayloadInMB: 1,
      batchStrategy: 'MultiRecord',
    });

    expect(batches).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('sends one record per request with SingleRecord', () => {
    expect(batchPayloads(['a', 'b', 'c'], { maxPayloadInMB: 6, batchStrategy: 'SingleRecord' })).toEqual([
      [0],
      [1],
      [2],
    ]);
  });

  it("treats MaxPayloadInMB 0 as SageMaker's 100 MB", () => {
    const record = 'x'.repeat(10 * MB);

    expect(batchPayloads([record, record], { maxPayloadInMB: 0, batchStrategy: 'MultiRecord' })).toEqual([[0, 1]]);
  });

  it("fails the object on a single record over the cap, with SageMaker's message", () => {
    const huge = 'x'.repeat(MB);

    expect(() => batchPayloads(['a', huge], { maxPayloadInMB: 1, batchStrategy: 'MultiRecord' })).toThrow(
      new ObjectFailure('Too much data for max payload size'),
    );
  });

  it('makes no request for an object without records', () => {
    expect(batchPayloads([], { maxPayloadInMB: 6, batchStrategy: 'MultiRecord' })).toEqual([]);
  });
});

describe('the DataProcessing join (InputFilter, JoinSource Input, OutputFilter)', () => {
  const records = [
    JSON.stringify({ id: 1, key: 'a.png', bucket: 'b', geometry: { w: 1 }, input: { image: 'AAA' }, extra: true }),
    JSON.stringify({ id: 2, key: 'b.png', bucket: 'b', expected: 'STOP', geometry: { w: 2 }, input: { image: 'BBB' } }),
  ];

  it('sends only what InputFilter selects to the model', () => {
    const parsed = parseInputs(records, TRANSFORM_DATA_PROCESSING);

    expect(modelInputs(records, parsed, TRANSFORM_DATA_PROCESSING)).toEqual(['{"image":"AAA"}', '{"image":"BBB"}']);
  });

  it('joins each answer to its input under SageMakerOutput and keeps the OutputFilter keys present', () => {
    const parsed = parseInputs(records, TRANSFORM_DATA_PROCESSING);

    const joined = joinOutputs(['{"text":"GO"}', '{"text":"STOP"}'], parsed, TRANSFORM_DATA_PROCESSING);

    expect(joined.map((line) => JSON.parse(line))).toEqual([
      { id: 1, key: 'a.png', bucket: 'b', geometry: { w: 1 }, SageMakerOutput: { text: 'GO' } },
      { id: 2, key: 'b.png', bucket: 'b', expected: 'STOP', geometry: { w: 2 }, SageMakerOutput: { text: 'STOP' } },
    ]);
  });

  it('passes records and answers through unchanged without DataProcessing', () => {
    const parsed = parseInputs(['raw 1', 'raw 2'], {});

    expect(parsed).toEqual([undefined, undefined]);
    expect(modelInputs(['raw 1', 'raw 2'], parsed, {})).toEqual(['raw 1', 'raw 2']);
    expect(joinOutputs(['out 1', 'out 2'], parsed, {})).toEqual(['out 1', 'out 2']);
  });

  it('keeps an answer that is not JSON as a string in the join', () => {
    const parsed = parseInputs(['{"id":1}'], { JoinSource: 'Input' });

    expect(joinOutputs(['plain text'], parsed, { JoinSource: 'Input' })).toEqual([
      '{"id":1,"SageMakerOutput":"plain text"}',
    ]);
  });

  it('fails the object when JoinSource Input meets a record that is not a JSON object', () => {
    const parsed = parseInputs(['[1,2]'], { JoinSource: 'Input' });

    expect(() => joinOutputs(['{}'], parsed, { JoinSource: 'Input' })).toThrow(
      new ObjectFailure('JoinSource Input needs JSON object records'),
    );
  });
});

describe('applyRecordFilter (the engine JSONPath parser, SageMaker selection)', () => {
  const record = { a: { b: 1 }, list: [10, 20, 30, 40], c: 'x' };

  it.each([
    ['$', record],
    ['$.a.b', 1],
    ["$['a']", { b: 1 }],
    ["$['a','c','missing']", { a: { b: 1 }, c: 'x' }],
    ['$.list[0]', 10],
    ['$.list[-1]', 40],
    ['$.list[0,2]', [10, 30]],
    ['$.list[1:3]', [20, 30]],
    ['$.list[2:]', [30, 40]],
    ['$.missing', undefined],
    ['$.c[0]', undefined],
  ])('selects %s', (path, expected) => {
    expect(applyRecordFilter(path, record)).toEqual(expected);
  });

  it.each(['a.b', '$.list[*]', '$..b', '$.list[?(@ > 1)]', '$$.a', '$.'])('refuses %s, naming the filter', (path) => {
    expect(() => applyRecordFilter(path, record)).toThrow(RecordFilterError);
    expect(() => applyRecordFilter(path, record)).toThrow(`filter "${path}"`);
  });
});

describe('invocationRetryDelayMs', () => {
  it('backs off from 250 ms, doubling, to at most 5 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(invocationRetryDelayMs)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });
});
