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

/** Fonts of one family per style a document uses: sans, serif, monospace (Pango family name and file). */
export const DOCUMENT_FONTS = {
  sans: { family: 'DejaVu Sans', file: DEJAVU_SANS },
  serif: { family: 'DejaVu Serif', file: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSerif.ttf') },
  mono: { family: 'DejaVu Sans Mono', file: require.resolve('dejavu-fonts-ttf/ttf/DejaVuSansMono.ttf') },
} as const;
export type DocumentFont = keyof typeof DOCUMENT_FONTS;

/**
 * Lines of running text as a page of a letter or report has them: words, numbers, punctuation, several per line.
 * Shared by the dense-page tests and the benchmark.
 */
export const PARAGRAPH_LINES: readonly string[] = [
  'The committee met on 14 March to review the budget',
  'for the coming year. Spending on maintenance rose by',
  '12% while travel costs fell to 3,450 EUR, the lowest',
  'figure since 2019. Members asked for a breakdown of',
  'the new contracts before the next meeting, and the',
  'chair agreed to circulate it by the end of the month.',
  'Questions about the parking permits (see item 7) were',
  'deferred. The secretary will write to every tenant,',
  'explaining the changes and the dates they apply from.',
  'Any objections should reach the office by 30 April;',
  'late replies cannot be considered. Thank you all for',
  'your patience while the lift is being repaired.',
];

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

export interface PageOptions {
  readonly font: DocumentFont;
  /** Type size in points. */
  readonly points: number;
  /** Scan resolution: a point is `dpi / 72` pixels. */
  readonly dpi: number;
  /** JPEG quality the page is saved with, as a scanner would. @default 75 */
  readonly jpegQuality?: number;
  /** Side by side columns of `lines.length / columns` lines each, read column by column. @default 1 */
  readonly columns?: number;
}

/**
 * A scanned-document-like page: black lines of text on white at `points` and `dpi`, single-spaced, one margin of
 * half an inch, saved as JPEG. With `columns`, the lines fill the columns in turn, left column first.
 */
export async function renderPage(lines: readonly string[], options: PageOptions): Promise<TextImage> {
  const font = DOCUMENT_FONTS[options.font];
  const columns = options.columns ?? 1;
  const perColumn = Math.ceil(lines.length / columns);
  const margin = Math.round(options.dpi / 2);
  const blocks: { input: Buffer; width: number; height: number }[] = [];
  for (let column = 0; column < columns; column += 1) {
    const text = lines.slice(column * perColumn, (column + 1) * perColumn);
    const { data, info } = await sharp({
      text: {
        text: text.map(escapeMarkup).join('\n'),
        font: `${font.family} ${options.points}`,
        fontfile: font.file,
        dpi: options.dpi,
        rgba: true,
      },
    })
      .png()
      .toBuffer({ resolveWithObject: true });
    blocks.push({ input: data, width: info.width, height: info.height });
  }
  const gutter = margin;
  const width = 2 * margin + blocks.reduce((sum, block) => sum + block.width, 0) + gutter * (columns - 1);
  const height = 2 * margin + Math.max(...blocks.map((block) => block.height));
  let left = margin;
  const composites = blocks.map((block) => {
    const placed = { input: block.input, left, top: margin };
    left += block.width + gutter;
    return placed;
  });
  const { data, info } = await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .removeAlpha()
    .jpeg({ quality: options.jpegQuality ?? 75 })
    .toBuffer({ resolveWithObject: true });
  return { bytes: data, format: 'jpeg', width: info.width, height: info.height };
}

/** Character error rate: the edit distance from `actual` to `expected` over the length of `expected`. */
export function characterErrorRate(actual: string, expected: string): number {
  let previous = Array.from({ length: actual.length + 1 }, (_, index) => index);
  for (let row = 1; row <= expected.length; row += 1) {
    const current = [row];
    for (let column = 1; column <= actual.length; column += 1) {
      const substitution = (previous[column - 1] as number) + (expected[row - 1] === actual[column - 1] ? 0 : 1);
      current.push(Math.min(substitution, (previous[column] as number) + 1, (current[column - 1] as number) + 1));
    }
    previous = current;
  }
  return (previous[actual.length] as number) / Math.max(expected.length, 1);
}

/** The record the model server receives for an image (what preprocess writes, after InputFilter `$.input`). */
export function toModelInput(image: TextImage): ModelInput {
  return { image: image.bytes.toString('base64'), format: image.format, width: image.width, height: image.height };
}

/** sharp's `text` input is Pango markup. */
function escapeMarkup(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
