const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The types of the chunks a PNG carries before its image data ('IHDR', 'gAMA', 'sRGB', ...): where the colour
 * chunks (gAMA, cHRM, sRGB, iCCP) must be (PNG specification, 5.6 chunk ordering). sharp's metadata does not say
 * whether gAMA or cHRM is there. Empty when the bytes are not a PNG; stops at a chunk that runs past the end.
 */
export function pngChunksBeforeData(bytes: Uint8Array): Set<string> {
  const types = new Set<string>();
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((byte, i) => bytes[i] !== byte)) return types;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Each chunk: a 4-byte length, a 4-byte type, the data, a 4-byte CRC.
  for (let at = SIGNATURE.length; at + 8 <= bytes.length; at += 12 + view.getUint32(at)) {
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === 'IDAT' || type === 'IEND') break;
    types.add(type);
  }
  return types;
}
