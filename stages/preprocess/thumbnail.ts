import sharp from 'sharp';
import { THUMBNAIL_MAX_SIDE, THUMBNAIL_WEBP_QUALITY } from '../../shared/thumbnails.ts';

/**
 * A small WebP of the original image, EXIF orientation applied (the space the model's boxes are mapped back to),
 * first frame only, aspect ratio kept. Called only for images that already decoded as model input, with the same
 * pixel limit, so it cannot meet an image that decoding refused.
 */
export async function makeThumbnail(bytes: Uint8Array, maxInputPixels: number): Promise<Buffer> {
  return sharp(bytes, { limitInputPixels: maxInputPixels, pages: 1, page: 0, autoOrient: true })
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .resize({ width: THUMBNAIL_MAX_SIDE, height: THUMBNAIL_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
    .webp({ quality: THUMBNAIL_WEBP_QUALITY })
    .toBuffer();
}
