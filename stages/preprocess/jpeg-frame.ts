/**
 * The frame header of a JPEG: which coding process its start-of-frame marker names, and its sample precision.
 * sharp's metadata says neither, and libjpeg-turbo decodes arithmetic-coded JPEGs that many other decoders refuse.
 */
export interface JpegFrame {
  /** n of the SOFn marker (0xFFC0 + n): 0 baseline, 1 extended and 2 progressive Huffman; 3 lossless; 9-11 arithmetic. */
  readonly sof: number;
  /** Bits per sample: 8 for the JPEGs everything decodes, 12 (or up to 16, lossless) otherwise. */
  readonly precision: number;
}

const SOI = 0xd8;
const SOS = 0xda;
/** Among 0xC0-0xCF these are no frame headers: DHT (Huffman tables), JPG (reserved) and DAC (arithmetic tables). */
const NOT_FRAMES = new Set([0xc4, 0xc8, 0xcc]);

/**
 * Reads the markers from the start of the file to its first frame header (ITU-T T.81 annex B: each segment is
 * 0xFF, a marker byte and, except for SOI, EOI, TEM and RST0-7, a two-byte length that counts itself). Undefined
 * when the bytes are not a JPEG or end, or reach the scan, before a frame header.
 */
export function jpegFrame(bytes: Uint8Array): JpegFrame | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== SOI) return undefined;
  let at = 2;
  while (at + 1 < bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1] as number;
    // A marker may be preceded by any number of 0xFF fill bytes.
    if (marker === 0xff) {
      at += 1;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= SOI)) {
      at += 2;
      continue;
    }
    if (marker === SOS || marker === 0xd9 || at + 3 >= bytes.length) return undefined;
    const length = ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
    if (marker >= 0xc0 && marker <= 0xcf && !NOT_FRAMES.has(marker)) {
      const precision = bytes[at + 4];
      return precision === undefined ? undefined : { sof: marker - 0xc0, precision };
    }
    at += 2 + length;
  }
  return undefined;
}
