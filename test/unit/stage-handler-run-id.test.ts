import { describe, expect, it } from 'vitest';
import { createHandler as createAggregate } from '../../stages/aggregate/handler.ts';
import { createHandler as createPlan } from '../../stages/plan/handler.ts';
import { createHandler as createPreprocess } from '../../stages/preprocess/handler.ts';

// The local runtime names the run in a dead server's error ("finish it with nightshift redrive <id> --local") from
// the stage's own runId; batches keep it in BatchInput, not at the top of the event.
describe('a stage handler factory names the run of an event', () => {
  it('reads the run id where each stage keeps it, and none from an event its schema refuses', () => {
    expect(
      createPreprocess.runIdOf({
        Items: [{ index: 0, bucket: 'my-data', key: 'a.jpg' }],
        BatchInput: {
          runId: 'run-pre',
          pipelineBucket: 'my-pipeline',
          settings: {},
        },
      }),
    ).toBe('run-pre');
    expect(
      createAggregate.runIdOf({
        Items: [{ key: 'runs/run-agg/transform-output/part-0.jsonl.out' }],
        BatchInput: { runId: 'run-agg', pipelineBucket: 'my-pipeline' },
      }),
    ).toBe('run-agg');
    expect(createAggregate.runIdOf({ runId: 'run-old', pipelineBucket: 'my-pipeline', key: 'x.out' })).toBe('run-old');
    expect(
      createPlan.runIdOf({ input: { dataset: 's3://my-data/in/', runId: 'run-plan' }, execution: { name: 'e' } }),
    ).toBe('run-plan');
    expect(createAggregate.runIdOf({ Items: [] })).toBeUndefined();
  });
});
