import { describe, expect, it } from 'vitest';
import { LocalEngine } from '../../pipeline/local/engine/local-engine.ts';

const input = {
  s: 'banana',
  n: 10,
  f: 2.5,
  b: true,
  t: '2024-05-01T12:00:00Z',
  nil: null,
  other: { s: 'banana', n: 10, b: true, t: '2024-05-01T12:00:00Z' },
  star: 'a*b',
};

/** Runs a Choice state with one rule and says which way it went. */
async function chooses(rule: Record<string, unknown>, data: unknown = input): Promise<'matched' | 'default'> {
  const engine = new LocalEngine();
  const execution = engine.startExecution({
    definition: {
      StartAt: 'Decide',
      States: {
        Decide: { Type: 'Choice', Choices: [{ ...rule, Next: 'Matched' }], Default: 'Default' },
        Matched: { Type: 'Pass', Result: 'matched', End: true },
        Default: { Type: 'Pass', Result: 'default', End: true },
      },
    },
    input: data,
  });
  const result = await execution.result();
  if (result.status !== 'SUCCEEDED') throw new Error(`${result.error}: ${result.cause}`);
  return result.output as 'matched' | 'default';
}

describe('Choice state comparison operators', () => {
  it.each<[Record<string, unknown>, boolean]>([
    [{ Variable: '$.s', StringEquals: 'banana' }, true],
    [{ Variable: '$.s', StringEquals: 'apple' }, false],
    [{ Variable: '$.s', StringLessThan: 'cherry' }, true],
    [{ Variable: '$.s', StringGreaterThan: 'cherry' }, false],
    [{ Variable: '$.s', StringLessThanEquals: 'banana' }, true],
    [{ Variable: '$.s', StringGreaterThanEquals: 'banana' }, true],
    [{ Variable: '$.s', StringMatches: 'ban*' }, true],
    [{ Variable: '$.s', StringMatches: '*nan*' }, true],
    [{ Variable: '$.s', StringMatches: 'b*x' }, false],
    [{ Variable: '$.star', StringMatches: 'a\\*b' }, true],
    [{ Variable: '$.s', StringMatches: 'a\\*b' }, false],
    [{ Variable: '$.n', NumericEquals: 10 }, true],
    [{ Variable: '$.f', NumericLessThan: 3 }, true],
    [{ Variable: '$.n', NumericGreaterThan: 10 }, false],
    [{ Variable: '$.n', NumericLessThanEquals: 10 }, true],
    [{ Variable: '$.n', NumericGreaterThanEquals: 11 }, false],
    [{ Variable: '$.b', BooleanEquals: true }, true],
    [{ Variable: '$.t', TimestampEquals: '2024-05-01T14:00:00+02:00' }, true],
    [{ Variable: '$.t', TimestampLessThan: '2024-05-02T00:00:00Z' }, true],
    [{ Variable: '$.t', TimestampGreaterThan: '2024-05-02T00:00:00Z' }, false],
    [{ Variable: '$.t', TimestampLessThanEquals: '2024-05-01T12:00:00Z' }, true],
    [{ Variable: '$.t', TimestampGreaterThanEquals: '2024-05-01T12:00:01Z' }, false],
    [{ Variable: '$.s', StringEqualsPath: '$.other.s' }, true],
    [{ Variable: '$.s', StringLessThanPath: '$.other.s' }, false],
    [{ Variable: '$.n', NumericEqualsPath: '$.other.n' }, true],
    [{ Variable: '$.n', NumericGreaterThanEqualsPath: '$.other.n' }, true],
    [{ Variable: '$.b', BooleanEqualsPath: '$.other.b' }, true],
    [{ Variable: '$.t', TimestampEqualsPath: '$.other.t' }, true],
    [{ Variable: '$.t', TimestampLessThanPath: '$.other.t' }, false],
    [{ Variable: '$.nil', IsNull: true }, true],
    [{ Variable: '$.s', IsNull: true }, false],
    [{ Variable: '$.s', IsPresent: true }, true],
    [{ Variable: '$.missing', IsPresent: false }, true],
    [{ Variable: '$.missing', IsPresent: true }, false],
    [{ Variable: '$.n', IsNumeric: true }, true],
    [{ Variable: '$.s', IsString: true }, true],
    [{ Variable: '$.b', IsBoolean: false }, false],
    [{ Variable: '$.t', IsTimestamp: true }, true],
    [{ Variable: '$.s', IsTimestamp: true }, false],
  ])('%j matches: %s', async (rule, expected) => {
    expect(await chooses(rule)).toBe(expected ? 'matched' : 'default');
  });

  it('treats a comparison against a value of another type as no match', async () => {
    expect(await chooses({ Variable: '$.s', NumericEquals: 10 })).toBe('default');
    expect(await chooses({ Variable: '$.n', StringEquals: '10' })).toBe('default');
    expect(await chooses({ Variable: '$.s', TimestampEquals: '2024-05-01T12:00:00Z' })).toBe('default');
  });
});

describe('Choice state boolean combinators', () => {
  it.each<[Record<string, unknown>, boolean]>([
    [
      {
        And: [
          { Variable: '$.n', NumericGreaterThan: 5 },
          { Variable: '$.s', StringEquals: 'banana' },
        ],
      },
      true,
    ],
    [
      {
        And: [
          { Variable: '$.n', NumericGreaterThan: 5 },
          { Variable: '$.s', StringEquals: 'kiwi' },
        ],
      },
      false,
    ],
    [
      {
        Or: [
          { Variable: '$.n', NumericLessThan: 5 },
          { Variable: '$.b', BooleanEquals: true },
        ],
      },
      true,
    ],
    [
      {
        Or: [
          { Variable: '$.n', NumericLessThan: 5 },
          { Variable: '$.b', BooleanEquals: false },
        ],
      },
      false,
    ],
    [{ Not: { Variable: '$.s', StringEquals: 'banana' } }, false],
    [
      {
        And: [
          { Not: { Variable: '$.missing', IsPresent: true } },
          {
            Or: [
              { Variable: '$.f', NumericEquals: 2.5 },
              { Variable: '$.n', NumericEquals: 0 },
            ],
          },
        ],
      },
      true,
    ],
  ])('%j matches: %s', async (rule, expected) => {
    expect(await chooses(rule)).toBe(expected ? 'matched' : 'default');
  });

  it('takes the first matching rule, in order', async () => {
    const engine = new LocalEngine();
    const execution = engine.startExecution({
      definition: {
        StartAt: 'Decide',
        States: {
          Decide: {
            Type: 'Choice',
            Choices: [
              { Variable: '$.n', NumericGreaterThan: 100, Next: 'Big' },
              { Variable: '$.n', NumericGreaterThan: 1, Next: 'Medium' },
              { Variable: '$.n', NumericGreaterThan: 0, Next: 'Small' },
            ],
          },
          Big: { Type: 'Pass', Result: 'big', End: true },
          Medium: { Type: 'Pass', Result: 'medium', End: true },
          Small: { Type: 'Pass', Result: 'small', End: true },
        },
      },
      input: { n: 5 },
    });
    expect((await execution.result()).output).toBe('medium');
  });

  it('fails with States.NoChoiceMatched when nothing matches and there is no Default', async () => {
    const engine = new LocalEngine();
    const execution = engine.startExecution({
      definition: {
        StartAt: 'Decide',
        States: {
          Decide: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericEquals: 1, Next: 'One' }] },
          One: { Type: 'Succeed' },
        },
      },
      input: { n: 2 },
    });
    expect(await execution.result()).toMatchObject({ status: 'FAILED', error: 'States.NoChoiceMatched' });
  });

  it('fails with States.Runtime when the Variable selects nothing', async () => {
    await expect(chooses({ Variable: '$.missing', StringEquals: 'x' })).rejects.toThrow('States.Runtime');
  });
});
