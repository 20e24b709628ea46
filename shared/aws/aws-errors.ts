import { DatasetAccessError, NightshiftError, RetryableError, ServiceError } from '../errors.ts';

interface ServiceErrorShape {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'RequestThrottled',
]);

function shape(error: unknown): ServiceErrorShape {
  return typeof error === 'object' && error !== null ? (error as ServiceErrorShape) : {};
}

export function statusOf(error: unknown): number | undefined {
  return shape(error).$metadata?.httpStatusCode;
}

export function isNotFound(error: unknown): boolean {
  const { name } = shape(error);
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || statusOf(error) === 404;
}

/** Throttling, server faults and network failures: worth another attempt. */
export function isTransient(error: unknown): boolean {
  const s = shape(error);
  if (s.name !== undefined && THROTTLING.has(s.name)) return true;
  if (s.$fault === 'server' || (statusOf(error) ?? 0) >= 500) return true;
  if (s.$retryable) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return [s.name, code].some((id) =>
    ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout'].includes(String(id)),
  );
}

/**
 * Maps an SDK error to our family, naming the operation and resource for the reader. `accessDenied` says whose
 * mistake a 403 is: reading a dataset the user pointed at (`caller`: pick another location or grant access) or
 * anything of the pipeline's own (`internal`: a deployment bug that a fixed deployment and a redrive cure).
 */
export function toNightshiftError(
  error: unknown,
  action: string,
  options: { readonly accessDenied?: 'caller' | 'internal' } = {},
): NightshiftError {
  if (error instanceof NightshiftError) return error;
  const s = shape(error);
  const detail = `${s.name ?? 'Error'}: ${s.message ?? String(error)}`;
  if (s.name === 'AccessDenied' || s.name === 'AccessDeniedException' || statusOf(error) === 403) {
    if (options.accessDenied === 'caller') {
      return new DatasetAccessError(
        `${action} was denied (${detail}); grant the pipeline read access or pick another location`,
        { cause: error },
      );
    }
    return new ServiceError(
      `${action} was denied (${detail}); the deployment lacks a permission: check the stage's IAM role and key policy`,
      { cause: error },
    );
  }
  if (isTransient(error)) return new RetryableError(`${action} failed (${detail})`, { cause: error });
  return new ServiceError(`${action} failed (${detail})`, { cause: error });
}
