import sharp, { type ResizeOptions, type Sharp } from 'sharp';
import type { Geometry } from '../../shared/records.ts';
import { THUMBNAIL_MAX_SIDE, THUMBNAIL_WEBP_QUALITY } from '../../shared/thumbnails.ts';

/** The background transparency is flattened onto, for the model input and the thumbnail alike. */
export const WHITE = { r: 255, g: 255, b: 255 };

/**
 * libwebp's effort (`method`, 0-6) for thumbnails: 2 encodes a 160 px thumbnail in about half the CPU of the default
 * 4 (2.7 against 5.0 ms through sharp, 10-15% of an image's preprocessing) for about 6% more bytes (3.0 against
 * 2.9 KB on a photo); bench:preprocess gives PIL the same.
 */
export const THUMBNAIL_WEBP_EFFORT = 2;
const RESIZE: ResizeOptions = {
  width: THUMBNAIL_MAX_SIDE,
  height: THUMBNAIL_MAX_SIDE,
  fit: 'inside',
  withoutEnlargement: true,
};

/** The model input made from an original (`PreparedImage` of model-input.ts), as far as the thumbnail uses it. */
export interface ModelInputPicture {
  /** The model input's encoded bytes. */
  readonly encoded: Buffer;
  readonly geometry: Geometry;
  /** The thumbnail, when it was made with the model input. */
  readonly thumbnail?: Buffer;
}

/**
 * A small WebP of the original image, EXIF orientation applied (the space the model's boxes are mapped back to),
 * first frame only, aspect ratio kept. Called only for images that already decoded as model input, with the same
 * pixel limit, so it cannot meet an image that decoding refused.
 *
 * Given the model input made from `original` (`prepared`), it starts from that instead of decoding the original a
 * second time, whenever that input holds the whole upright picture, aspect kept, at thumbnail size or more: the
 * model input is already oriented, flattened and sRGB, it is at most a few hundred kilobytes, and a JPEG one shrinks
 * on load (libjpeg's DCT scaling), so this costs a fraction of decoding the original (bench:preprocess measures the
 * stage with it). A `fill` input (stretched) or one smaller than the thumbnail falls back to the original. One made
 * with the model input (`prepared.thumbnail`) is that one.
 */
export async function makeThumbnail(
  original: Uint8Array,
  maxInputPixels: number,
  prepared?: ModelInputPicture,
): Promise<Buffer> {
  if (prepared?.thumbnail !== undefined) return prepared.thumbnail;
  const region = prepared === undefined ? undefined : pictureRegion(prepared);
  return thumbnailOf(
    prepared === undefined || region === undefined
      ? sharp(original, { limitInputPixels: maxInputPixels, pages: 1, page: 0, autoOrient: true }).flatten({
          background: WHITE,
        })
      : fromModelInput(prepared, region),
  );
}

/**
 * The thumbnail of an upright, opaque picture: fit inside the thumbnail's square, never enlarged, as WebP. A JPEG
 * `image` not yet resized or cut shrinks on load (libjpeg's DCT scaling).
 */
export function thumbnailOf(image: Sharp): Promise<Buffer> {
  return image.resize(RESIZE).webp({ quality: THUMBNAIL_WEBP_QUALITY, effort: THUMBNAIL_WEBP_EFFORT }).toBuffer();
}

/** The model input, cut to the picture when it is padded (a cut before the resize stops the JPEG shrink on load). */
function fromModelInput({ encoded, geometry }: ModelInputPicture, region: Region): Sharp {
  const image = sharp(encoded);
  return region.width === geometry.width && region.height === geometry.height ? image : image.extract(region);
}

interface Region {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Where the whole picture sits in the model input, when it is there with its aspect kept and at no less than the
 * thumbnail's size (or at its own size); undefined otherwise.
 */
function pictureRegion({ geometry }: ModelInputPicture): Region | undefined {
  const width = Math.round(geometry.originalWidth * geometry.scaleX);
  const height = Math.round(geometry.originalHeight * geometry.scaleY);
  const aspectKept = Math.abs(width / height - geometry.originalWidth / geometry.originalHeight) * height <= 1;
  const atOwnSize = geometry.scaleX === 1 && geometry.scaleY === 1;
  const thumbnailSide = Math.min(THUMBNAIL_MAX_SIDE, Math.max(geometry.originalWidth, geometry.originalHeight));
  const largeEnough = Math.max(width, height) >= thumbnailSide;
  if (!aspectKept || !(atOwnSize || largeEnough)) return undefined;
  return { left: geometry.offsetX, top: geometry.offsetY, width, height };
}
