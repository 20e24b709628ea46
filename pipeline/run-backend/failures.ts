/** The CLI's error family: usage errors (exit 2), failures with a stable code (exit 1), and AWS errors explained. */
import { toNightshiftError } from '../../shared/aws/aws-errors.ts';
import { NightshiftError, type NightshiftErrorOptions } from '../../shared/errors.ts';

/** The command line itself is wrong: an unknown option, a missing argument, a value out of range. Exit code 2. */
export class UsageError extends NightshiftError {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
  readonly kind = 'caller';
  readonly retryable = false;
}

/** Why a well-formed command could not do what it was asked. Stable: scripts may match on it with `--json`. */
export type CliFailureCode =
  | 'RUN_NOT_FOUND'
  | 'RUN_EXISTS'
  | 'STACK_NOT_FOUND'
  | 'NO_CREDENTIALS'
  | 'NO_REGION'
  | 'EXPIRED_CREDENTIALS'
  | 'ACCESS_DENIED'
  | 'UNREACHABLE'
  | 'NOT_REDRIVABLE'
  | 'NO_REPORT'
  | 'NO_LOCAL_STATE'
  | 'INVALID_SOURCE'
  | 'NO_LOGS';

/**
 * Failures that are mistakes in what the user gave (a source path that is not a dataset, a redrive of a run that did
 * not fail): like usage errors they exit 2, and they are reported before anything starts.
 */
export const INPUT_MISTAKES: ReadonlySet<CliFailureCode> = new Set(['INVALID_SOURCE', 'NOT_REDRIVABLE']);

/**
 * A command that was well formed but cannot be done as asked; the message says what to do instead. Exit code 1, or
 * 2 for the {@link INPUT_MISTAKES}.
 */
export class CliFailure extends NightshiftError {
  override readonly name = 'CliFailure';
  readonly kind = 'caller';
  readonly retryable = false;

  constructor(
    readonly code: CliFailureCode,
    message: string,
    options?: NightshiftErrorOptions,
  ) {
    super(message, options);
  }
}

/** The exit code for an error a command ended with: 2 for usage errors and input mistakes, else 1. */
export function exitCodeOf(error: unknown): 1 | 2 {
  if (error instanceof UsageError) return 2;
  return error instanceof CliFailure && INPUT_MISTAKES.has(error.code) ? 2 : 1;
}

interface ErrorShape {
  name?: string;
  message?: string;
  code?: string;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'Forbidden']);
const BAD_CREDENTIALS = new Set(['UnrecognizedClientException', 'InvalidClientTokenId', 'InvalidSignatureException']);
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired', 'RequestExpired']);
const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'TimeoutError']);

/** The error and its causes, outermost first (the shared adapters wrap SDK errors in our family). */
function chain(error: unknown): ErrorShape[] {
  const links: ErrorShape[] = [];
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && links.length < 5) {
    links.push(current as ErrorShape);
    current = (current as ErrorShape).cause;
  }
  return links;
}

/**
 * Turns an AWS SDK failure into one line that says what was wrong and what to do: no credentials, no region,
 * expired or rejected credentials, access denied, AWS unreachable. `action` names the call (`states:StartExecution`).
 * Anything else becomes the shared family's ServiceError/RetryableError naming the action.
 */
export function explainAwsError(error: unknown, action: string): NightshiftError {
  if (error instanceof CliFailure || error instanceof UsageError) return error;
  for (const link of chain(error)) {
    const name = link.name ?? '';
    const message = link.message ?? '';
    if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
      return new CliFailure(
        'NO_CREDENTIALS',
        `no AWS credentials found for ${action}: run \`aws configure\` or \`aws sso login\`, set AWS_PROFILE, or pass --profile NAME`,
        { cause: error },
      );
    }
    if (/region is missing/i.test(message)) {
      return new CliFailure(
        'NO_REGION',
        'no AWS region set: pass --region (for example --region us-east-1) or set AWS_REGION',
        {
          cause: error,
        },
      );
    }
    if (EXPIRED.has(name) || /token.*(expired|refresh)/i.test(message)) {
      return new CliFailure(
        'EXPIRED_CREDENTIALS',
        `your AWS credentials have expired (${action}): refresh them (\`aws sso login\`) and try again`,
        { cause: error },
      );
    }
    if (BAD_CREDENTIALS.has(name)) {
      return new CliFailure(
        'NO_CREDENTIALS',
        `AWS rejected the credentials for ${action} (${name}): check AWS_PROFILE / --profile and the keys it uses`,
        { cause: error },
      );
    }
    if (ACCESS_DENIED.has(name) || link.$metadata?.httpStatusCode === 403) {
      return new CliFailure(
        'ACCESS_DENIED',
        `access denied for ${action}${message ? ` (${message})` : ''}: use a profile that may call it (--profile) or ask for the permission`,
        { cause: error },
      );
    }
    if (NETWORK.has(name) || NETWORK.has(link.code ?? '')) {
      return new CliFailure(
        'UNREACHABLE',
        `could not reach AWS for ${action} (${link.code ?? name}): check the network, or AWS_ENDPOINT_URL_* if you set one`,
        { cause: error },
      );
    }
  }
  return toNightshiftError(error, action);
}

/** Runs one AWS call and explains its failure with {@link explainAwsError}. */
export async function awsCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw explainAwsError(error, action);
  }
}

/** The SDK's error name, for the few service errors a command handles itself (ExecutionDoesNotExist, ...). */
export function awsErrorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as ErrorShape).name : undefined;
}
