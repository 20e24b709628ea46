import sharp, { type Metadata } from 'sharp';
import { describeError } from '../../shared/errors.ts';
import type { PreprocessSettings } from '../../shared/execution-input.ts';
import type { Geometry, ModelInput, RejectionReason } from '../../shared/records.ts';
import { planResize } from './geometry.ts';

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
const WHITE = { r: 255, g: 255, b: 255 };

/**
 * Turns the bytes of one object into the canonical model input: the first frame only, EXIF orientation applied,
 * transparency flattened onto white, 8-bit sRGB with 3 channels, resized per `settings.fit` and encoded per
 * `settings.encoding`. Bad input comes back as an {@link ImageProblem}; nothing here throws for bad input.
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
    return {
      ok: false,
      reason: 'CORRUPT_IMAGE',
      problem: `is a damaged or truncated ${formatName} image that cannot be decoded (${sharpReason(error)})`,
    };
  }

  return {
    ok: true,
    geometry,
    encoded,
    input: {
      image: encoded.toString('base64'),
      format: settings.encoding,
      width: geometry.width,
      height: geometry.height,
    },
  };
}

/** sharp's first message line, short enough for a report cell. */
function sharpReason(error: unknown): string {
  const first = describeError(error).message.split('\n')[0]?.trim() ?? '';
  return first.length > 200 ? `${first.slice(0, 197)}...` : first;
}

function megapixels(pixels: number): string {
  return (pixels / 1_000_000).toFixed(1);
}
