import { TRANSFORM_JOB_PREFIX } from './layout.ts';
import { hashOf } from './settings-hash.ts';

/**
 * SageMaker job names: 1-63 characters of [a-zA-Z0-9-], starting with a letter or digit. The base keeps a readable
 * part of the run id and a digest of run id + execution name (unique per execution, stable across retries and
 * redrives of it); the state machine appends `-<redrive count>`, at most 4 more characters.
 */
export function transformJobBaseName(runId: string, executionName: string): string {
  const readable = runId
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 28);
  const digest = hashOf({ runId, executionName }).slice(0, 16);
  return `${TRANSFORM_JOB_PREFIX}${readable ? `${readable}-` : ''}${digest}`;
}

/** The job one attempt of an execution runs: the plan's base name and the attempt's redrive count. */
export function transformJobName(runId: string, executionName: string, redriveCount: number): string {
  return `${transformJobBaseName(runId, executionName)}-${redriveCount}`;
}
