/**
 * Thumbnails: small WebP images of each accepted input, made by preprocess from the original so the report never
 * reads originals again. One pack per preprocess batch, `runs/<runId>/thumbnails/<part>.json`, holds the batch's
 * thumbnails side by side: S3 charges a PUT per object whatever its size, so a million 2.6 KB objects would cost
 * $5 in PUTs where 5,000 packs cost $0.03 (docs/cost.md). A pack is a JSON object from each thumbnail's name (a
 * hash of bucket and key: keys may hold any character, and a hash keeps the name short and the same wherever it
 * is computed) to its WebP bytes in base64, which the report embeds as a data URI as it is.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { runLayout } from './layout.ts';

/** Longest side in pixels; the aspect ratio is kept, so boxes in original pixels scale by one factor. */
export const THUMBNAIL_MAX_SIDE = 160;

/** WebP quality: text stays legible at 160 px and a thumbnail is 1-6 KB. */
export const THUMBNAIL_WEBP_QUALITY = 50;

export const THUMBNAIL_CONTENT_TYPE = 'image/webp';

export const THUMBNAIL_PACK_CONTENT_TYPE = 'application/json';

/** A thumbnail pack: thumbnail name ({@link thumbnailName}) to base64 WebP. */
export const ThumbnailPackSchema = z.record(z.string(), z.string());
export type ThumbnailPack = z.infer<typeof ThumbnailPackSchema>;

/** The name of one input object's thumbnail inside its batch's pack. */
export function thumbnailName(bucket: string, key: string): string {
  return createHash('sha256').update(`${bucket}\u0000${key}`, 'utf8').digest('hex').slice(0, 32);
}

/**
 * The key of a batch's thumbnail pack. `part` is the batch's part name as preprocess names it (`part-000000200`)
 * or as a prediction row carries it, the transform input part's file name (`part-000000200.jsonl`).
 */
export function thumbnailPackKey(runId: string, part: string): string {
  return `${runLayout.thumbnails(runId)}${part.replace(/\.jsonl$/, '')}.json`;
}

/** The body of a pack holding these thumbnails. */
export function thumbnailPackBody(
  thumbnails: Iterable<{ readonly bucket: string; readonly key: string; readonly webp: Uint8Array }>,
): string {
  const pack: ThumbnailPack = {};
  for (const { bucket, key, webp } of thumbnails)
    pack[thumbnailName(bucket, key)] = Buffer.from(webp).toString('base64');
  return JSON.stringify(pack);
}
