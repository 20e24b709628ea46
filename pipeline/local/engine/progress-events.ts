/**
 * What the engine tells a listener while it works, so a CLI can show which state runs and how far a Map Run is.
 * Every event names the execution it comes from; a Distributed Map's child executions report too, with the ARN of
 * the Map Run that started them.
 */
import type { ExecutionStatus, MapRunItemCounts } from './engine-types.ts';

export type ProgressEvent =
  | {
      readonly type: 'ExecutionStarted';
      readonly executionArn: string;
      readonly name: string;
      readonly mapRunArn?: string;
    }
  | {
      readonly type: 'ExecutionEnded';
      readonly executionArn: string;
      readonly status: ExecutionStatus;
      readonly error?: string;
      readonly cause?: string;
      readonly mapRunArn?: string;
    }
  | {
      readonly type: 'StateEntered' | 'StateExited';
      readonly executionArn: string;
      readonly stateName: string;
      readonly stateType: string;
      readonly mapRunArn?: string;
    }
  | {
      readonly type: 'MapRunStarted';
      readonly executionArn: string;
      readonly mapRunArn: string;
      readonly stateName: string;
      readonly itemCounts: MapRunItemCounts;
    }
  | {
      readonly type: 'MapRunProgress';
      readonly executionArn: string;
      readonly mapRunArn: string;
      readonly stateName: string;
      readonly itemCounts: MapRunItemCounts;
    }
  | {
      readonly type: 'MapRunEnded';
      readonly executionArn: string;
      readonly mapRunArn: string;
      readonly stateName: string;
      readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
      readonly itemCounts: MapRunItemCounts;
    };

export type ProgressListener = (event: ProgressEvent) => void;
