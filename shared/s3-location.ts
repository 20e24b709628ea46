import { InvalidInputError } from './errors.ts';

/** A bucket and a key (or key prefix) in S3. */
export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

// Bucket naming rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket/key`; `what` names the input in the error message. */
export function parseS3Uri(uri: string, what = 'S3 URI'): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  const bucket = match?.[1];
  if (!match || bucket === undefined) {
    throw new InvalidInputError(`${what} "${uri}" is not an S3 URI; write it as s3://bucket/key`);
  }
  if (!BUCKET_NAME.test(bucket)) {
    throw new InvalidInputError(`${what} "${uri}" names an invalid bucket "${bucket}"`);
  }
  return { bucket, key: match[2] ?? '' };
}

export function formatS3Uri(location: S3Location): string {
  return `s3://${location.bucket}/${location.key}`;
}

/** Joins key parts with single slashes. */
export function joinKey(...parts: string[]): string {
  return parts
    .filter((part) => part !== '')
    .map((part, index) => (index === 0 ? part.replace(/\/+$/, '') : part.replace(/^\/+|\/+$/g, '')))
    .join('/');
}

/**
 * True when `location` lies inside `scope` (same bucket, key starts with the scope's prefix).
 * A key holding `..` or `.` path segments is never inside: S3 does not resolve them, but people and tools do.
 */
export function isInside(location: S3Location, scope: S3Location): boolean {
  if (location.bucket !== scope.bucket) return false;
  if (location.key.split('/').some((segment) => segment === '..' || segment === '.')) return false;
  return location.key.startsWith(scope.key);
}
