import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { crc32, deflateSync, constants as zlibConstants } from 'node:zlib';
import sharp, { type OverlayOptions } from 'sharp';

/** One file of the sample dataset, with the text it shows (absent for the deliberately broken ones). */
export interface SampleFile {
  readonly name: string;
  readonly body: Uint8Array;
  readonly expected?: string;
  /** What the pipeline should make of it (for the summary and tests). */
  readonly kind: 'sign' | 'receipt' | 'plate' | 'broken';
}

const require = createRequire(import.meta.url);
/** The fonts come from an npm package (dejavu-fonts-ttf), never from the system. */
const FONT_DIR = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const FONTS = {
  sansBold: { file: join(FONT_DIR, 'DejaVuSans-Bold.ttf'), family: 'DejaVu Sans Bold' },
  sans: { file: join(FONT_DIR, 'DejaVuSans.ttf'), family: 'DejaVu Sans' },
  mono: { file: join(FONT_DIR, 'DejaVuSansMono.ttf'), family: 'DejaVu Sans Mono' },
  monoBold: { file: join(FONT_DIR, 'DejaVuSansMono-Bold.ttf'), family: 'DejaVu Sans Mono Bold' },
} as const;

const SIGNS = [
  'STOP',
  'EXIT 12',
  'NO PARKING',
  'ONE WAY',
  'SCHOOL ZONE',
  'BUS ONLY',
  'KEEP LEFT',
  'SLOW DOWN',
  'CITY CENTRE',
  'AIRPORT 8 KM',
  'PLATFORM 3',
  'TOLL ROAD',
  'DEAD END',
  'YIELD',
  'MAIN STREET',
  'HOSPITAL',
  'PARKING 24H',
  'CAUTION',
  'NORTH 95',
  'ROAD WORKS',
];
const RECEIPT_LINES = [
  'TOTAL 23.50',
  'CASH 40.00',
  'CHANGE 16.50',
  'VAT 4.12',
  'COFFEE 3.20',
  'BREAD 2.15',
  'MILK 1.09',
  'APPLES 4.80',
  'SUBTOTAL 19.38',
  'CARD 57.99',
  'TIP 5.00',
  'ITEMS 7',
  'RICE 6.45',
  'TEA 2.60',
  'SOAP 3.75',
];
const SIGN_COLOURS = [
  ['#c0392b', '#ffffff'],
  ['#1e6b3a', '#ffffff'],
  ['#1f4e96', '#ffffff'],
  ['#f1c40f', '#111111'],
  ['#ffffff', '#222222'],
] as const;

/** A small deterministic PRNG (mulberry32), so the sample is the same on every machine. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function escapeMarkup(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

async function renderText(options: {
  text: string;
  font: { file: string; family: string };
  dpi: number;
  foreground: string;
  background: string;
  padX: number;
  padY: number;
  border?: string;
  format: 'png' | 'jpeg';
}): Promise<Uint8Array> {
  const glyphs = await sharp({
    text: {
      text: `<span foreground="${options.foreground}">${escapeMarkup(options.text)}</span>`,
      font: options.font.family,
      fontfile: options.font.file,
      dpi: options.dpi,
      rgba: true,
    },
  })
    .png()
    .toBuffer({ resolveWithObject: true });
  const border = options.border ? 6 : 0;
  const width = glyphs.info.width + 2 * options.padX + 2 * border;
  const height = glyphs.info.height + 2 * options.padY + 2 * border;
  let image = sharp({ create: { width, height, channels: 3, background: options.border ?? options.background } });
  const layers: OverlayOptions[] = [];
  if (options.border) {
    const inner = await sharp({
      create: { width: width - 2 * border, height: height - 2 * border, channels: 3, background: options.background },
    })
      .png()
      .toBuffer();
    layers.push({ input: inner, left: border, top: border });
  }
  layers.push({ input: glyphs.data, left: options.padX + border, top: options.padY + border });
  image = image.composite(layers);
  const flat = image.flatten({ background: options.background });
  return options.format === 'jpeg' ? flat.jpeg({ quality: 92 }).toBuffer() : flat.png().toBuffer();
}

/**
 * A valid PNG declaring `width` x `height` 1-bit grey pixels, all black: a decompression bomb that stays small
 * (20,000 x 20,000 is about 50 KB and 400 megapixels) and takes milliseconds to make, because it is written by hand.
 */
export function decompressionBombPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // colour type: greyscale
  // Each row is a filter-type byte (0 = none) and the packed bits, all zero.
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { strategy: zlibConstants.Z_RLE })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The demo's dataset: 50 images of text rendered from DejaVu fonts (street signs, receipt lines, licence plates)
 * with their text as ground truth, and 5 broken files (empty, truncated, not an image, not an image type, a
 * decompression bomb) that must end as rejections.
 */
export async function generateSampleDataset(seed = 7): Promise<SampleFile[]> {
  const random = prng(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)] as T;
  const files: SampleFile[] = [];
  for (const [i, text] of SIGNS.entries()) {
    const [background, foreground] = pick(SIGN_COLOURS);
    files.push({
      name: `signs/sign-${String(i).padStart(2, '0')}.png`,
      kind: 'sign',
      expected: text,
      body: await renderText({
        text,
        font: FONTS.sansBold,
        dpi: 220 + Math.floor(random() * 120),
        foreground,
        background,
        padX: 30 + Math.floor(random() * 40),
        padY: 20 + Math.floor(random() * 20),
        format: 'png',
      }),
    });
  }
  for (const [i, text] of RECEIPT_LINES.entries()) {
    files.push({
      name: `receipts/receipt-${String(i).padStart(2, '0')}.jpg`,
      kind: 'receipt',
      expected: text,
      body: await renderText({
        text,
        font: pick([FONTS.mono, FONTS.sans]),
        dpi: 200 + Math.floor(random() * 80),
        foreground: '#1a1a1a',
        background: '#f7f4ec',
        padX: 24,
        padY: 18,
        format: 'jpeg',
      }),
    });
  }
  for (let i = 0; i < 15; i++) {
    const letters = 'ABCDEFGHJKLMNPRSTUVWXYZ';
    const text = `${pick([...letters])}${pick([...letters])} ${Math.floor(1000 + random() * 9000)}`;
    files.push({
      name: `plates/plate-${String(i).padStart(2, '0')}.jpg`,
      kind: 'plate',
      expected: text,
      body: await renderText({
        text,
        font: FONTS.monoBold,
        dpi: 260,
        foreground: '#111111',
        background: i % 2 ? '#f5d000' : '#ffffff',
        border: '#111111',
        padX: 28,
        padY: 14,
        format: 'jpeg',
      }),
    });
  }
  const truncated = (files[20]?.body ?? new Uint8Array()).slice(0, 600);
  files.push(
    { name: 'broken/empty.jpg', kind: 'broken', body: new Uint8Array() },
    { name: 'broken/truncated.jpg', kind: 'broken', body: truncated },
    {
      name: 'broken/meeting-notes.jpg',
      kind: 'broken',
      body: new TextEncoder().encode('Meeting notes: this is text, not a photo.\n'),
    },
    { name: 'broken/readme.txt', kind: 'broken', body: new TextEncoder().encode('not an image type\n') },
    { name: 'broken/decompression-bomb.png', kind: 'broken', body: decompressionBombPng(20_000, 20_000) },
  );
  return files;
}
