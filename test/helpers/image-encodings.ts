import { crc32 } from 'node:zlib';
import sharp from 'sharp';

/**
 * Images that sharp's metadata calls plain 8-bit sRGB but whose encoding other decoders read differently (or not
 * at all), for the rule that decides which originals travel as their own bytes.
 */

/**
 * A 64 x 48 arithmetic-coded JPEG (SOF9): the scene of `sceneImage(64, 48, 'jpeg')` transcoded by libjpeg-turbo
 * 2.1.5's `jpegtran -arithmetic -copy none` (Debian's libjpeg-turbo-progs). Stored, because that tool is no
 * dependency of the project; sharp decodes it.
 */
export function arithmeticJpeg(): Buffer {
  return Buffer.from(ARITHMETIC_JPEG, 'base64');
}

const ARITHMETIC_JPEG =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/yQARCAAwAEADASIAAhEBAxEB/8wACgAQEAUBEBEF/9oADAMBAAIRAxEAPwD/AEul7eBOIhdjvmVA2AfYt/e8pFHj95bT/KDg+WACeTi/2WhJjLCLUayR9o4FYBEudSWkOuUzL0V0LJGP3TfuYras4wnHPJIpRML3rLXu/wAESghcYN5g+h/iOeBwdo8Njy7U3SXAJO9QL/nds/pcqdcdhHwh1Z2aidIe4OxDBIq2/9k=';

/** Inserts JPEG segments (marker and data; the length is added) after SOI and the APP0 (JFIF) segment, if any. */
export function withJpegSegments(jpeg: Buffer, segments: readonly { marker: number; data: Buffer }[]): Buffer {
  let at = 2;
  if (jpeg[2] === 0xff && jpeg[3] === 0xe0) at = 4 + jpeg.readUInt16BE(4);
  const encoded = segments.map(({ marker, data }) => {
    const header = Buffer.from([0xff, marker, 0, 0]);
    header.writeUInt16BE(data.length + 2, 2);
    return Buffer.concat([header, data]);
  });
  return Buffer.concat([jpeg.subarray(0, at), ...encoded, jpeg.subarray(at)]);
}

/** The JPEG with comment (COM) segments added so that it is exactly `size` bytes. */
export function jpegPaddedTo(jpeg: Buffer, size: number): Buffer {
  const COM = 0xfe;
  const MAX_SEGMENT = 4 + 65_533;
  const segments: { marker: number; data: Buffer }[] = [];
  let missing = size - jpeg.length;
  if (missing !== 0 && missing < 4) throw new Error(`cannot pad ${jpeg.length} bytes to ${size}`);
  while (missing > 0) {
    let take = Math.min(MAX_SEGMENT, missing);
    // Leave at least one whole segment (4 bytes of marker and length) for what remains.
    if (missing - take > 0 && missing - take < 4) take -= 4;
    segments.push({ marker: COM, data: Buffer.alloc(take - 4, 0x20) });
    missing -= take;
  }
  return withJpegSegments(jpeg, segments);
}

/**
 * sharp's own sRGB profile (ICC v4) with its description replaced: the colours stay sRGB's, so only the rule that
 * reads the description tells it apart.
 */
export async function iccProfileDescribedAs(description: string): Promise<Buffer> {
  const { icc } = await sharp(
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .withIccProfile('srgb')
      .jpeg()
      .toBuffer(),
  ).metadata();
  if (icc === undefined) throw new Error('sharp embedded no sRGB profile');
  const text = Buffer.from(description, 'utf16le').swap16();
  // multiLocalizedUnicodeType with one record (en-US), its string right after the record (ICC.1:2010 10.13).
  const mluc = Buffer.alloc(28 + text.length);
  mluc.write('mluc', 0, 'latin1');
  mluc.writeUInt32BE(1, 8);
  mluc.writeUInt32BE(12, 12);
  mluc.write('enUS', 16, 'latin1');
  mluc.writeUInt32BE(text.length, 20);
  mluc.writeUInt32BE(28, 24);
  text.copy(mluc, 28);
  const start = Math.ceil(icc.length / 4) * 4;
  const profile = Buffer.concat([icc, Buffer.alloc(start - icc.length), mluc]);
  const tags = profile.readUInt32BE(128);
  for (let tag = 0; tag < tags; tag++) {
    const entry = 132 + tag * 12;
    if (profile.toString('latin1', entry, entry + 4) !== 'desc') continue;
    profile.writeUInt32BE(start, entry + 4);
    profile.writeUInt32BE(mluc.length, entry + 8);
  }
  profile.writeUInt32BE(profile.length, 0);
  // The profile ID (an MD5 of the profile) no longer holds; zero says it was not computed.
  profile.fill(0, 84, 100);
  return profile;
}

/** The JPEG with an ICC profile embedded (one APP2 ICC_PROFILE segment). */
export function jpegWithIccProfile(jpeg: Buffer, profile: Buffer): Buffer {
  const header = Buffer.from('ICC_PROFILE\0\x01\x01', 'latin1');
  return withJpegSegments(jpeg, [{ marker: 0xe2, data: Buffer.concat([header, profile]) }]);
}

/** The PNG with chunks (type and data; length and CRC are added) inserted right after IHDR. */
export function withPngChunks(png: Buffer, chunks: readonly { type: string; data: Buffer }[]): Buffer {
  const afterHeader = 8 + 12 + png.readUInt32BE(8);
  const encoded = chunks.map(({ type, data }) => {
    const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const chunk = Buffer.alloc(12 + data.length);
    chunk.writeUInt32BE(data.length, 0);
    typeAndData.copy(chunk, 4);
    chunk.writeUInt32BE(crc32(typeAndData), 8 + data.length);
    return chunk;
  });
  return Buffer.concat([png.subarray(0, afterHeader), ...encoded, png.subarray(afterHeader)]);
}

/** A gAMA chunk of gamma 1/2.2 (stored times 100,000), which colour-managing decoders apply when no sRGB says otherwise. */
export const GAMMA_CHUNK = { type: 'gAMA', data: Buffer.from([0x00, 0x00, 0xb1, 0x8f]) } as const;

/** An sRGB chunk, rendering intent perceptual. */
export const SRGB_CHUNK = { type: 'sRGB', data: Buffer.from([0]) } as const;
