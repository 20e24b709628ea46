import sharp, { type Metadata } from 'sharp';
import { describeError } from '../../shared/errors.ts';
import { formatIssues } from '../../shared/execution-input.ts';
import { ModelInputSchema } from '../../shared/records.ts';
import type { DecodedImage } from './model-handler.ts';
import { RECORD_ERROR_CODES, type RecordError } from './record-errors.ts';

/**
 * Decompression-bomb guard: a few kilobytes of PNG can declare a gigapixel. Preprocess sends at most its canvas
 * (960 x 960 by default, 4096 x 4096 at most), so anything past 40 megapixels is not a preprocessed record.
 */
export const MAX_IMAGE_PIXELS = 40_000_000;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export type DecodedRecord =
  | { readonly ok: true; readonly image: DecodedImage }
  | { readonly ok: false; readonly error: RecordError };

/**
 * Turns one parsed JSON line into pixels: checks it is a model input, that `image` is base64 of a JPEG or PNG,
 * and that the image is the format and size the record declares. Never throws for bad input.
 */
export async function decodeRecord(record: unknown): Promise<DecodedRecord> {
  const parsed = ModelInputSchema.safeParse(record);
  if (!parsed.success) {
    return fail(
      'invalidRecord',
      `${formatIssues(parsed.error, 'the record')} (expected {image, format, width, height})`,
    );
  }
  const input = parsed.data;
  if (!BASE64.test(input.image))
    return fail('undecodableImage', 'image is not base64 (characters outside A-Z a-z 0-9 + / =)');
  return decodeImage(Buffer.from(input.image, 'base64'), input);
}

/**
 * Decodes JPEG or PNG bytes to pixels under the same pixel limit as records; with `declared`, also checks that the
 * image is the format and size declared. Never throws for bad input.
 */
export async function decodeImage(
  bytes: Buffer,
  declared?: { readonly format: string; readonly width: number; readonly height: number },
): Promise<DecodedRecord> {
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    return fail('undecodableImage', `image cannot be read as JPEG or PNG: ${reason(error)}`);
  }
  if (metadata.format !== 'jpeg' && metadata.format !== 'png') {
    return fail('undecodableImage', `image is ${metadata.format.toUpperCase()}; only JPEG and PNG are accepted`);
  }
  if (metadata.width * metadata.height > MAX_IMAGE_PIXELS) {
    return fail(
      'imageTooLarge',
      `image is ${metadata.width} x ${metadata.height} pixels, more than the ${MAX_IMAGE_PIXELS / 1_000_000} megapixels decoded per record`,
    );
  }
  if (
    declared !== undefined &&
    (metadata.format !== declared.format || metadata.width !== declared.width || metadata.height !== declared.height)
  ) {
    return fail(
      'imageMismatch',
      `the record declares a ${declared.width} x ${declared.height} ${declared.format.toUpperCase()} image but holds a ` +
        `${metadata.width} x ${metadata.height} ${metadata.format.toUpperCase()} one`,
    );
  }

  try {
    // 'error' also rejects truncated data, which the default would decode with the missing rows grey.
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS })
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) return fail('undecodableImage', `image decodes to ${info.channels} channels, not 3`);
    return { ok: true, image: { pixels: data, width: info.width, height: info.height } };
  } catch (error) {
    return fail('undecodableImage', `image is damaged or truncated: ${reason(error)}`);
  }
}

function fail(code: keyof typeof RECORD_ERROR_CODES, message: string): DecodedRecord {
  return { ok: false, error: { code: RECORD_ERROR_CODES[code], message } };
}

/** sharp's first message line, short enough for a report cell. */
function reason(error: unknown): string {
  const first = describeError(error).message.split('\n')[0]?.trim() ?? '';
  return first.length > 200 ? `${first.slice(0, 197)}...` : first;
}
