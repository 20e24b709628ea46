/**
 * Test images made in memory with sharp (and, for the decompression bomb, by hand): no files, no fonts.
 * {@link badInputSet} is the shared set of awkward inputs every stage's tests can upload.
 */
import sharp from 'sharp';
import { decompressionBombPng } from '../../pipeline/local/sample-dataset.ts';
import { type PreprocessSettings, PreprocessSettingsSchema } from '../../shared/execution-input.ts';
import type { RejectionReason } from '../../shared/records.ts';

/** What preprocess should make of a test image under {@link testPreprocessSettings}. */
export type ExpectedOutcome =
  | {
      readonly outcome: 'accepted';
      /** The upright size (EXIF orientation applied, first frame), i.e. the geometry's original size. */
      readonly width: number;
      readonly height: number;
    }
  | { readonly outcome: 'rejected'; readonly reason: RejectionReason };

export interface TestImage {
  /** Says what is special about it; reads well in a test name. */
  readonly name: string;
  /** Object key, relative to wherever a test uploads the set. */
  readonly key: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly expected: ExpectedOutcome;
}

export interface Rgb {
  readonly r: number;
  readonly g: number;
  readonly b: number;
}

export const RED: Rgb = { r: 255, g: 0, b: 0 };
export const BLUE: Rgb = { r: 0, g: 0, b: 255 };
export const WHITE: Rgb = { r: 255, g: 255, b: 255 };

/** `maxObjectBytes` of {@link testPreprocessSettings}: small, so an over-limit object stays cheap to make. */
export const TEST_MAX_OBJECT_BYTES = 1024 * 1024;

/** Preprocess settings the expectations of {@link badInputSet} hold under (a small canvas keeps tests fast). */
export function testPreprocessSettings(overrides: Partial<PreprocessSettings> = {}): PreprocessSettings {
  return PreprocessSettingsSchema.parse({
    width: 256,
    height: 256,
    maxObjectBytes: TEST_MAX_OBJECT_BYTES,
    ...overrides,
  });
}

/** A plain scene: a background with a dark block in its upper left quarter. Plain RGB, no alpha. */
export async function sceneImage(
  width: number,
  height: number,
  format: 'jpeg' | 'png',
  background: Rgb = { r: 70, g: 130, b: 180 },
): Promise<Buffer> {
  const block = { width: Math.max(1, Math.floor(width / 4)), height: Math.max(1, Math.floor(height / 4)) };
  const composed = await sharp({ create: { width, height, channels: 3, background } })
    .composite([
      {
        input: { create: { ...block, channels: 3, background: { r: 20, g: 20, b: 20 } } },
        left: Math.floor(width / 8),
        top: Math.floor(height / 8),
      },
    ])
    .raw()
    .toBuffer({ resolveWithObject: true });
  // Compositing adds an alpha channel; the scene drops it again.
  const image = sharp(composed.data, { raw: { width, height, channels: composed.info.channels } }).removeAlpha();
  return format === 'jpeg' ? image.jpeg({ quality: 90 }).toBuffer() : image.png().toBuffer();
}

/** A white PNG with one red square, for checking where pixels land after a resize. */
export function markedImage(
  width: number,
  height: number,
  square: { left: number; top: number; size: number },
): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: WHITE } })
    .composite([
      {
        input: { create: { width: square.size, height: square.size, channels: 3, background: RED } },
        left: square.left,
        top: square.top,
      },
    ])
    .png()
    .toBuffer();
}

/** A JPEG cut off half way: its header reads fine, its pixel data ends early. */
export async function truncatedJpeg(): Promise<Buffer> {
  const whole = await sharp({
    create: {
      width: 320,
      height: 240,
      channels: 3,
      background: WHITE,
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg()
    .toBuffer();
  return whole.subarray(0, Math.floor(whole.length / 2));
}

/** Stored `stored.width` x `stored.height` with EXIF orientation 6 (rotate 90 degrees clockwise to view). */
export function exifRotatedJpeg(stored: { width: number; height: number }): Promise<Buffer> {
  // Left half red, right half blue as stored: upright, red is the top half and blue the bottom half.
  return sharp({ create: { width: stored.width, height: stored.height, channels: 3, background: BLUE } })
    .composite([
      {
        input: { create: { width: stored.width / 2, height: stored.height, channels: 3, background: RED } },
        left: 0,
        top: 0,
      },
    ])
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** A two-frame animated GIF: the first frame red, the second blue. */
export async function animatedGif(width: number, height: number): Promise<Buffer> {
  const frames = await Promise.all(
    [RED, BLUE].map((background) =>
      sharp({ create: { width, height, channels: 3, background } })
        .png()
        .toBuffer(),
    ),
  );
  return sharp(frames, { join: { animated: true } })
    .gif({ delay: [100, 100] })
    .toBuffer();
}

/** A PNG that is transparent but for a blue square in the middle. */
export function transparentPng(size: number): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0 } } })
    .composite([
      {
        input: { create: { width: size / 2, height: size / 2, channels: 4, background: { ...BLUE, alpha: 1 } } },
        left: size / 4,
        top: size / 4,
      },
    ])
    .png()
    .toBuffer();
}

/** A 1-bit PNG decompression bomb of `width` x `height` pixels (the one the demo's sample dataset ships). */
export const hugePng = decompressionBombPng;

/** A valid PNG of incompressible pixels, a little over `minBytes` long. */
export function noisePng(minBytes: number): Promise<Buffer> {
  const side = Math.ceil(Math.sqrt(minBytes / 3)) + 16;
  const pixels = Buffer.alloc(side * side * 3);
  // xorshift32: deterministic noise that PNG's deflate cannot shrink.
  let state = 0x9e3779b9;
  for (let i = 0; i < pixels.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    pixels[i] = state & 0xff;
  }
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
}

const accepted = (width: number, height: number): ExpectedOutcome => ({ outcome: 'accepted', width, height });
const rejected = (reason: RejectionReason): ExpectedOutcome => ({ outcome: 'rejected', reason });

/** A {@link TestImage} before its body is made: static, so test tables (`it.each`) can name the cases. */
export interface TestImageSpec extends Omit<TestImage, 'body'> {
  make(): Promise<Uint8Array> | Uint8Array;
}

/**
 * One object of each kind the pipeline must cope with, and what preprocess should make of it under
 * {@link testPreprocessSettings}. Keys sit under `images/` and are unique.
 */
export const BAD_INPUT_SET: readonly TestImageSpec[] = [
  {
    name: 'a clean JPEG',
    key: 'images/clean.jpg',
    contentType: 'image/jpeg',
    expected: accepted(640, 480),
    make: () => sceneImage(640, 480, 'jpeg'),
  },
  {
    name: 'a clean PNG',
    key: 'images/clean.png',
    contentType: 'image/png',
    expected: accepted(300, 200),
    make: () => sceneImage(300, 200, 'png'),
  },
  {
    name: 'a greyscale PNG',
    key: 'images/grey.png',
    contentType: 'image/png',
    expected: accepted(120, 90),
    make: () =>
      sharp({ create: { width: 120, height: 90, channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .toColourspace('b-w')
        .png()
        .toBuffer(),
  },
  {
    name: 'a CMYK JPEG',
    key: 'images/cmyk.jpg',
    contentType: 'image/jpeg',
    expected: accepted(200, 100),
    make: async () =>
      sharp(await sceneImage(200, 100, 'jpeg'))
        .toColourspace('cmyk')
        .jpeg()
        .toBuffer(),
  },
  {
    name: 'a 16-bit PNG',
    key: 'images/16-bit.png',
    contentType: 'image/png',
    expected: accepted(160, 120),
    make: async () =>
      sharp(await sceneImage(160, 120, 'png'))
        .toColourspace('rgb16')
        .png()
        .toBuffer(),
  },
  {
    name: 'a PNG with transparency',
    key: 'images/transparent.png',
    contentType: 'image/png',
    expected: accepted(100, 100),
    make: () => transparentPng(100),
  },
  {
    name: 'an animated GIF',
    key: 'images/animated.gif',
    contentType: 'image/gif',
    expected: accepted(64, 48),
    make: () => animatedGif(64, 48),
  },
  {
    name: 'a sideways JPEG with EXIF orientation 6',
    key: 'images/exif-rotated.jpg',
    contentType: 'image/jpeg',
    expected: accepted(160, 320),
    make: () => exifRotatedJpeg({ width: 320, height: 160 }),
  },
  {
    name: 'a zero-byte file',
    key: 'images/empty.png',
    contentType: 'image/png',
    expected: rejected('EMPTY_OBJECT'),
    make: () => new Uint8Array(),
  },
  {
    name: 'a truncated JPEG',
    key: 'images/truncated.jpg',
    contentType: 'image/jpeg',
    expected: rejected('CORRUPT_IMAGE'),
    make: truncatedJpeg,
  },
  {
    name: 'a text file named .jpg',
    key: 'images/not-an-image.jpg',
    contentType: 'image/jpeg',
    expected: rejected('NOT_AN_IMAGE'),
    make: () => Buffer.from('These are meeting notes, not a photo.\n'),
  },
  {
    name: 'an SVG named .png',
    key: 'images/vector.png',
    contentType: 'image/png',
    expected: rejected('UNSUPPORTED_TYPE'),
    make: () =>
      Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="20" height="20"/></svg>',
      ),
  },
  {
    name: 'a 20,000 x 20,000 PNG (decompression bomb)',
    key: 'images/decompression-bomb.png',
    contentType: 'image/png',
    expected: rejected('TOO_MANY_PIXELS'),
    make: () => hugePng(20_000, 20_000),
  },
  {
    name: 'a PNG over the size limit',
    key: 'images/too-large.png',
    contentType: 'image/png',
    expected: rejected('TOO_LARGE'),
    make: () => noisePng(TEST_MAX_OBJECT_BYTES + 1),
  },
];

/** {@link BAD_INPUT_SET} with the bodies made (about a tenth of a second). */
export function badInputSet(): Promise<TestImage[]> {
  return Promise.all(BAD_INPUT_SET.map(async ({ make, ...spec }) => ({ ...spec, body: await make() })));
}

export type AcceptedSpec = TestImageSpec & { readonly expected: Extract<ExpectedOutcome, { outcome: 'accepted' }> };
export type RejectedSpec = TestImageSpec & { readonly expected: Extract<ExpectedOutcome, { outcome: 'rejected' }> };

/** The part of {@link BAD_INPUT_SET} preprocess turns into model input. */
export const ACCEPTED_INPUTS: readonly AcceptedSpec[] = BAD_INPUT_SET.filter(
  (spec): spec is AcceptedSpec => spec.expected.outcome === 'accepted',
);
/** The part of {@link BAD_INPUT_SET} preprocess rejects. */
export const REJECTED_INPUTS: readonly RejectedSpec[] = BAD_INPUT_SET.filter(
  (spec): spec is RejectedSpec => spec.expected.outcome === 'rejected',
);
