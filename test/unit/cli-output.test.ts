import { describe, expect, it } from 'vitest';
import { escapeControlCharacters, formatUsd, painter, renderTable } from '../../pipeline/cli/output.ts';
import { formatDuration } from '../../shared/format-duration.ts';
import { captureIo, runCli } from '../helpers/cli-harness.ts';

describe('escapeControlCharacters', () => {
  it('writes control characters, DEL, C1 and bidi overrides as escapes and leaves other text alone', () => {
    expect(escapeControlCharacters('a\nb\rc\td')).toBe('a\\nb\\rc\\td');
    expect(escapeControlCharacters('\u001b[31mred\u0007')).toBe('\\x1b[31mred\\x07');
    expect(escapeControlCharacters('x\u007fy\u009bz')).toBe('x\\x7fy\\x9bz');
    expect(escapeControlCharacters('invoice\u202egpj.exe')).toBe('invoice\\u202egpj.exe');
    expect(escapeControlCharacters('Straße 東京 😀')).toBe('Straße 東京 😀');
  });

  it('keeps a key with a terminal escape from reaching the terminal through a table', () => {
    const table = renderTable([{ header: 'KEY' }, { header: 'TEXT' }], [['evil\u001b]0;pwned\u0007.png', 'STOP\nGO']]);

    expect([...table].filter((char) => char !== '\n' && (char.codePointAt(0) ?? 0) < 0x20)).toEqual([]);
    expect(table).toContain('evil\\x1b]0;pwned\\x07.png  STOP\\nGO');
  });
});

describe('CLI output for people', () => {
  it('colours only on a terminal, and never with NO_COLOR', () => {
    expect(painter({ isTTY: true, env: {} }).red('FAILED')).toBe('\u001b[31mFAILED\u001b[39m');
    expect(painter({ isTTY: false, env: {} }).red('FAILED')).toBe('FAILED');
    expect(painter({ isTTY: true, env: { NO_COLOR: '1' } }).red('FAILED')).toBe('FAILED');
  });

  it('pads table columns on the plain text, so colour codes never skew them', () => {
    const paint = painter({ isTTY: true, env: {} });

    const table = renderTable(
      [{ header: 'RUN' }, { header: 'ITEMS', align: 'right' }],
      [
        ['a', '5'],
        ['longer-run', '1,200'],
      ],
      (column, padded, raw) => (column === 0 ? padded.replace(raw, paint.bold(raw)) : padded),
    );

    expect(table.replaceAll('\u001b[1m', '').replaceAll('\u001b[22m', '')).toBe(
      'RUN         ITEMS\na               5\nlonger-run  1,200\n',
    );
    expect(table).toContain('\u001b[1ma\u001b[22m         ');
  });

  it('writes durations and dollars the way people read them', () => {
    expect([4.24, 185, 3725, 180_000].map(formatDuration)).toEqual(['4.2s', '3m 05s', '1h 02m', '2d 02h']);
    expect([0, 0.00004, 0.0019, 29.29, 1234.5].map(formatUsd)).toEqual([
      '$0.00',
      '<$0.0001',
      '$0.0019',
      '$29.29',
      '$1,234.50',
    ]);
  });

  it('prints the error label in red on a terminal', async () => {
    const io = captureIo({ isTTY: true });

    const result = await runCli(['stats'], { io });

    expect(result.stderr.startsWith('\u001b[31merror:\u001b[39m unknown command "stats"')).toBe(true);
  });
});
