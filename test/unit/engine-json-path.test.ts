import { describe, expect, it } from 'vitest';
import {
  isReferencePath,
  JsonPathSyntaxError,
  parseJsonPath,
  selectPath,
  writePath,
} from '../../pipeline/local/engine/json-path.ts';

const doc = {
  a: { b: 1, 'odd key': 'x', list: [10, 20, 30, 40] },
  items: [
    { id: 1, kind: 'img', size: 5 },
    { id: 2, kind: 'txt', size: 50 },
    { id: 3, kind: 'img', size: 500 },
  ],
};

describe('JSONPath selection', () => {
  it.each([
    ['$', doc],
    ['$.a.b', 1],
    ["$['a']['odd key']", 'x'],
    ['$["a"].b', 1],
    ['$.a.list[0]', 10],
    ['$.a.list[-1]', 40],
    ['$.items[1].kind', 'txt'],
  ])('selects one value with the definite path %s', (path, expected) => {
    expect(selectPath(parseJsonPath(path), doc)).toEqual({ found: true, value: expected });
  });

  it.each([
    ['$.items[*].id', [1, 2, 3]],
    ['$.a.list[1:3]', [20, 30]],
    ['$.a.list[::2]', [10, 30]],
    ['$.a.list[0,2]', [10, 30]],
    ['$..id', [1, 2, 3]],
    ["$.items[?(@.kind == 'img')].id", [1, 3]],
    ['$.items[?(@.size > 10 && @.size < 100)].id', [2]],
    ["$.items[?(@.size >= 500 || @.kind == 'txt')].id", [2, 3]],
    ['$.items[?(@.missing)]', []],
    ['$.nothing[*]', []],
  ])('selects a list with the indefinite path %s', (path, expected) => {
    expect(selectPath(parseJsonPath(path), doc)).toEqual({ found: true, value: expected });
  });

  it('reports a definite path that selects nothing as not found, null values as found', () => {
    expect(selectPath(parseJsonPath('$.a.missing'), doc)).toEqual({ found: false });
    expect(selectPath(parseJsonPath('$.a.list[9]'), doc)).toEqual({ found: false });
    expect(selectPath(parseJsonPath('$.x'), { x: null })).toEqual({ found: true, value: null });
  });

  it('tells context paths and reference paths apart', () => {
    expect(parseJsonPath('$$.Execution.Id').root).toBe('$$');
    expect(isReferencePath(parseJsonPath('$.a[0].b'))).toBe(true);
    expect(isReferencePath(parseJsonPath('$.a[*]'))).toBe(false);
    expect(isReferencePath(parseJsonPath('$$.State'))).toBe(false);
  });

  it.each(['a.b', '$.', '$[', "$['a'", '$.a[?(x)]', '$[(@.length-1)]', '$a'])(
    'rejects the malformed path %s',
    (path) => {
      expect(() => parseJsonPath(path)).toThrow(JsonPathSyntaxError);
    },
  );
});

describe('JSONPath writing (ResultPath)', () => {
  it('writes into a copy, creating missing objects, and leaves the input unchanged', () => {
    const input = { a: { keep: true } };
    const written = writePath(parseJsonPath('$.a.b.c'), input, 42);
    expect(written?.value).toEqual({ a: { keep: true, b: { c: 42 } } });
    expect(input).toEqual({ a: { keep: true } });
  });

  it('replaces an existing array element by index', () => {
    expect(writePath(parseJsonPath('$.l[1]'), { l: [1, 2, 3] }, 'x')?.value).toEqual({ l: [1, 'x', 3] });
  });

  it('cannot write through a string or past the end of an array', () => {
    expect(writePath(parseJsonPath('$.a.b'), { a: 'text' }, 1)).toBeUndefined();
    expect(writePath(parseJsonPath('$.l[5]'), { l: [] }, 1)).toBeUndefined();
  });
});
