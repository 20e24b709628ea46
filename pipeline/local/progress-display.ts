import { formatDuration } from '../../shared/format-duration.ts';
import { STAGES, type StageName } from '../../shared/records.ts';
import { STAGE_OF_STATE } from '../state-stages.ts';
import type { ProgressEvent } from './engine/index.ts';
import type { TransformProgress } from './runtime.ts';

export interface DisplayWriter {
  write(text: string): void;
  readonly isTTY: boolean;
}

/** How often a pipe gets a line of a stage still working; the stage's finished line always comes. */
const PIPE_INTERVAL_MS = 2000;

/**
 * Shows where a run is while it works: the stage, items done of total and the rate for the Distributed Maps,
 * objects and images for the transform. Every stage ends as one finished line with its final counts and wall time
 * (`  transform  5/5 parts, 50 images  4.5 s`). On a terminal the working stage is one rewritten line; in a pipe a
 * working stage prints a line at most every two seconds, and only once it has counts to show.
 * Also keeps the wall time of each stage for the summary.
 */
export class ProgressDisplay {
  private stage: StageName | undefined;
  private detail = '';
  /** Whether the terminal's current line is a live line to overwrite. */
  private live = false;
  private lastPrinted = Number.NEGATIVE_INFINITY;
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
      this.renderLive();
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
          this.endStage();
          this.stage = stage;
          this.detail = '';
          this.lastPrinted = Number.NEGATIVE_INFINITY;
          this.renderLive();
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
        this.renderLive();
        return;
      }
      default:
        return;
    }
  };

  /** Prints a line of its own (a start-up step that ends while a stage works) without breaking the live line. */
  note(line: string): void {
    this.out.write(`${this.out.isTTY && this.live ? '\r\x1b[2K' : ''}${line}\n`);
    if (this.live) {
      this.live = false;
      this.renderLive();
    }
  }

  /** Prints the last stage's finished line (a run's failure path ends the display without one more stage). */
  finish(): void {
    this.endStage();
    this.stage = undefined;
  }

  /** Wall seconds per stage, in pipeline order. */
  stageSeconds(): Array<{ stage: StageName; seconds: number }> {
    return STAGES.flatMap((stage) => {
      const start = this.stageStarted.get(stage);
      const end = this.stageEnded.get(stage);
      return start === undefined || end === undefined ? [] : [{ stage, seconds: (end - start) / 1000 }];
    });
  }

  /** The working stage's line: rewritten in place on a terminal, throttled in a pipe, never bare in a pipe. */
  private renderLive(): void {
    if (!this.stage) return;
    const label = `  ${this.stage.padEnd(10)}`;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${this.detail ? `${label} ${this.detail}` : label.trimEnd()}`);
      this.live = true;
      return;
    }
    const t = this.now();
    if (this.detail && t - this.lastPrinted >= PIPE_INTERVAL_MS) {
      this.out.write(`${label} ${this.detail}\n`);
      this.lastPrinted = t;
    }
  }

  /** The stage's finished line: its last counts (always, however recent the previous line) and its wall time. */
  private endStage(): void {
    const stage = this.stage;
    if (!stage) return;
    const started = this.stageStarted.get(stage) ?? this.now();
    const seconds = ((this.stageEnded.get(stage) ?? this.now()) - started) / 1000;
    const line = `  ${stage.padEnd(10)} ${this.detail ? `${this.detail}  ` : ''}${formatDuration(seconds)}`;
    this.out.write(`${this.out.isTTY && this.live ? '\r\x1b[2K' : ''}${line}\n`);
    this.live = false;
  }
}

/** The stage a top-level state counts toward; undefined for the failure path and the map children. */
function stageOf(stateName: string): StageName | undefined {
  return Object.hasOwn(STAGE_OF_STATE, stateName)
    ? STAGE_OF_STATE[stateName as keyof typeof STAGE_OF_STATE]
    : undefined;
}
