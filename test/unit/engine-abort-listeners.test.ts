import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serviceIntegration } from '../../pipeline/local/engine/integrations.ts';
import { LocalEngine } from '../../pipeline/local/engine/local-engine.ts';

/**
 * Every abort listener the engine adds is removed when the work it guards ends: a Map Run of hundreds of child
 * executions, inline Map iterations and Parallel branches leave no listener behind on any signal, and no signal ever
 * holds more than Node's warning threshold (10) at once, so no `MaxListenersExceededWarning` is printed. The real
 * sleeper (Node timers) runs the task and Lambda time-outs, as in a local run.
 */

const WORK = 'arn:aws:states:::work:run';
const CHILDREN = 300;
const ENGINE_SOURCES = join('pipeline', 'local', 'engine');
/** `events.defaultMaxListeners`: one more listener on a signal and Node prints MaxListenersExceededWarning. */
const NODE_WARNING_THRESHOLD = 10;

/** Succeeds, or fails items marked `fail`; yields to the event loop so children overlap. */
const work = serviceIntegration('work', [WORK], async ({ parameters }) => {
  await new Promise((resolve) => setImmediate(resolve));
  const items = (parameters as { Items?: { fail?: boolean }[] }).Items ?? [parameters as { fail?: boolean }];
  if (items.some((item) => item.fail)) throw new Error('bad item');
  return { ok: items.length };
});

/** A child that runs a Task with time-out and heartbeat guards, then a Lambda function, as the pipeline's do. */
const processor = (executionType: 'STANDARD' | 'EXPRESS') => ({
  ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: executionType },
  StartAt: 'Work',
  States: {
    Work: { Type: 'Task', Resource: WORK, TimeoutSeconds: 60, HeartbeatSeconds: 30, Next: 'Lambda' },
    Lambda: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: 'shape', 'Payload.$': '$' },
      End: true,
    },
  },
});

const distributedMap = (executionType: 'STANDARD' | 'EXPRESS', fields: Record<string, unknown> = {}) => ({
  StartAt: 'Fan',
  States: {
    Fan: { Type: 'Map', ItemsPath: '$.items', ItemProcessor: processor(executionType), End: true, ...fields },
  },
});

const items = (n: number, failing: (index: number) => boolean = () => false) =>
  Array.from({ length: n }, (_, id) => ({ id, ...(failing(id) ? { fail: true } : {}) }));

function newEngine(): LocalEngine {
  return new LocalEngine({
    integrations: [work],
    lambdaFunctions: { shape: { handler: async (event: unknown) => ({ shaped: event }), timeoutSeconds: 60 } },
  });
}

describe('abort listeners of the local engine', () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  const original = EventTarget.prototype.addEventListener;
  const signals = new Set<AbortSignal>();
  let peak = 0;

  beforeEach(() => {
    warnings.length = 0;
    signals.clear();
    peak = 0;
    process.on('warning', onWarning);
    EventTarget.prototype.addEventListener = function (this: EventTarget, ...args) {
      original.apply(this, args);
      // The engine's listeners only (the test runner listens to its own signals too).
      if (this instanceof AbortSignal && args[0] === 'abort' && new Error().stack?.includes(ENGINE_SOURCES)) {
        signals.add(this);
        peak = Math.max(peak, getEventListeners(this, 'abort').length);
      }
    } as EventTarget['addEventListener'];
  });

  afterEach(() => {
    EventTarget.prototype.addEventListener = original;
    process.off('warning', onWarning);
  });

  /** Listeners still attached to the signals seen during the run. */
  const left = () => [...signals].reduce((sum, signal) => sum + getEventListeners(signal, 'abort').length, 0);
  /** Node emits warnings on the next tick; one macrotask later they have all arrived. */
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it.each(['STANDARD', 'EXPRESS'] as const)(
    'a Map Run of %s children leaves no listener on its signals and prints no warning',
    async (executionType) => {
      const execution = newEngine().startExecution({
        definition: distributedMap(executionType),
        input: { items: items(CHILDREN) },
      });

      const result = await execution.result();
      await settle();

      expect(result.status).toBe('SUCCEEDED');
      expect(result.output).toHaveLength(CHILDREN);
      expect(signals.size).toBeGreaterThan(CHILDREN);
      expect(left()).toBe(0);
      expect(peak).toBeLessThanOrEqual(NODE_WARNING_THRESHOLD);
      expect(warnings).toEqual([]);
    },
  );

  it('a Map Run that fails past its tolerance aborts its running children and leaves no listener', async () => {
    const execution = newEngine().startExecution({
      definition: distributedMap('EXPRESS', { ToleratedFailurePercentage: 10 }),
      input: { items: items(CHILDREN, (id) => id % 3 === 0) },
    });

    const result = await execution.result();
    await settle();

    expect(result).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold' });
    expect(execution.mapRuns()[0]?.executionCounts.aborted).toBeGreaterThan(0);
    expect(left()).toBe(0);
    expect(peak).toBeLessThanOrEqual(NODE_WARNING_THRESHOLD);
    expect(warnings).toEqual([]);
  });

  it('a stopped execution aborts its children and leaves no listener', async () => {
    const execution = newEngine().startExecution({
      definition: distributedMap('STANDARD'),
      input: { items: items(CHILDREN) },
    });
    await new Promise((resolve) => setTimeout(resolve, 20));

    const result = await execution.stop({ error: 'Stopped', cause: 'by the test' });
    await settle();

    expect(result.status).toBe('ABORTED');
    expect(left()).toBe(0);
    expect(peak).toBeLessThanOrEqual(NODE_WARNING_THRESHOLD);
    expect(warnings).toEqual([]);
  });

  it('inline Map iterations and Parallel branches leave no listener', async () => {
    const execution = newEngine().startExecution({
      definition: {
        StartAt: 'Both',
        States: {
          Both: {
            Type: 'Parallel',
            End: true,
            Branches: [
              {
                StartAt: 'Inline',
                States: {
                  Inline: {
                    Type: 'Map',
                    ItemsPath: '$.items',
                    ItemProcessor: {
                      StartAt: 'Work',
                      States: { Work: { Type: 'Task', Resource: WORK, TimeoutSeconds: 60, End: true } },
                    },
                    End: true,
                  },
                },
              },
              { StartAt: 'Idle', States: { Idle: { Type: 'Pass', End: true } } },
            ],
          },
        },
      },
      input: { items: items(CHILDREN) },
    });

    const result = await execution.result();
    await settle();

    expect(result.status).toBe('SUCCEEDED');
    expect(left()).toBe(0);
    expect(peak).toBeLessThanOrEqual(NODE_WARNING_THRESHOLD);
    expect(warnings).toEqual([]);
  });
});
