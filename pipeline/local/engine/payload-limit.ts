import { StatesError, StatesErrors } from './engine-errors.ts';

/**
 * "Maximum input or output size for a task, state, or execution: 262,144 bytes of data as a UTF-8 encoded string.
 * This quota affects tasks (activity, Lambda function, or integrated service), state or execution output, and input
 * data when scheduling a task, entering a state, or starting an execution." (Step Functions service quotas)
 */
export const PAYLOAD_LIMIT_BYTES = 262_144;

/**
 * Serialises a payload as Step Functions would (JSON text; `undefined` becomes `null`) and enforces the quota with
 * `States.DataLimitExceeded`, which only a retrier or catcher naming it matches (not `States.ALL`).
 */
export function serialisePayload(value: unknown, what: string): string {
  const text = JSON.stringify(value === undefined ? null : value);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > PAYLOAD_LIMIT_BYTES) {
    throw new StatesError(
      StatesErrors.DataLimitExceeded,
      `${what} has a size of ${bytes} bytes, exceeding the maximum number of bytes service limit (${PAYLOAD_LIMIT_BYTES}).`,
    );
  }
  return text;
}
