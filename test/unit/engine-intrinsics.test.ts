import { describe, expect, it } from 'vitest';
import { StatesError } from '../../pipeline/local/engine/engine-errors.ts';
import {
  evaluateIntrinsic,
  type IntrinsicScope,
  IntrinsicSyntaxError,
  parseIntrinsic,
} from '../../pipeline/local/engine/intrinsic-functions.ts';
import { LocalEngine } from '../../pipeline/local/engine/local-engine.ts';

const scope: IntrinsicScope = {
  input: {
    name: 'World',
    n: 7,
    list: [1, 2, 2, 3, { a: 1 }, { a: 1 }],
    json: '{"x":[1,2]}',
    obj: { a: 1, b: { c: 2 } },
    other: { b: 3, d: 4 },
    csv: 'a,b;c',
  },
  context: { Execution: { Name: 'exec-1' } },
  runtime: { random: () => 0.5, uuid: () => '00000000-0000-4000-8000-000000000000' },
};

const run = (expression: string): unknown => evaluateIntrinsic(parseIntrinsic(expression), scope);

describe('intrinsic functions', () => {
  it.each<[string, unknown]>([
    ["States.Format('Hello, {}!', $.name)", 'Hello, World!'],
    ["States.Format('{} of {} in {}', 1, $.n, $$.Execution.Name)", '1 of 7 in exec-1'],
    ["States.Format('{} {} {}', true, null, 'x')", 'true null x'],
    [
      "States.Format('literal \\{\\} braces, a \\' quote and a \\\\ backslash: {}', 'ok')",
      "literal {} braces, a ' quote and a \\ backslash: ok",
    ],
    ['States.StringToJson($.json)', { x: [1, 2] }],
    ['States.JsonToString($.obj)', '{"a":1,"b":{"c":2}}'],
    ["States.Array('a', 1, $.n, States.Array(true))", ['a', 1, 7, [true]]],
    ['States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)', [[1, 2], [3, 4], [5]]],
    ['States.ArrayContains($.list, 3)', true],
    ['States.ArrayContains($.list, $.obj)', false],
    ['States.ArrayRange(10, 0, -5)', [10, 5, 0]],
    ['States.ArrayGetItem($.list, 3)', 3],
    ['States.ArrayLength($.list)', 6],
    ['States.ArrayUnique($.list)', [1, 2, 3, { a: 1 }]],
    ["States.Base64Encode('Data to encode')", 'RGF0YSB0byBlbmNvZGU='],
    ["States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", 'Data to encode'],
    ["States.Hash('input data', 'MD5')", '812f45842bc6d66ee14572ce20db8e86'],
    ["States.Hash('input data', 'SHA-1')", 'aaff4a450a104cd177d28d18d74485e8cae074b7'],
    ["States.Hash('input data', 'SHA-256')", 'b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3'],
    ['States.JsonMerge($.obj, $.other, false)', { a: 1, b: 3, d: 4 }],
    ['States.MathRandom(1, 11)', 6],
    ['States.MathAdd($.n, -10)', -3],
    ["States.StringSplit($.csv, ',;')", ['a', 'b', 'c']],
    ["States.StringSplit('a,,b', ',')", ['a', 'b']],
    ['States.UUID()', '00000000-0000-4000-8000-000000000000'],
    ["States.Format('{}', States.ArrayLength(States.Array(1, 2, 3)))", '3'],
  ])('%s gives %j', (expression, expected) => {
    expect(run(expression)).toEqual(expected);
  });

  it('hashes SHA-384 and SHA-512 to hex digests of the right length', () => {
    expect(run("States.Hash('x', 'SHA-384')")).toMatch(/^[0-9a-f]{96}$/);
    expect(run("States.Hash('x', 'SHA-512')")).toMatch(/^[0-9a-f]{128}$/);
  });

  it('gives the same number for the same seed', () => {
    expect(run('States.MathRandom(0, 1000000, 7)')).toBe(run('States.MathRandom(0, 1000000, 7)'));
  });

  it.each([
    ["States.Format('{} {}', 'only one')", 'more placeholders'],
    ["States.Format('{}', $.obj)", 'strings, numbers, booleans or null'],
    ["States.StringToJson('not json')", 'not JSON text'],
    ['States.ArrayGetItem($.list, 10)', 'out of bounds'],
    ['States.ArrayRange(1, 2000, 1)', 'more than 1000 items'],
    ['States.ArrayRange(1, 5, 0)', 'must not be 0'],
    ['States.ArrayPartition($.list, 0)', 'must be positive'],
    ["States.Hash('x', 'SHA-3')", 'algorithm must be one of'],
    ['States.JsonMerge($.obj, $.other, true)', 'only the shallow merge'],
    ['States.MathAdd(2147483647, 1)', '32-bit'],
    ["States.Base64Decode('%%%')", 'not base64'],
    ['States.ArrayLength($.name)', 'must be an array'],
  ])('%s fails with States.IntrinsicFailure (%s)', (expression, message) => {
    let caught: unknown;
    try {
      run(expression);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StatesError);
    expect((caught as StatesError).error).toBe('States.IntrinsicFailure');
    expect((caught as StatesError).cause).toContain(message);
  });

  it('reports a path argument that selects nothing as States.Runtime', () => {
    expect(() => run('States.ArrayLength($.missing)')).toThrow(expect.objectContaining({ error: 'States.Runtime' }));
  });

  it.each([
    ['States.Nope(1)', 'unknown intrinsic function'],
    ['States.Format()', 'takes 1 or more arguments'],
    ['States.UUID(1)', 'takes 0 arguments'],
    ["States.Format('unterminated)", 'unterminated string literal'],
    ["States.Format('\\n')", 'escapes only'],
    ['States.Array(1 2)', 'expected "," or ")"'],
    ['States.Array(1) extra', 'unexpected text'],
  ])('refuses the malformed call %s', (expression, message) => {
    expect(() => parseIntrinsic(expression)).toThrow(IntrinsicSyntaxError);
    expect(() => parseIntrinsic(expression)).toThrow(message);
  });

  it('runs intrinsic functions in Parameters and ResultSelector of a running state machine', async () => {
    const engine = new LocalEngine({ uuid: () => 'fixed-uuid' });
    const execution = engine.startExecution({
      name: 'intrinsics',
      definition: {
        StartAt: 'Build',
        States: {
          Build: {
            Type: 'Pass',
            Parameters: {
              'greeting.$': "States.Format('run {} of {}', $.run, $$.Execution.Name)",
              'id.$': 'States.UUID()',
              'batches.$': 'States.ArrayPartition($.items, 2)',
            },
            End: true,
          },
        },
      },
      input: { run: 3, items: [1, 2, 3] },
    });
    const result = await execution.result();
    expect(result.output).toEqual({ greeting: 'run 3 of intrinsics', id: 'fixed-uuid', batches: [[1, 2], [3]] });
  });
});
