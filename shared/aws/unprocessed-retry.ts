import { type BackoffPolicy, type BackoffRuntime, backoffDelay } from '../backoff.ts';

/**
 * Calls a DynamoDB batch operation until it has processed every request, or `policy.maxAttempts` calls were made.
 * BatchWriteItem and BatchGetItem answer a partial success with the requests they left (`UnprocessedItems`,
 * `UnprocessedKeys`) instead of an error, and AWS asks the caller to resend those with exponential backoff
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
 *
 * Errors are not retried here: the SDK client already retries throttling, 5xx and network errors (standard retry
 * mode, the client's `maxAttempts`, three by default:
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html), so a loop around it would multiply
 * the attempts. An error that outlasts the client's attempts goes to the caller, and on to Step Functions' Retry.
 *
 * @param send - one call with the pending requests; returns the ones it left unprocessed
 * @returns the requests still unprocessed after the last call (empty when all were processed)
 */
export async function sendUntilProcessed<T>(
  requests: T[],
  send: (pending: T[]) => Promise<T[]>,
  policy: BackoffPolicy,
  runtime: BackoffRuntime,
): Promise<T[]> {
  let pending = requests;
  for (let attempt = 1; ; attempt++) {
    pending = await send(pending);
    if (pending.length === 0 || attempt >= policy.maxAttempts) return pending;
    await runtime.sleep(backoffDelay(policy, attempt, runtime.random));
  }
}
