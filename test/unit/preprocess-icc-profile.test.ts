import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { iccProfileDescription, isKnownSrgbProfile } from '../../stages/preprocess/icc-profile.ts';
import { iccProfileDescribedAs } from '../helpers/image-encodings.ts';

/** The ICC profile sharp embeds for one of its built-in profile names. */
async function embeddedProfile(name: 'srgb' | 'p3' | 'cmyk'): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .withIccProfile(name)
    .jpeg()
    .toBuffer();
  const { icc } = await sharp(jpeg).metadata();
  if (!icc) throw new Error(`sharp embedded no ${name} profile`);
  return icc;
}

describe('iccProfileDescription', () => {
  it('reads the description of an ICC v4 profile (multiLocalizedUnicodeType)', async () => {
    expect(iccProfileDescription(await embeddedProfile('srgb'))).toBe('sRGB');
    expect(iccProfileDescription(await embeddedProfile('p3'))).toBe('sP3C');
  });

  it('reads the description of an ICC v2 profile (textDescriptionType)', async () => {
    expect(iccProfileDescription(await embeddedProfile('cmyk'))).toBe('Chemical proof');
  });

  it('answers undefined, without throwing, for a cut-off or garbage profile', async () => {
    const srgb = await embeddedProfile('srgb');

    expect(iccProfileDescription(srgb.subarray(0, 140))).toBeUndefined();
    expect(iccProfileDescription(Buffer.alloc(64))).toBeUndefined();
    expect(iccProfileDescription(Buffer.alloc(600, 0xff))).toBeUndefined();
  });

  it("reads the description the test fixture gives sharp's sRGB profile", async () => {
    expect(iccProfileDescription(await iccProfileDescribedAs('Linear sRGB'))).toBe('Linear sRGB');
  });
});

describe('isKnownSrgbProfile', () => {
  it.each(['sRGB', 'sRGB IEC61966-2.1', 'sRGB IEC61966-2-1 black scaled', 'sRGB built-in'])(
    'takes a profile described as "%s" for sRGB',
    async (description) => {
      expect(isKnownSrgbProfile(await iccProfileDescribedAs(description))).toBe(true);
    },
  );

  it.each(['Linear sRGB', 'scRGB', 'sRGB linear', 'Display P3'])(
    'does not take a profile described as "%s" for sRGB, though the word may be in it',
    async (description) => {
      expect(isKnownSrgbProfile(await iccProfileDescribedAs(description))).toBe(false);
    },
  );

  it("takes sharp's own sRGB profile, and neither its Display P3 nor a profile without a description", async () => {
    expect(isKnownSrgbProfile(await embeddedProfile('srgb'))).toBe(true);
    expect(isKnownSrgbProfile(await embeddedProfile('p3'))).toBe(false);
    expect(isKnownSrgbProfile(Buffer.alloc(64))).toBe(false);
  });
});
