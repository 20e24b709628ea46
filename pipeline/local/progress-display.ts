import { STAGES, type StageName } from '../../shared/records.ts';
import { STAGE_OF_STATE } from '../state-machine.ts';
import type { ProgressEvent } from './engine/index.ts';
import type { TransformProgress } from './runtime.ts';

export interface DisplayWriter {
  write(text: string): void;
  readonly isTTY: boolean;
}

/**
 * Shows where a run is while it works: the stage, items done of total and the rate for the Distributed Maps,
 * objects and records for the transform. One rewritten line on a terminal, a line every few seconds otherwise.
 * Also keeps the wall time of each stage for the summary.
 */
export class ProgressDisplay {
  private stage: StageName | '' = '';
  private detail = '';
  private lastPrinted = 0;
  private readonly stageStarted = new Map<StageName, number>();
  private readonly stageEnded = new Map<StageName, number>();
  private mapStarted = 0;

  constructor(
    private readonly out: DisplayWriter,
    private readonly now: () => number = Date.now,
  ) {}

  readonly onEvent = (event: ProgressEvent | TransformProgress): void => {
    const t = this.now();
    if (event.type === 'TransformProgress') {
      this.detail = `${event.objectsDone}/${event.objectsTotal} parts, ${event.recordsDone} images`;
      this.render(false);
      return;
    }
    if (
      'mapRunArn' in event &&
      event.mapRunArn &&
      event.type !== 'MapRunStarted' &&
      event.type !== 'MapRunProgress' &&
      event.type !== 'MapRunEnded'
    )
      return;
    switch (event.type) {
      case 'StateEntered': {
        const stage = stageOf(event.stateName);
        if (!stage) return;
        if (!this.stageStarted.has(stage)) this.stageStarted.set(stage, t);
        if (stage !== this.stage) {
          this.stage = stage;
          this.detail = '';
          this.render(true);
        }
        return;
      }
      case 'StateExited': {
        const stage = stageOf(event.stateName);
        if (stage) this.stageEnded.set(stage, t);
        return;
      }
      case 'MapRunStarted':
        this.mapStarted = t;
        return;
      case 'MapRunProgress':
      case 'MapRunEnded': {
        const counts = event.itemCounts;
        const done = counts.succeeded + counts.failed;
        const seconds = Math.max(0.001, (t - this.mapStarted) / 1000);
        this.detail = `${done}/${counts.total} items${counts.failed ? ` (${counts.failed} failed)` : ''}, ${(done / seconds).toFixed(1)}/s`;
        this.render(event.type === 'MapRunEnded');
        return;
      }
      default:
        return;
    }
  };

  private render(force: boolean): void {
    const line = `  ${this.stage.padEnd(10)} ${this.detail}`;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${line}`);
      if (force) this.out.write('');
      return;
    }
    const t = this.now();
    if (force || t - this.lastPrinted > 2000) {
      this.out.write(`${line}\n`);
      this.lastPrinted = t;
    }
  }

  /** Ends the live line. */
  finish(): void {
    if (this.out.isTTY) this.out.write('\n');
  }

  /** Wall seconds per stage, in pipeline order. */
  stageSeconds(): Array<{ stage: StageName; seconds: number }> {
    return STAGES.flatMap((stage) => {
      const start = this.stageStarted.get(stage);
      const end = this.stageEnded.get(stage);
      return start === undefined || end === undefined ? [] : [{ stage, seconds: (end - start) / 1000 }];
    });
  }
}

/** The stage a top-level state counts toward; undefined for the failure path and the map children. */
function stageOf(stateName: string): StageName | undefined {
  return Object.hasOwn(STAGE_OF_STATE, stateName)
    ? STAGE_OF_STATE[stateName as keyof typeof STAGE_OF_STATE]
    : undefined;
}
