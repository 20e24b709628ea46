/**
 * Thumbnails: small WebP images of each accepted input, made by preprocess from the original so the report never
 * reads originals again. One object per input under the run's thumbnails prefix, named by a hash of bucket and key
 * (keys may hold any character, and a hash keeps the name short and the same wherever it is computed).
 */
import { createHash } from 'node:crypto';
import { runLayout } from './layout.ts';

/** Longest side in pixels; the aspect ratio is kept, so boxes in original pixels scale by one factor. */
export const THUMBNAIL_MAX_SIDE = 160;

/** WebP quality: text stays legible at 160 px and a thumbnail is 1-6 KB. */
export const THUMBNAIL_WEBP_QUALITY = 50;

export const THUMBNAIL_CONTENT_TYPE = 'image/webp';

/** Thumbnail PUTs preprocess keeps in flight (the cost model counts its S3 waits in waves of this many). */
export const THUMBNAIL_WRITE_CONCURRENCY = 8;

/** The thumbnail's key in the pipeline bucket for one input object of a run. */
export function thumbnailKey(runId: string, bucket: string, key: string): string {
  const name = createHash('sha256').update(`${bucket}\u0000${key}`, 'utf8').digest('hex').slice(0, 32);
  return `${runLayout.thumbnails(runId)}${name}.webp`;
}
