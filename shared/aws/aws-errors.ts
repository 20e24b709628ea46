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

/** Maps an SDK error to our family, naming the operation and resource for the reader. */
export function toNightshiftError(error: unknown, action: string): NightshiftError {
  if (error instanceof NightshiftError) return error;
  const s = shape(error);
  const detail = `${s.name ?? 'Error'}: ${s.message ?? String(error)}`;
  if (s.name === 'AccessDenied' || s.name === 'AccessDeniedException' || statusOf(error) === 403) {
    return new DatasetAccessError(
      `${action} was denied (${detail}); grant the pipeline read access or pick another location`,
      {
        cause: error,
      },
    );
  }
  if (isTransient(error)) return new RetryableError(`${action} failed (${detail})`, { cause: error });
  return new ServiceError(`${action} failed (${detail})`, { cause: error });
}
