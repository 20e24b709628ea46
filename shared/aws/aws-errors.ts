import { ConnectionError, DatasetAccessError, NightshiftError, RetryableError, ServiceError } from '../errors.ts';

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

/** Node's socket error codes for a connection that failed or broke, and what each means for the reader. */
const CONNECTION_FAILURES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'was refused: nothing listens there (the server is down or the endpoint is wrong)',
  ECONNRESET: 'was reset: the server closed it in the middle of the request',
  EPIPE: 'was closed by the server while the request was being sent',
  EHOSTUNREACH: 'failed: the host is unreachable',
  ENETUNREACH: 'failed: the network is unreachable',
  ENOTFOUND: 'failed: the host name does not resolve',
  EAI_AGAIN: 'failed: the host name could not be resolved (DNS)',
};

/** What a failed connection left on an error: Node's code and, for a refused connect, the address it tried. */
export interface ConnectionFailure {
  /** Node's error code (`ECONNREFUSED`, `ECONNRESET`, ...). */
  readonly code: string;
  /** `host:port` of a failed connect; a reset socket does not say where it was connected. */
  readonly endpoint?: string;
}

/**
 * The connection failure behind an error, if any: the SDK v3 rethrows Node's socket error itself (code, syscall,
 * address, port), and `fetch` wraps it as the `cause` of a `TypeError: fetch failed`, so the chain is searched.
 */
export function connectionFailureOf(error: unknown): ConnectionFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const link = current as { code?: unknown; address?: unknown; port?: unknown; cause?: unknown };
    if (typeof link.code === 'string' && link.code in CONNECTION_FAILURES) {
      const endpoint =
        typeof link.address === 'string' && link.port !== undefined ? `${link.address}:${link.port}` : undefined;
      return { code: link.code, ...(endpoint ? { endpoint } : {}) };
    }
    current = link.cause;
  }
  return undefined;
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
  const connection = connectionFailureOf(error);
  if (connection) {
    // In words, not Node's `connect ECONNREFUSED 127.0.0.1:PORT`: the reader learns what failed and where.
    const where = connection.endpoint ? `the connection to ${connection.endpoint}` : 'the connection';
    return new ConnectionError(`${action} failed: ${where} ${CONNECTION_FAILURES[connection.code]}`, {
      cause: error,
      details: { ...connection },
    });
  }
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
