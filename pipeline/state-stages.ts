import type { StageName } from '../shared/records.ts';

/**
 * The top-level states of the happy path and the stage whose wall time each counts toward (the local progress
 * display groups by it). A test checks every name against the synthesized definition, so a renamed state fails there.
 */
export const STAGE_OF_STATE = {
  Plan: 'plan',
  'AnythingToPreprocess?': 'plan',
  MarkPreprocessStart: 'preprocess',
  FirstPart: 'preprocess',
  PartKey: 'preprocess',
  Preprocess: 'preprocess',
  NextPart: 'preprocess',
  'MoreParts?': 'preprocess',
  MarkTransformStart: 'transform',
  CountTransformInput: 'transform',
  'AnythingToTransform?': 'transform',
  Transform: 'transform',
  DescribeExistingJob: 'transform',
  'ExistingJobStatus?': 'transform',
  WaitForExistingJob: 'transform',
  MarkAggregateStart: 'aggregate',
  Aggregate: 'aggregate',
  Report: 'report',
  ReportWithoutTransform: 'report',
} as const satisfies Readonly<Record<string, StageName>>;
