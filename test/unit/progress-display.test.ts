import { beforeAll, describe, expect, it } from 'vitest';
import { ProgressDisplay } from '../../pipeline/local/progress-display.ts';
import { STAGE_OF_STATE } from '../../pipeline/state-machine.ts';
import { STAGES } from '../../shared/records.ts';
import { placeholderDefinition, synthStack } from '../helpers/synth-stack.ts';

type Definition = { StartAt: string; States: Record<string, unknown> };

/** A display that records what it writes, on a clock the test moves. */
function recordingDisplay(isTTY = false) {
  const lines: string[] = [];
  let now = 0;
  const display = new ProgressDisplay({ write: (text) => void lines.push(text), isTTY }, () => now);
  const step = (type: 'StateEntered' | 'StateExited', stateName: string, ms = 1000) => {
    now += ms;
    display.onEvent({ type, executionArn: 'arn:local:execution:x', stateName, stateType: 'Task' });
  };
  const transform = (objectsDone: number, recordsDone: number, ms = 100) => {
    now += ms;
    display.onEvent({ type: 'TransformProgress', job: 'job', objectsDone, objectsTotal: 5, recordsDone });
  };
  return { display, lines, step, transform };
}

const ERASE_LINE = '\r\u001b[2K';

/** What a terminal shows after the writes: carriage return + erase-line rewrite the current line. */
function screen(writes: readonly string[]): string[] {
  const rows: string[] = [];
  let current = '';
  for (const chunk of writes) {
    for (const [index, segment] of chunk.split('\n').entries()) {
      if (index > 0) {
        rows.push(current);
        current = '';
      }
      const rewritten = segment.split(ERASE_LINE);
      current = (rewritten.length > 1 ? '' : current) + (rewritten.at(-1) ?? '');
    }
  }
  return [...rows, current];
}

describe('the local progress display names only states of the synthesized definition', () => {
  let topLevel: string[];

  beforeAll(() => {
    topLevel = Object.keys((placeholderDefinition(synthStack().template) as Definition).States);
  });

  it('groups by state names that all exist at the top level of the definition', () => {
    const missing = Object.keys(STAGE_OF_STATE).filter((name) => !topLevel.includes(name));

    expect(missing).toEqual([]);
  });

  it('assigns every stage at least one state, so each stage gets a wall time', () => {
    expect(new Set(Object.values(STAGE_OF_STATE))).toEqual(new Set(STAGES));
  });

  it('times each stage from its first state entered to its last state exited, in pipeline order', () => {
    const { display, lines, step } = recordingDisplay();
    const path = [
      'Plan',
      'MarkPreprocessStart',
      'Preprocess',
      'MarkTransformStart',
      'Transform',
      'Aggregate',
      'Report',
    ];

    for (const state of path) {
      step('StateEntered', state);
      step('StateExited', state);
    }
    step('StateEntered', 'FinalizeFailure');
    display.finish();

    expect(display.stageSeconds()).toEqual([
      { stage: 'plan', seconds: 1 },
      { stage: 'preprocess', seconds: 3 },
      { stage: 'transform', seconds: 3 },
      { stage: 'aggregate', seconds: 1 },
      { stage: 'report', seconds: 1 },
    ]);
    expect(lines).toEqual([
      '  plan       1.0s\n',
      '  preprocess 3.0s\n',
      '  transform  3.0s\n',
      '  aggregate  1.0s\n',
      '  report     1.0s\n',
    ]);
  });
});

describe('the local progress display', () => {
  it('prints the last transform update in a pipe even when it comes right after the previous one', () => {
    const { display, lines, step, transform } = recordingDisplay(false);

    step('StateEntered', 'Transform');
    for (let done = 1; done <= 5; done++) transform(done, done * 10);
    step('StateExited', 'Transform', 400);
    step('StateEntered', 'Aggregate', 0);
    display.finish();

    expect(lines).toEqual([
      '  transform  1/5 parts, 10 images\n',
      '  transform  5/5 parts, 50 images  0.9s\n',
      '  aggregate  0.0s\n',
    ]);
  });

  it('never prints a bare stage name with trailing spaces in a pipe', () => {
    const { display, lines, step } = recordingDisplay(false);

    step('StateEntered', 'Plan');
    step('StateEntered', 'MarkPreprocessStart');
    display.finish();

    expect(lines.some((line) => /^\s*\w+\s*$/.test(line))).toBe(false);
    expect(lines.every((line) => !/ \n$/.test(line))).toBe(true);
  });

  it('keeps one finished line per stage on a terminal, with its final counts and time', () => {
    const { display, lines, step, transform } = recordingDisplay(true);

    step('StateEntered', 'Plan');
    step('StateExited', 'Plan', 100);
    step('StateEntered', 'Transform', 0);
    for (let done = 1; done <= 5; done++) transform(done, done * 10, 900);
    step('StateExited', 'Transform', 0);
    step('StateEntered', 'Report', 0);
    step('StateExited', 'Report', 200);
    display.finish();

    expect(screen(lines)).toEqual([
      '  plan       0.1s',
      '  transform  5/5 parts, 50 images  4.5s',
      '  report     0.2s',
      '',
    ]);
  });

  it('ends a failed run with the line of the stage that failed, with its last counts', () => {
    const { display, lines, step, transform } = recordingDisplay(true);

    step('StateEntered', 'Transform');
    transform(2, 20, 1000);
    step('StateEntered', 'FinalizeFailure', 500);
    display.finish();

    expect(screen(lines)).toEqual(['  transform  2/5 parts, 20 images  1.5s', '']);
  });
});
