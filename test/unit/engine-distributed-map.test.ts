import { describe, expect, it } from 'vitest';
import { serviceIntegration } from '../../pipeline/local/engine/integrations.ts';
import { LocalEngine, type LocalEngineOptions } from '../../pipeline/local/engine/local-engine.ts';
import type { ProgressEvent } from '../../pipeline/local/engine/progress-events.ts';
import { RecordingSleeper } from '../helpers/recording-sleeper.ts';

const WORK = 'arn:aws:states:::work:run';

/** Fails items whose `fail` is true; records every child input. */
function worker(inputs: unknown[] = []) {
  return serviceIntegration('work', [WORK], async ({ parameters }) => {
    inputs.push(parameters);
    const items = (parameters as { Items?: { fail?: boolean }[] }).Items ?? [parameters as { fail?: boolean }];
    if (items.some((item) => item.fail)) throw new Error('bad item');
    return { ok: items.length };
  });
}

function distributedMap(fields: Record<string, unknown>, executionType: 'STANDARD' | 'EXPRESS' = 'STANDARD') {
  return {
    StartAt: 'Fan',
    States: {
      Fan: {
        Type: 'Map',
        ItemsPath: '$.items',
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: executionType },
          StartAt: 'Work',
          States: { Work: { Type: 'Task', Resource: WORK, End: true } },
        },
        End: true,
        ...fields,
      },
    },
  };
}

async function run(definition: unknown, input: unknown, options: LocalEngineOptions = {}) {
  const engine = new LocalEngine({ sleeper: new RecordingSleeper(), integrations: [worker()], ...options });
  const execution = engine.startExecution({ definition, input, name: 'parent' });
  const result = await execution.result();
  return { engine, execution, result, history: execution.history() };
}

const items = (n: number, failing: readonly number[] = []) =>
  Array.from({ length: n }, (_, i) => ({ id: i, ...(failing.includes(i) ? { fail: true } : {}) }));

describe('Distributed Map over ItemsPath', () => {
  it('runs one child execution per item and returns their outputs in item order', async () => {
    const { result, history, execution } = await run(distributedMap({ MaxConcurrency: 3 }), { items: items(5) });
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      output: [{ ok: 1 }, { ok: 1 }, { ok: 1 }, { ok: 1 }, { ok: 1 }],
    });
    // The parent records the Map Run, not the children's states.
    expect(history.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'MapStateEntered',
      'MapStateStarted',
      'MapRunStarted',
      'MapRunSucceeded',
      'MapStateSucceeded',
      'MapStateExited',
      'ExecutionSucceeded',
    ]);
    const [mapRun] = execution.mapRuns();
    expect(mapRun).toMatchObject({
      status: 'SUCCEEDED',
      maxConcurrency: 3,
      itemCounts: { total: 5, succeeded: 5, failed: 0, pending: 0, running: 0 },
      executionCounts: { total: 5, succeeded: 5 },
    });
    expect(mapRun?.mapRunArn).toMatch(
      /^arn:aws:states:us-east-1:123456789012:mapRun:LocalStateMachine\/Fan:[0-9a-f-]{36}$/,
    );
  });

  it('gives children their own execution context', async () => {
    const contexts: unknown[] = [];
    const probe = serviceIntegration('work', [WORK], async ({ context }) => {
      contexts.push(context);
      return {};
    });
    await run(distributedMap({ Label: 'Probe' }), { items: items(1) }, { integrations: [probe] });
    expect(contexts[0]).toMatchObject({
      Execution: {
        Id: expect.stringMatching(
          /^arn:aws:states:us-east-1:123456789012:execution:LocalStateMachine\/Probe:[0-9a-f-]{36}$/,
        ),
        Input: { id: 0 },
      },
      StateMachine: { Name: 'LocalStateMachine/Probe' },
    });
  });

  it('shapes items with ItemSelector before batching them with BatchInput', async () => {
    const inputs: unknown[] = [];
    const { result } = await run(
      distributedMap({
        ItemSelector: { 'n.$': '$$.Map.Item.Index', 'id.$': '$$.Map.Item.Value.id', 'run.$': '$.run' },
        ItemBatcher: { MaxItemsPerBatch: 2, BatchInput: { 'run.$': '$.run', fixed: true } },
      }),
      { items: items(5), run: 'r1' },
      { integrations: [worker(inputs)] },
    );
    expect(inputs).toHaveLength(3);
    expect(inputs[0]).toEqual({
      Items: [
        { n: 0, id: 0, run: 'r1' },
        { n: 1, id: 1, run: 'r1' },
      ],
      BatchInput: { run: 'r1', fixed: true },
    });
    expect(inputs[2]).toEqual({ Items: [{ n: 4, id: 4, run: 'r1' }], BatchInput: { run: 'r1', fixed: true } });
    expect(result.output).toEqual([{ ok: 2 }, { ok: 2 }, { ok: 1 }]);
  });

  it('closes a batch before it would pass MaxInputBytesPerBatch', async () => {
    const inputs: { Items: unknown[] }[] = [];
    const blob = 'x'.repeat(90);
    await run(
      distributedMap({ ItemBatcher: { MaxInputBytesPerBatchPath: '$.bytes' } }),
      { items: Array.from({ length: 5 }, () => ({ blob })), bytes: 250 },
      { integrations: [worker(inputs as unknown[])] },
    );
    // {"Items":[...]} is 12 bytes and each item 101 (+1 comma): two items fit in 250 bytes, three do not.
    expect(inputs.map((input) => input.Items.length)).toEqual([2, 2, 1]);
    for (const input of inputs) expect(Buffer.byteLength(JSON.stringify(input))).toBeLessThanOrEqual(250);
  });

  it('fails with States.ExceedToleratedFailureThreshold on the first failure when nothing is tolerated', async () => {
    const { result, execution, history } = await run(
      distributedMap({}),
      { items: items(4, [1]) },
      { concurrencyCap: 1 },
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
    const [mapRun] = execution.mapRuns();
    // Sequential: item 0 succeeded, item 1 failed, items 2 and 3 never started.
    expect(mapRun?.itemCounts).toMatchObject({ succeeded: 1, failed: 1, pending: 2, total: 4 });
    expect(mapRun?.status).toBe('FAILED');
    const failed = history.find((event) => event.type === 'MapRunFailed');
    expect(failed?.mapRunFailedEventDetails?.error).toBe('States.ExceedToleratedFailureThreshold');
  });

  it('succeeds while failures stay within ToleratedFailureCount, listing failed children as NONE entries', async () => {
    const { result } = await run(distributedMap({ ToleratedFailureCount: 2 }), { items: items(4, [0, 3]) });
    expect(result.status).toBe('SUCCEEDED');
    const output = result.output as Record<string, unknown>[];
    expect(output[1]).toEqual({ ok: 1 });
    expect(output[0]).toMatchObject({ Status: 'FAILED', Error: 'States.TaskFailed', Cause: 'Error: bad item' });
  });

  it('fails once failures pass ToleratedFailureCount', async () => {
    const { result } = await run(distributedMap({ ToleratedFailureCount: 1 }), { items: items(4, [0, 3]) });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
  });

  it.each([
    [50, 'SUCCEEDED'],
    [49, 'FAILED'],
  ])(
    'with ToleratedFailurePercentage %s and half the items failing, the execution is %s',
    async (percentage, status) => {
      const { result } = await run(distributedMap({ ToleratedFailurePercentagePath: '$.pct' }), {
        items: items(4, [0, 1]),
        pct: percentage,
      });
      expect(result.status).toBe(status);
    },
  );

  it('counts every item of a failed batch as failed', async () => {
    const { result, execution } = await run(
      distributedMap({ ItemBatcher: { MaxItemsPerBatch: 3 }, ToleratedFailureCount: 2 }),
      { items: items(6, [4]) },
    );
    expect(result.error).toBe('States.ExceedToleratedFailureThreshold');
    expect(execution.mapRuns()[0]?.itemCounts.failed).toBe(3);
  });

  it('lets a Catch handle the exceeded threshold', async () => {
    const definition = distributedMap({
      Catch: [{ ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.error', Next: 'Handled' }],
    });
    const withHandler = { ...definition, States: { ...definition.States, Handled: { Type: 'Pass', End: true } } };
    const { result } = await run(withHandler, { items: items(2, [0]) });
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      output: { error: { Error: 'States.ExceedToleratedFailureThreshold' } },
    });
  });

  it('times out EXPRESS children after 5 minutes and counts them as timed out', async () => {
    const hang = serviceIntegration('work', [WORK], () => new Promise(() => undefined));
    const sleeper = new RecordingSleeper(['timeout']);
    const { result, execution } = await run(
      distributedMap({ ToleratedFailurePercentage: 100 }, 'EXPRESS'),
      { items: items(2) },
      {
        integrations: [hang],
        sleeper,
      },
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(sleeper.sleeps).toContainEqual({ ms: 300_000, reason: 'timeout' });
    expect(execution.mapRuns()[0]?.itemCounts).toMatchObject({ timedOut: 2, failed: 0 });
    expect((result.output as { Status: string }[])[0]?.Status).toBe('TIMED_OUT');
  });

  it('gives STANDARD children their own 25,000-event history', async () => {
    const loop = {
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Map',
          ToleratedFailureCount: 1,
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
            StartAt: 'Init',
            States: {
              Init: { Type: 'Pass', Result: { i: 0 }, Next: 'Increment' },
              Increment: { Type: 'Pass', Parameters: { 'i.$': 'States.MathAdd($.i, 1)' }, Next: 'Check' },
              Check: {
                Type: 'Choice',
                Choices: [{ Variable: '$.i', NumericLessThan: 7000, Next: 'Increment' }],
                Default: 'Done',
              },
              Done: { Type: 'Succeed' },
            },
          },
          End: true,
        },
      },
    };
    const { result, history } = await run(loop, [1]);
    // The child ran out of history; the parent, with a handful of events, did not.
    expect(result.status).toBe('SUCCEEDED');
    expect((result.output as { Status: string; Error: string }[])[0]).toMatchObject({
      Status: 'FAILED',
      Error: 'States.Runtime',
    });
    expect(history.length).toBeLessThan(10);
  });

  it('applies WriterConfig FLATTEN to the state output when nothing is exported', async () => {
    const pairs = serviceIntegration('work', [WORK], async ({ parameters }) => [parameters, parameters]);
    const { result } = await run(
      distributedMap({ ResultWriter: { WriterConfig: { Transformation: 'FLATTEN' } } }),
      { items: [1, 2] },
      {
        integrations: [pairs],
      },
    );
    expect(result.output).toEqual([1, 1, 2, 2]);
  });

  it('reports Map Run progress to the listener', async () => {
    const events: ProgressEvent[] = [];
    await run(distributedMap({}), { items: items(3) }, { onProgress: (event) => events.push(event) });
    const mapEvents = events.filter((event) => event.type.startsWith('MapRun'));
    expect(mapEvents.map((event) => event.type)).toEqual([
      'MapRunStarted',
      'MapRunProgress',
      'MapRunProgress',
      'MapRunProgress',
      'MapRunEnded',
    ]);
    const last = mapEvents.at(-1);
    expect(last?.type === 'MapRunEnded' && last.itemCounts).toMatchObject({ succeeded: 3, total: 3 });
    const childStarts = events.filter((event) => event.type === 'ExecutionStarted' && event.mapRunArn !== undefined);
    expect(childStarts).toHaveLength(3);
  });

  it('aborts running children when the parent execution is stopped', async () => {
    let started = 0;
    let bothStarted: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      bothStarted = resolve;
    });
    const hang = serviceIntegration('work', [WORK], () => {
      started += 1;
      if (started === 2) bothStarted();
      return new Promise(() => undefined);
    });
    const engine = new LocalEngine({ sleeper: new RecordingSleeper(), integrations: [hang] });
    const execution = engine.startExecution({ definition: distributedMap({}), input: { items: items(2) } });
    await running;
    const result = await execution.stop();
    expect(result.status).toBe('ABORTED');
    const [mapRun] = execution.mapRuns();
    expect(mapRun).toMatchObject({ status: 'ABORTED', itemCounts: { aborted: 2, running: 0 } });
    expect(execution.history().map((event) => event.type)).toContain('MapRunAborted');
  });
});
