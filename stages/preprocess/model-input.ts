import sharp, { type Metadata } from 'sharp';
import { describeError } from '../../shared/errors.ts';
import type { PreprocessSettings } from '../../shared/execution-input.ts';
import type { Geometry, ModelInput, RejectionReason } from '../../shared/records.ts';
import { planResize } from './geometry.ts';
import { isKnownSrgbProfile } from './icc-profile.ts';
import { type JpegFrame, jpegFrame } from './jpeg-frame.ts';
import { pngChunksBeforeData } from './png-chunks.ts';
import { thumbnailOf, WHITE } from './thumbnail.ts';

/** The settings that shape the model input. */
export type ModelInputSettings = Pick<
  PreprocessSettings,
  'width' | 'height' | 'fit' | 'encoding' | 'jpegQuality' | 'maxInputPixels'
>;

/** Why bytes that were downloaded fine cannot become model input; `problem` completes "<object> ...". */
export interface ImageProblem {
  readonly ok: false;
  readonly reason: Extract<RejectionReason, 'NOT_AN_IMAGE' | 'UNSUPPORTED_TYPE' | 'TOO_MANY_PIXELS' | 'CORRUPT_IMAGE'>;
  readonly problem: string;
}

export interface PreparedImage {
  readonly ok: true;
  readonly input: ModelInput;
  readonly geometry: Geometry;
  /** The model input's encoded bytes (`input.image` before base64), for the thumbnail to start from. */
  readonly encoded: Buffer;
  /** Whether `encoded` is the object's own bytes, sent unchanged ({@link keepsOriginal}). */
  readonly kept: boolean;
  /** The thumbnail, when the decode that checked kept bytes made it on the way. */
  readonly thumbnail?: Buffer;
}

/** The formats decoded, by sharp's `metadata().format` name, as users know them. AVIF comes through `heif`. */
const DECODABLE_FORMATS: Readonly<Record<string, string>> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  tiff: 'TIFF',
  heif: 'AVIF',
};
const FORMAT_LIST = 'JPEG, PNG, WebP, GIF, TIFF or AVIF';

/**
 * The most bytes an original may have to be sent unchanged: base64 makes them 4/3 larger, so the record the model
 * receives stays under 1 MiB, the smallest MaxPayloadInMB a job may set (`transform.maxPayloadInMB`), and SageMaker
 * fails an object holding a record larger than MaxPayloadInMB ("must be greater than, or equal to, the size of a
 * single record", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html).
 */
export const KEPT_MAX_BYTES = 750 * 1024;

/**
 * Turns the bytes of one object into the canonical model input: the first frame only, EXIF orientation applied,
 * transparency flattened onto white, 8-bit sRGB with 3 channels, resized per `settings.fit` and encoded per
 * `settings.encoding`. An object that already is that input ({@link keepsOriginal}) is sent as it is: no second
 * lossy encode of its text, and no encode to pay for; the decode that makes its thumbnail (shrunk on load) checks
 * that all of it decodes. Bad input comes back as an {@link ImageProblem}; nothing here throws for bad input.
 */
export async function prepareModelInput(
  bytes: Uint8Array,
  settings: ModelInputSettings,
): Promise<PreparedImage | ImageProblem> {
  let metadata: Metadata;
  try {
    // Reads the header only, so no pixel limit applies yet: the declared size is checked below, before decoding.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    const detail = sharpReason(error);
    if (/unsupported image format/i.test(detail)) {
      return { ok: false, reason: 'NOT_AN_IMAGE', problem: `is not an image: its content is not ${FORMAT_LIST}` };
    }
    return { ok: false, reason: 'CORRUPT_IMAGE', problem: `has an image header that cannot be read (${detail})` };
  }

  const formatName = DECODABLE_FORMATS[metadata.format];
  // sharp's prebuilt libvips reads AVIF but not HEVC-compressed HEIF (HEIC).
  const heic = metadata.format === 'heif' && metadata.compression !== 'av1';
  if (formatName === undefined || heic) {
    const found = heic ? 'HEIC' : metadata.format.toUpperCase();
    return {
      ok: false,
      reason: 'UNSUPPORTED_TYPE',
      problem: `is in ${found} format; only ${FORMAT_LIST} images are processed (convert it to one of those)`,
    };
  }

  // For multi-page input (animated GIF/WebP, TIFF) sharp reports the first page's size unless asked for more.
  const pixels = metadata.width * metadata.height;
  if (pixels > settings.maxInputPixels) {
    return {
      ok: false,
      reason: 'TOO_MANY_PIXELS',
      problem:
        `is ${metadata.width} x ${metadata.height} pixels (${megapixels(pixels)} megapixels), more than the ` +
        `${megapixels(settings.maxInputPixels)} megapixels allowed (preprocess.maxInputPixels); ` +
        'downscale the image or raise the limit',
    };
  }

  const plan = planResize(metadata.autoOrient, settings);
  const { content, geometry } = plan;
  const damaged = (error: unknown): ImageProblem => ({
    ok: false,
    reason: 'CORRUPT_IMAGE',
    problem: `is a damaged or truncated ${formatName} image that cannot be decoded (${sharpReason(error)})`,
  });

  if (keepsOriginal(metadata, geometry, settings, bytes)) {
    const original = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let thumbnail: Buffer;
    try {
      // The same failOn as the full decode below: a JPEG's entropy-coded data is read whole even when it shrinks
      // on load, so a truncated or damaged one fails here as it would there.
      thumbnail = await thumbnailOf(sharp(original, { failOn: 'error', limitInputPixels: settings.maxInputPixels }));
    } catch (error) {
      return damaged(error);
    }
    return {
      ok: true,
      geometry,
      encoded: original,
      kept: true,
      thumbnail,
      input: {
        image: original.toString('base64'),
        format: settings.encoding,
        width: geometry.width,
        height: geometry.height,
      },
    };
  }

  let encoded: Buffer;
  try {
    let image = sharp(bytes, {
      // 'error' also fails on truncated data, which 'none' would decode with the missing rows grey.
      failOn: 'error',
      limitInputPixels: settings.maxInputPixels,
      pages: 1,
      page: 0,
      autoOrient: true,
    })
      .flatten({ background: WHITE })
      .toColourspace('srgb')
      .resize({ width: content.width, height: content.height, fit: 'fill' });
    if (content.width !== geometry.width || content.height !== geometry.height) {
      image = image.extend({
        left: geometry.offsetX,
        top: geometry.offsetY,
        right: geometry.width - content.width - geometry.offsetX,
        bottom: geometry.height - content.height - geometry.offsetY,
        background: WHITE,
      });
    }
    image = settings.encoding === 'jpeg' ? image.jpeg({ quality: settings.jpegQuality }) : image.png();
    encoded = await image.toBuffer();
  } catch (error) {
    return damaged(error);
  }

  return {
    ok: true,
    geometry,
    encoded,
    kept: false,
    input: {
      image: encoded.toString('base64'),
      format: settings.encoding,
      width: geometry.width,
      height: geometry.height,
    },
  };
}

/**
 * Whether the object's bytes already are the model input, so that they travel unchanged: encoded as
 * `settings.encoding` asks (a JPEG for `jpeg`, a PNG for `png`), no resize and no padding (the canvas is the picture
 * at scale 1), upright (no EXIF orientation but 1), and decoding as the canonical input does on any decoder: 8-bit,
 * 3 channels, no alpha, no palette, sRGB (no ICC profile, or a known sRGB one: sharp, like the model server,
 * converts other profiles, while a decoder that ignores them would see other colours). A JPEG must be Huffman-coded
 * with 8-bit samples (SOF0, SOF1 or SOF2), which every decoder reads: libjpeg-turbo also decodes arithmetic-coded
 * ones, which many decoders refuse. A PNG with gAMA or cHRM and no sRGB chunk is re-encoded: decoders that apply
 * those chunks would see other colours than sharp, which ignores them. Its size is bounded by
 * {@link KEPT_MAX_BYTES} and by its own raw pixels (3 bytes each): a file larger than that is mostly not picture
 * (metadata, an appended video) and is sent re-encoded instead.
 */
function keepsOriginal(
  metadata: Metadata,
  geometry: Geometry,
  settings: ModelInputSettings,
  bytes: Uint8Array,
): boolean {
  const pixels = metadata.width * metadata.height;
  return (
    metadata.format === settings.encoding &&
    geometry.width === metadata.width &&
    geometry.height === metadata.height &&
    geometry.scaleX === 1 &&
    geometry.scaleY === 1 &&
    (metadata.orientation ?? 1) === 1 &&
    metadata.depth === 'uchar' &&
    metadata.channels === 3 &&
    !metadata.hasAlpha &&
    metadata.isPalette !== true &&
    metadata.space === 'srgb' &&
    (metadata.icc === undefined || isKnownSrgbProfile(metadata.icc)) &&
    bytes.byteLength <= Math.min(KEPT_MAX_BYTES, pixels * 3) &&
    (metadata.format === 'jpeg' ? decodesEverywhere(jpegFrame(bytes)) : colourChunksAgree(pngChunksBeforeData(bytes)))
  );
}

/** Huffman-coded (baseline, extended or progressive) with 8-bit samples. */
function decodesEverywhere(frame: JpegFrame | undefined): boolean {
  return frame !== undefined && frame.sof <= 2 && frame.precision === 8;
}

/** No gAMA or cHRM, or an sRGB chunk, which decoders honour over them (PNG specification, 11.3.3.5). */
function colourChunksAgree(chunks: ReadonlySet<string>): boolean {
  return chunks.has('sRGB') || !(chunks.has('gAMA') || chunks.has('cHRM'));
}

/** sharp's first message line, short enough for a report cell. */
function sharpReason(error: unknown): string {
  const first = describeError(error).message.split('\n')[0]?.trim() ?? '';
  return first.length > 200 ? `${first.slice(0, 197)}...` : first;
}

function megapixels(pixels: number): string {
  return (pixels / 1_000_000).toFixed(1);
}
