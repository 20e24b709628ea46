import { beforeAll, describe, expect, it } from 'vitest';
import { ProgressDisplay } from '../../pipeline/local/progress-display.ts';
import { STAGE_OF_STATE } from '../../pipeline/state-machine.ts';
import { STAGES } from '../../shared/records.ts';
import { placeholderDefinition, synthStack } from '../helpers/synth-stack.ts';

type Definition = { StartAt: string; States: Record<string, unknown> };

/** A display that records what it writes, on a clock the test moves. */
function recordingDisplay() {
  const lines: string[] = [];
  let now = 0;
  const display = new ProgressDisplay({ write: (text) => void lines.push(text), isTTY: false }, () => now);
  const step = (type: 'StateEntered' | 'StateExited', stateName: string) => {
    now += 1000;
    display.onEvent({ type, executionArn: 'arn:local:execution:x', stateName, stateType: 'Task' });
  };
  return { display, lines, step };
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

    expect(display.stageSeconds()).toEqual([
      { stage: 'plan', seconds: 1 },
      { stage: 'preprocess', seconds: 3 },
      { stage: 'transform', seconds: 3 },
      { stage: 'aggregate', seconds: 1 },
      { stage: 'report', seconds: 1 },
    ]);
    expect(lines.map((line) => line.trim())).toEqual(['plan', 'preprocess', 'transform', 'aggregate', 'report']);
  });
});
