import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { jpegFrame } from '../../stages/preprocess/jpeg-frame.ts';
import { pngChunksBeforeData } from '../../stages/preprocess/png-chunks.ts';
import { arithmeticJpeg, GAMMA_CHUNK, jpegPaddedTo, SRGB_CHUNK, withPngChunks } from '../helpers/image-encodings.ts';

const scene = () => sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 70, g: 130, b: 180 } } });

/** The offset of the first SOFn marker byte pair in a JPEG that sharp wrote (no fill bytes, no DAC). */
function sofOffset(jpeg: Buffer): number {
  for (let at = 2; at + 1 < jpeg.length; at += 2 + jpeg.readUInt16BE(at + 2)) {
    const marker = jpeg[at + 1] as number;
    if (marker >= 0xc0 && marker <= 0xc2) return at;
  }
  throw new Error('no frame header');
}

describe('jpegFrame', () => {
  it('names the Huffman processes sharp writes: baseline (SOF0) and progressive (SOF2), 8-bit', async () => {
    const baseline = await scene().jpeg().toBuffer();
    const progressive = await scene().jpeg({ progressive: true }).toBuffer();

    expect(jpegFrame(baseline)).toEqual({ sof: 0, precision: 8 });
    expect(jpegFrame(progressive)).toEqual({ sof: 2, precision: 8 });
  });

  it('names an arithmetic-coded JPEG made by jpegtran -arithmetic (SOF9), past its DAC segment', () => {
    expect(jpegFrame(arithmeticJpeg())).toEqual({ sof: 9, precision: 8 });
  });

  it('reads lossless (SOF3) and 12-bit extended (SOF1) frame headers, hand-set in a baseline JPEG', async () => {
    // No tool here writes these (libjpeg-turbo 2.1 has no lossless or 12-bit cjpeg): only the header is changed.
    const jpeg = await scene().jpeg().toBuffer();
    const at = sofOffset(jpeg);
    const lossless = Buffer.from(jpeg);
    lossless[at + 1] = 0xc3;
    const twelveBit = Buffer.from(jpeg);
    twelveBit[at + 1] = 0xc1;
    twelveBit[at + 4] = 12;

    expect(jpegFrame(lossless)).toEqual({ sof: 3, precision: 8 });
    expect(jpegFrame(twelveBit)).toEqual({ sof: 1, precision: 12 });
  });

  it('skips long segments (65 KB comments) before the frame header', async () => {
    const jpeg = await scene().jpeg().toBuffer();

    expect(jpegFrame(jpegPaddedTo(jpeg, jpeg.length + 150_000))).toEqual({ sof: 0, precision: 8 });
  });

  it('answers undefined, without throwing, for bytes that are not a JPEG or end before the frame header', async () => {
    const jpeg = await scene().jpeg().toBuffer();

    expect(jpegFrame(await scene().png().toBuffer())).toBeUndefined();
    expect(jpegFrame(jpeg.subarray(0, sofOffset(jpeg) + 3))).toBeUndefined();
    expect(jpegFrame(Buffer.from([0xff, 0xd8]))).toBeUndefined();
  });
});

describe('pngChunksBeforeData', () => {
  it('lists the colour chunks a PNG carries before its image data', async () => {
    const png = await scene().png().toBuffer();

    const chunks = pngChunksBeforeData(withPngChunks(png, [GAMMA_CHUNK, SRGB_CHUNK]));

    expect(chunks.has('IHDR')).toBe(true);
    expect(chunks.has('gAMA')).toBe(true);
    expect(chunks.has('sRGB')).toBe(true);
    expect(pngChunksBeforeData(png).has('gAMA')).toBe(false);
    expect(pngChunksBeforeData(await scene().jpeg().toBuffer()).size).toBe(0);
  });
});
