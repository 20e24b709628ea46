import { describe, expect, it } from 'vitest';
import {
  CHUNK_MARK,
  keyToStorePath,
  SEGMENT_CHUNK_BYTES,
  storePathToKey,
} from '../../pipeline/local/s3-store-paths.ts';

describe('local S3 store paths', () => {
  it('round-trips keys up to 1,024 bytes, splitting long segments at character boundaries', () => {
    const keys = [
      'datasets/a.png',
      `datasets/${'ж'.repeat(500)}.png`,
      `${'😀'.repeat(150)}/${'e'.repeat(401)}`,
      `prefix/${'x'.repeat(SEGMENT_CHUNK_BYTES)}`,
    ];

    for (const key of keys) {
      const path = keyToStorePath(key);

      expect(storePathToKey(path)).toBe(key);
      for (const segment of path.split('/')) expect(Buffer.byteLength(segment)).toBeLessThanOrEqual(203);
    }
    expect(keyToStorePath('datasets/a.png')).toBe('datasets/a.png');
    expect(keyToStorePath(`prefix/${'x'.repeat(SEGMENT_CHUNK_BYTES + 1)}`)).toBe(
      `prefix/${'x'.repeat(SEGMENT_CHUNK_BYTES)}${CHUNK_MARK}/x`,
    );
  });

  it('keeps a key prefix a prefix of the stored path, so listing by prefix walks the right folders', () => {
    const key = `long/${'n'.repeat(700)}.png`;

    for (const cut of [5, 150, 205, 420, 600]) {
      expect(keyToStorePath(key).startsWith(keyToStorePath(key.slice(0, cut)))).toBe(true);
    }
  });

  it('refuses a key with a ".." segment and keeps names that merely contain dots', () => {
    expect(() => keyToStorePath('a/../../b')).toThrow(/"\.\." segment/);
    expect(keyToStorePath('a/..b/c..')).toBe('a/..b/c..');
  });
});
