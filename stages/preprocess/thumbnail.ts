import sharp, { type ResizeOptions, type Sharp } from 'sharp';
import { THUMBNAIL_MAX_SIDE, THUMBNAIL_WEBP_QUALITY } from '../../shared/thumbnails.ts';
import type { PreparedImage } from './model-input.ts';

const WHITE = { r: 255, g: 255, b: 255 };

/**
 * A small WebP of the original image, EXIF orientation applied (the space the model's boxes are mapped back to),
 * first frame only, aspect ratio kept. Called only for images that already decoded as model input, with the same
 * pixel limit, so it cannot meet an image that decoding refused.
 *
 * Given the model input made from `original` (`prepared`), it starts from that instead of decoding the original a
 * second time, whenever that input holds the whole upright picture, aspect kept, at thumbnail size or more: the
 * model input is already oriented, flattened and sRGB, it is at most a few hundred kilobytes, and a JPEG one shrinks
 * on load (libjpeg's DCT scaling), so this costs a fraction of decoding the original (bench:preprocess measures the
 * stage with it). A `fill` input (stretched) or one smaller than the thumbnail falls back to the original.
 */
export async function makeThumbnail(
  original: Uint8Array,
  maxInputPixels: number,
  prepared?: PreparedImage,
): Promise<Buffer> {
  const resize: ResizeOptions = {
    width: THUMBNAIL_MAX_SIDE,
    height: THUMBNAIL_MAX_SIDE,
    fit: 'inside',
    withoutEnlargement: true,
  };
  const region = prepared === undefined ? undefined : pictureRegion(prepared);
  const image =
    prepared === undefined || region === undefined
      ? sharp(original, { limitInputPixels: maxInputPixels, pages: 1, page: 0, autoOrient: true })
          .flatten({ background: WHITE })
          .resize(resize)
      : fromModelInput(prepared, region).resize(resize);
  return image.webp({ quality: THUMBNAIL_WEBP_QUALITY }).toBuffer();
}

/** The model input, cut to the picture when it is padded (a cut before the resize stops the JPEG shrink on load). */
function fromModelInput({ encoded, geometry }: PreparedImage, region: Region): Sharp {
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
function pictureRegion({ geometry }: PreparedImage): Region | undefined {
  const width = Math.round(geometry.originalWidth * geometry.scaleX);
  const height = Math.round(geometry.originalHeight * geometry.scaleY);
  const aspectKept = Math.abs(width / height - geometry.originalWidth / geometry.originalHeight) * height <= 1;
  const atOwnSize = geometry.scaleX === 1 && geometry.scaleY === 1;
  const thumbnailSide = Math.min(THUMBNAIL_MAX_SIDE, Math.max(geometry.originalWidth, geometry.originalHeight));
  const largeEnough = Math.max(width, height) >= thumbnailSide;
  if (!aspectKept || !(atOwnSize || largeEnough)) return undefined;
  return { left: geometry.offsetX, top: geometry.offsetY, width, height };
}
