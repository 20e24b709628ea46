import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { DefinitionError } from '../../pipeline/local/engine/engine-errors.ts';
import { serviceIntegration } from '../../pipeline/local/engine/integrations.ts';
import { LocalEngine } from '../../pipeline/local/engine/local-engine.ts';

const s3 = new S3Client({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
});
afterAll(() => s3.destroy());

const engine = new LocalEngine({
  s3,
  integrations: [serviceIntegration('sns', ['arn:aws:states:::sns:publish'], async () => ({}))],
  lambdaFunctions: { plan: { handler: async () => ({}) } },
});

function problemsOf(definition: unknown): readonly string[] {
  try {
    engine.validate(definition);
  } catch (error) {
    if (error instanceof DefinitionError) return error.problems;
    throw error;
  }
  return [];
}

const pass = { Type: 'Pass', End: true };
const wrap = (state: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  StartAt: 'S',
  States: { S: state, Other: pass, ...extra },
});
const map = (fields: Record<string, unknown>, mode: 'INLINE' | 'DISTRIBUTED' = 'DISTRIBUTED') =>
  wrap({
    Type: 'Map',
    ItemProcessor: {
      ProcessorConfig: { Mode: mode, ...(mode === 'DISTRIBUTED' ? { ExecutionType: 'STANDARD' } : {}) },
      StartAt: 'P',
      States: { P: pass },
    },
    End: true,
    ...fields,
  });

describe('definition check before running', () => {
  it('accepts a definition that uses only supported features', () => {
    expect(
      problemsOf({
        Comment: 'ok',
        StartAt: 'Plan',
        TimeoutSeconds: 60,
        States: {
          Plan: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:plan:live', 'Payload.$': '$' },
            Retry: [
              {
                ErrorEquals: ['Lambda.ServiceException'],
                IntervalSeconds: 2,
                MaxAttempts: 6,
                BackoffRate: 2,
                JitterStrategy: 'FULL',
              },
            ],
            Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Notify' }],
            Next: 'Notify',
          },
          Notify: {
            Type: 'Task',
            Resource: 'arn:aws:states:::sns:publish',
            Parameters: { 'Message.$': '$' },
            End: true,
          },
        },
      }),
    ).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    [
      'JSONata at the top level',
      { QueryLanguage: 'JSONata', StartAt: 'S', States: { S: pass } },
      '(top level).QueryLanguage: JSONata is not supported',
    ],
    [
      'JSONata in one state',
      wrap({ ...pass, QueryLanguage: 'JSONata' }),
      'States.S.QueryLanguage: JSONata is not supported',
    ],
    [
      'a JSONata Arguments field',
      wrap({ Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Arguments: {}, End: true }),
      'States.S.Arguments: JSONata is not supported',
    ],
    [
      'a JSONata Output field',
      wrap({ ...pass, Output: '{% $states.input %}' }),
      'States.S.Output: JSONata is not supported',
    ],
    [
      'a JSONata expression string',
      wrap({ ...pass, InputPath: '{% $states.input %}' }),
      'States.S.InputPath: JSONata is not supported',
    ],
    [
      'workflow variables',
      wrap({ ...pass, Assign: { x: 1 } }),
      'States.S.Assign: workflow variables (Assign) are not supported',
    ],
    ['an unknown field', wrap({ ...pass, Retries: 3 }), 'States.S.Retries: is not a field of a Pass state'],
    ['a misplaced field', wrap({ ...pass, Retry: [] }), 'States.S.Retry: is not a field of a Pass state'],
    ['an unknown state type', wrap({ Type: 'Loop', End: true }), 'States.S.Type: must be one of'],
    ['a missing transition', wrap({ Type: 'Pass' }), 'States.S: needs exactly one of "Next" and "End"'],
    [
      'a Next to nowhere',
      wrap({ Type: 'Pass', Next: 'Nowhere' }),
      'States.S.Next: names "Nowhere", which is not a state',
    ],
    ['a StartAt to nowhere', { StartAt: 'X', States: { S: pass } }, '(top level).StartAt: names "X"'],
    [
      'a task resource without an integration',
      wrap({ Type: 'Task', Resource: 'arn:aws:states:::glue:startJobRun.sync', End: true }),
      'States.S.Resource: no local integration runs "arn:aws:states:::glue:startJobRun.sync"',
    ],
    [
      'an unknown Lambda function',
      wrap({
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: 'nope' },
        End: true,
      }),
      'no local Lambda function "nope"',
    ],
    [
      'task credentials',
      wrap({ Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Credentials: { RoleArn: 'r' }, End: true }),
      'States.S.Credentials: cross-account task credentials',
    ],
    ['a malformed path', wrap({ ...pass, InputPath: '$.a[' }), 'States.S.InputPath: invalid JSONPath'],
    [
      'a ResultPath with a wildcard',
      wrap({ ...pass, ResultPath: '$.a[*]' }),
      'States.S.ResultPath: must be a reference path',
    ],
    [
      'a malformed intrinsic',
      wrap({ ...pass, Parameters: { 'x.$': 'States.Format(' } }),
      'States.S.Parameters.x.$: invalid intrinsic function call',
    ],
    [
      'an unknown intrinsic',
      wrap({ ...pass, Parameters: { nested: { 'x.$': 'States.Upper($.a)' } } }),
      'States.S.Parameters.nested.x.$: invalid intrinsic function call',
    ],
    ['a .$ value that is neither', wrap({ ...pass, Parameters: { 'x.$': 'plain' } }), 'is neither a path'],
    [
      'States.ALL not alone',
      wrap({
        Type: 'Task',
        Resource: 'arn:aws:states:::sns:publish',
        Retry: [{ ErrorEquals: ['States.ALL', 'X'] }],
        End: true,
      }),
      'Retry[0].ErrorEquals: "States.ALL" must appear alone',
    ],
    [
      'States.ALL not last',
      wrap({
        Type: 'Task',
        Resource: 'arn:aws:states:::sns:publish',
        Catch: [
          { ErrorEquals: ['States.ALL'], Next: 'Other' },
          { ErrorEquals: ['X'], Next: 'Other' },
        ],
        End: true,
      }),
      'Catch[0].ErrorEquals: "States.ALL" must be in the last',
    ],
    [
      'a bad JitterStrategy',
      wrap({
        Type: 'Task',
        Resource: 'arn:aws:states:::sns:publish',
        Retry: [{ ErrorEquals: ['X'], JitterStrategy: 'HALF' }],
        End: true,
      }),
      'Retry[0].JitterStrategy: must be FULL or NONE',
    ],
    [
      'a BackoffRate under 1',
      wrap({
        Type: 'Task',
        Resource: 'arn:aws:states:::sns:publish',
        Retry: [{ ErrorEquals: ['X'], BackoffRate: 0.5 }],
        End: true,
      }),
      'Retry[0].BackoffRate',
    ],
    [
      'a Choice rule without an operator',
      wrap({ Type: 'Choice', Choices: [{ Variable: '$.a', Next: 'Other' }] }),
      'States.S.Choices[0]: a choice rule needs "Variable" and exactly one comparison operator',
    ],
    [
      'an unknown Choice operator',
      wrap({ Type: 'Choice', Choices: [{ Variable: '$.a', StringContains: 'x', Next: 'Other' }] }),
      'States.S.Choices[0].StringContains: is not a comparison operator',
    ],
    [
      'a Choice operand of the wrong type',
      wrap({ Type: 'Choice', Choices: [{ Variable: '$.a', NumericEquals: '1', Next: 'Other' }] }),
      'Choices[0].NumericEquals: must be a number',
    ],
    [
      'a nested rule with Next',
      wrap({ Type: 'Choice', Choices: [{ Not: { Variable: '$.a', IsNull: true, Next: 'Other' }, Next: 'Other' }] }),
      'Choices[0].Not.Next: only top-level choice rules',
    ],
    [
      'a Wait with two durations',
      wrap({ Type: 'Wait', Seconds: 1, SecondsPath: '$.s', End: true }),
      'States.S: needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath',
    ],
    [
      'a bad Wait timestamp',
      wrap({ Type: 'Wait', Timestamp: 'tomorrow', End: true }),
      'States.S.Timestamp: must be an RFC 3339 timestamp',
    ],
    [
      'a Fail with Error and ErrorPath',
      wrap({ Type: 'Fail', Error: 'E', ErrorPath: '$.e' }),
      'has both "Error" and "ErrorPath"',
    ],
    [
      'HeartbeatSeconds not under TimeoutSeconds',
      wrap({
        Type: 'Task',
        Resource: 'arn:aws:states:::sns:publish',
        TimeoutSeconds: 5,
        HeartbeatSeconds: 5,
        End: true,
      }),
      'HeartbeatSeconds: must be smaller than TimeoutSeconds',
    ],
    [
      'a nested state error, named with its path',
      wrap({
        Type: 'Parallel',
        Branches: [{ StartAt: 'B', States: { B: { Type: 'Pass', Bogus: 1, End: true } } }],
        End: true,
      }),
      'States.S.Branches[0].States.B.Bogus',
    ],
    [
      'distributed fields on an inline Map',
      map({ ToleratedFailureCount: 1 }, 'INLINE'),
      'States.S.ToleratedFailureCount: applies only to a Map in DISTRIBUTED mode',
    ],
    [
      'a distributed Map without ExecutionType',
      wrap({
        Type: 'Map',
        ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' }, StartAt: 'P', States: { P: pass } },
        End: true,
      }),
      'ProcessorConfig.ExecutionType: is required in DISTRIBUTED mode',
    ],
    [
      'an unsupported ItemReader resource',
      map({ ItemReader: { Resource: 'arn:aws:states:::athena:getQueryResults', Parameters: {} } }),
      'States.S.ItemReader.Resource: the local engine reads items with',
    ],
    [
      'a MANIFEST reader',
      map({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'MANIFEST' },
          Parameters: { Bucket: 'b', Key: 'k' },
        },
      }),
      'ItemReader.ReaderConfig.InputType: MANIFEST input is not supported',
    ],
    [
      'a PARQUET reader',
      map({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'PARQUET' },
          Parameters: { Bucket: 'b', Key: 'k' },
        },
      }),
      'PARQUET input is not supported',
    ],
    [
      'an unknown ReaderConfig field',
      map({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON', ItemsPointer: '/a' },
          Parameters: { Bucket: 'b', Key: 'k' },
        },
      }),
      'ItemReader.ReaderConfig.ItemsPointer',
    ],
    [
      'CSV without a header location',
      map({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'CSV' },
          Parameters: { Bucket: 'b', Key: 'k' },
        },
      }),
      'ReaderConfig.CSVHeaderLocation: is required with CSV input',
    ],
    [
      'GIVEN without headers',
      map({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'GIVEN' },
          Parameters: { Bucket: 'b', Key: 'k' },
        },
      }),
      'ReaderConfig.CSVHeaders: is required',
    ],
    [
      'a listing parameter the engine does not pass',
      map({
        ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: 'b', Delimiter: '/' } },
      }),
      'ItemReader.Parameters.Delimiter',
    ],
    [
      'an ItemBatcher with no limit',
      map({ ItemBatcher: { BatchInput: {} } }),
      'States.S.ItemBatcher: needs MaxItemsPerBatch(Path) or MaxInputBytesPerBatch(Path)',
    ],
    [
      'MaxInputBytesPerBatch over 256 KiB',
      map({ ItemBatcher: { MaxInputBytesPerBatch: 300_000 } }),
      'MaxInputBytesPerBatch: must be at most 262144',
    ],
    [
      'a ResultWriter to another service',
      map({ ResultWriter: { Resource: 'arn:aws:states:::dynamodb:putItem', Parameters: { Bucket: 'b' } } }),
      'ResultWriter.Resource: the local engine writes results with arn:aws:states:::s3:putObject only',
    ],
    [
      'a bad Transformation',
      map({ ResultWriter: { WriterConfig: { Transformation: 'SQUASH' } } }),
      'WriterConfig.Transformation: must be NONE, COMPACT or FLATTEN',
    ],
    [
      'ItemsPath with ItemReader',
      map({
        ItemsPath: '$.x',
        ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: 'b' } },
      }),
      'ItemsPath: cannot be used together with ItemReader',
    ],
  ])('refuses %s, naming the state and field', (_what, definition, expected) => {
    const problems = problemsOf(definition);
    expect(problems.join('\n')).toContain(expected);
  });

  it('lists every problem at once and refuses before starting an execution', () => {
    const definition = wrap({ Type: 'Pass', Bogus: 1, Next: 'Nowhere' });
    expect(() => engine.startExecution({ definition })).toThrow(DefinitionError);
    expect(problemsOf(definition)).toHaveLength(2);
  });

  it('refuses ItemReader and ResultWriter when the engine has no S3 client', () => {
    const withoutS3 = new LocalEngine();
    expect(() =>
      withoutS3.validate(
        map({ ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: 'b' } } }),
      ),
    ).toThrow("needs the engine's s3 client option");
  });

  it('reads a definition given as JSON text, and refuses text that is not JSON', () => {
    expect(engine.validate(JSON.stringify({ StartAt: 'S', States: { S: pass } })).StartAt).toBe('S');
    expect(() => engine.validate('{ nope')).toThrow('the definition is not JSON');
  });
});
