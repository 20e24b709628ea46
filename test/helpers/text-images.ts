/**
 * Images of text for the OCR tests, rendered with sharp (Pango) from the DejaVu Sans file the `dejavu-fonts-ttf`
 * dev dependency ships, never from the system's fonts: the same pixels on every machine.
 */
import { createRequire } from 'node:module';
import sharp from 'sharp';
import type { ModelInput } from '../../shared/records.ts';

const require = createRequire(import.meta.url);

/** DejaVu Sans Book, from the npm package. */
export const DEJAVU_SANS = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');

/**
 * Single lines of words, numbers and punctuation, as they appear on receipts, signs and labels. Shared by the
 * OCR tests and the benchmark.
 */
export const SAMPLE_LINES: readonly string[] = [
  'Invoice 2024-117',
  'Total: 1,284.50 EUR',
  'Nightshift batch 42',
  'The quick brown fox',
  'jumps over the lazy dog',
  'Order #55813 shipped',
  'Room 314, Building B',
  'Call 555-0199 today',
  'Expires 2026-03-31',
  'Hello World',
  'Batch transform on SageMaker',
  'Receipt number 998877',
  'Speed limit 60 km/h',
  'Platform 9',
  'Open 08:00 - 18:30',
  'Gate B17',
  'Serial XK-4471-Q',
  'Temperature 21.5 C',
  'Lot 7 of 12',
  'Version 3.14.159',
  'Apples 3 x 0.99',
  'Station Road 12a',
  'Meeting at noon',
  'Pages 120-135',
];

export interface TextImageOptions {
  /** Font size in pixels (Pango points at 72 dpi). @default 40 */
  readonly fontSize?: number;
  /** White space around the text, in pixels. @default 24 */
  readonly padding?: number;
  /** @default 'png' */
  readonly format?: 'png' | 'jpeg';
}

export interface TextImage {
  readonly bytes: Buffer;
  readonly format: 'png' | 'jpeg';
  readonly width: number;
  readonly height: number;
}

/** Black text on white, one image line per entry of `lines`, left-aligned. */
export async function renderText(lines: readonly string[], options: TextImageOptions = {}): Promise<TextImage> {
  const fontSize = options.fontSize ?? 40;
  const padding = options.padding ?? 24;
  const format = options.format ?? 'png';
  const glyphs = await sharp({
    text: {
      text: lines.map(escapeMarkup).join('\n'),
      font: `DejaVu Sans ${fontSize}`,
      fontfile: DEJAVU_SANS,
      rgba: true,
      spacing: Math.round(fontSize * 0.6),
    },
  })
    .png()
    .toBuffer();
  const image = sharp(glyphs)
    .flatten({ background: '#ffffff' })
    .extend({ top: padding, bottom: padding, left: padding, right: padding, background: '#ffffff' })
    .removeAlpha();
  const { data, info } = await (format === 'png' ? image.png() : image.jpeg({ quality: 92 })).toBuffer({
    resolveWithObject: true,
  });
  return { bytes: data, format, width: info.width, height: info.height };
}

/** The record the model server receives for an image (what preprocess writes, after InputFilter `$.input`). */
export function toModelInput(image: TextImage): ModelInput {
  return { image: image.bytes.toString('base64'), format: image.format, width: image.width, height: image.height };
}

/** sharp's `text` input is Pango markup. */
function escapeMarkup(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
