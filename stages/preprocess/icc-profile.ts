/**
 * The description of an ICC profile (its `desc` tag), as colour-managed software shows it: "sRGB IEC61966-2.1",
 * "Display P3", "Adobe RGB (1998)". Reads the v2 `textDescriptionType` and the v4 `multiLocalizedUnicodeType`
 * (ICC.1:2010 sections 7.3 and 10.13; ICC.1:2001-04 section 6.5.17). Undefined when the profile has no readable
 * description; never throws for a damaged profile.
 */
export function iccProfileDescription(profile: Uint8Array): string | undefined {
  const icc = Buffer.from(profile.buffer, profile.byteOffset, profile.byteLength);
  const HEADER = 128;
  if (icc.length < HEADER + 4) return undefined;
  const tags = icc.readUInt32BE(HEADER);
  for (let tag = 0; tag < tags; tag++) {
    const entry = HEADER + 4 + tag * 12;
    if (entry + 12 > icc.length) return undefined;
    if (icc.toString('latin1', entry, entry + 4) !== 'desc') continue;
    const start = icc.readUInt32BE(entry + 4);
    const end = start + icc.readUInt32BE(entry + 8);
    if (end > icc.length || end - start < 12) return undefined;
    const type = icc.toString('latin1', start, start + 4);
    if (type === 'desc') {
      // The ASCII count includes the terminating NUL.
      const count = icc.readUInt32BE(start + 8);
      if (start + 12 + count > end) return undefined;
      return icc.toString('latin1', start + 12, start + 12 + count).replace(/\0.*$/s, '');
    }
    if (type === 'mluc' && end - start >= 28) {
      // The first record's string: big-endian UTF-16 at an offset from the tag's start.
      const length = icc.readUInt32BE(start + 20) & ~1;
      const offset = start + icc.readUInt32BE(start + 24);
      if (offset + length > end) return undefined;
      return Buffer.from(icc.subarray(offset, offset + length))
        .swap16()
        .toString('utf16le');
    }
    return undefined;
  }
  return undefined;
}

/**
 * The descriptions of the sRGB profiles in common use: the IEC 61966-2.1 profile that Windows, macOS and ImageMagick
 * carry ("sRGB IEC61966-2.1"), the ICC's versions of it ("sRGB IEC61966-2-1 black scaled", "... no black
 * scaling"), Little CMS's built-in one ("sRGB built-in"), and the compact one that sharp and libvips embed ("sRGB").
 * A description that merely contains the word (Linear sRGB, scRGB) names other colours: decoders that apply the
 * profile and decoders that ignore it would see different pixels.
 */
const SRGB_PROFILE_DESCRIPTIONS: ReadonlySet<string> = new Set([
  'sRGB',
  'sRGB IEC61966-2.1',
  'sRGB IEC61966-2-1 black scaled',
  'sRGB IEC61966-2-1 no black scaling',
  'sRGB built-in',
]);

/** Whether an ICC profile is one of the known sRGB profiles, told by its description. */
export function isKnownSrgbProfile(profile: Uint8Array): boolean {
  const description = iccProfileDescription(profile);
  return description !== undefined && SRGB_PROFILE_DESCRIPTIONS.has(description.trim());
}
