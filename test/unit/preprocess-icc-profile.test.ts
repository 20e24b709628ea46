import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { iccProfileDescription } from '../../stages/preprocess/icc-profile.ts';

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
});
