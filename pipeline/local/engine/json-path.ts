/**
 * The JSONPath subset Amazon States Language uses ("Paths" and "Reference Paths" in the ASL specification,
 * https://states-language.net/spec.html#path): `$`, `$.a.b`, `$['a']`, `$[0]`, `$[-1]`, `$.a[*]`, `$.*`, `$..a`,
 * `$[0,2]`, `$[1:3]`, and filters `$[?(@.a == 1)]` with `==, !=, <, <=, >, >=`, `&&`, `||` and existence tests.
 * A path that starts with `$$` reads the context object.
 *
 * As in the Jayway implementation Step Functions uses, a *definite* path (names and single indexes only) selects one
 * value or nothing, and an indefinite one (wildcard, slice, union, filter, deep scan) selects a list, possibly empty.
 */

export type PathRoot = '$' | '$$';

type Literal = string | number | boolean | null;
type FilterExpression =
  | { readonly kind: 'exists'; readonly path: readonly Segment[] }
  | { readonly kind: 'compare'; readonly path: readonly Segment[]; readonly op: CompareOp; readonly value: Literal }
  | { readonly kind: 'and' | 'or'; readonly left: FilterExpression; readonly right: FilterExpression };
type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type Segment =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'names'; readonly names: readonly string[] }
  | { readonly kind: 'indexes'; readonly indexes: readonly number[] }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'slice'; readonly start?: number; readonly end?: number; readonly step?: number }
  | { readonly kind: 'deep'; readonly name: string | '*' }
  | { readonly kind: 'filter'; readonly expression: FilterExpression };

export interface JsonPath {
  readonly text: string;
  readonly root: PathRoot;
  readonly segments: readonly Segment[];
  /** Names and single indexes only: selects at most one value. */
  readonly definite: boolean;
}

export class JsonPathSyntaxError extends Error {
  override readonly name = 'JsonPathSyntaxError';
}

const cache = new Map<string, JsonPath>();

/** Parses a path once; the result is cached by its text. Throws {@link JsonPathSyntaxError}. */
export function parseJsonPath(text: string): JsonPath {
  const cached = cache.get(text);
  if (cached) return cached;
  const parsed = new PathParser(text).parse();
  cache.set(text, parsed);
  return parsed;
}

/** Whether a path is a Reference Path: definite, so it can be written to (`ResultPath`). */
export function isReferencePath(path: JsonPath): boolean {
  return path.definite && path.root === '$';
}

/** What a definite path selected: the value, or nothing. */
export type Selection = { readonly found: true; readonly value: unknown } | { readonly found: false };

/**
 * Selects with a path. A definite path gives one value or `found: false`; an indefinite one always gives the list
 * of matches (JSONPath semantics).
 */
export function selectPath(path: JsonPath, root: unknown): Selection {
  const nodes = evaluateSegments(path.segments, [root]);
  if (!path.definite) return { found: true, value: nodes };
  return nodes.length === 0 ? { found: false } : { found: true, value: nodes[0] };
}

/**
 * Returns a copy of `root` with `value` written at a Reference Path, copying only the containers along the path
 * (inputs are never mutated). Missing objects along the path are created, as Step Functions does for `ResultPath`.
 * Returns undefined where the path cannot be applied (a step into a non-object, an index out of range).
 */
export function writePath(path: JsonPath, root: unknown, value: unknown): { value: unknown } | undefined {
  return writeSegments(path.segments, 0, root, value);
}

function writeSegments(
  segments: readonly Segment[],
  at: number,
  node: unknown,
  value: unknown,
): { value: unknown } | undefined {
  const segment = segments[at];
  if (segment === undefined) return { value };
  if (segment.kind === 'name') {
    if (node !== undefined && !isPlainObject(node)) return undefined;
    const current = node === undefined ? {} : node;
    const inner = writeSegments(segments, at + 1, current[segment.name], value);
    if (inner === undefined) return undefined;
    return { value: { ...current, [segment.name]: inner.value } };
  }
  if (segment.kind === 'index') {
    if (!Array.isArray(node)) return undefined;
    const index = segment.index < 0 ? node.length + segment.index : segment.index;
    if (index < 0 || index >= node.length) return undefined;
    const inner = writeSegments(segments, at + 1, node[index], value);
    if (inner === undefined) return undefined;
    const copy = [...node];
    copy[index] = inner.value;
    return { value: copy };
  }
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function evaluateSegments(segments: readonly Segment[], start: unknown[]): unknown[] {
  let nodes = start;
  for (const segment of segments) {
    const next: unknown[] = [];
    for (const node of nodes) applySegment(segment, node, next);
    nodes = next;
    if (nodes.length === 0) break;
  }
  return nodes;
}

function applySegment(segment: Segment, node: unknown, out: unknown[]): void {
  switch (segment.kind) {
    case 'name':
      if (isPlainObject(node) && Object.hasOwn(node, segment.name)) out.push(node[segment.name]);
      return;
    case 'names':
      if (isPlainObject(node)) {
        for (const name of segment.names) if (Object.hasOwn(node, name)) out.push(node[name]);
      }
      return;
    case 'index':
      if (Array.isArray(node)) {
        const index = segment.index < 0 ? node.length + segment.index : segment.index;
        if (index >= 0 && index < node.length) out.push(node[index]);
      }
      return;
    case 'indexes':
      if (Array.isArray(node)) {
        for (const raw of segment.indexes) {
          const index = raw < 0 ? node.length + raw : raw;
          if (index >= 0 && index < node.length) out.push(node[index]);
        }
      }
      return;
    case 'wildcard':
      if (Array.isArray(node)) out.push(...node);
      else if (isPlainObject(node)) out.push(...Object.values(node));
      return;
    case 'slice':
      if (Array.isArray(node)) out.push(...slice(node, segment));
      return;
    case 'deep':
      deepScan(node, segment.name, out);
      return;
    case 'filter': {
      const candidates = Array.isArray(node) ? node : isPlainObject(node) ? Object.values(node) : [];
      for (const candidate of candidates) if (testFilter(segment.expression, candidate)) out.push(candidate);
      return;
    }
  }
}

function slice(array: readonly unknown[], s: { start?: number; end?: number; step?: number }): unknown[] {
  const step = s.step ?? 1;
  const norm = (n: number) => (n < 0 ? Math.max(0, array.length + n) : Math.min(n, array.length));
  const start = s.start === undefined ? 0 : norm(s.start);
  const end = s.end === undefined ? array.length : norm(s.end);
  const out: unknown[] = [];
  for (let i = start; i < end; i += step) out.push(array[i]);
  return out;
}

function deepScan(node: unknown, name: string, out: unknown[]): void {
  if (Array.isArray(node)) {
    if (name === '*') out.push(...node);
    for (const child of node) deepScan(child, name, out);
  } else if (isPlainObject(node)) {
    if (name === '*') out.push(...Object.values(node));
    else if (Object.hasOwn(node, name)) out.push(node[name]);
    for (const child of Object.values(node)) deepScan(child, name, out);
  }
}

function testFilter(expression: FilterExpression, candidate: unknown): boolean {
  switch (expression.kind) {
    case 'and':
      return testFilter(expression.left, candidate) && testFilter(expression.right, candidate);
    case 'or':
      return testFilter(expression.left, candidate) || testFilter(expression.right, candidate);
    case 'exists':
      return evaluateSegments(expression.path, [candidate]).length > 0;
    case 'compare': {
      const found = evaluateSegments(expression.path, [candidate]);
      if (found.length === 0) return false;
      return compare(found[0], expression.op, expression.value);
    }
  }
}

function compare(left: unknown, op: CompareOp, right: Literal): boolean {
  if (op === '==') return left === right;
  if (op === '!=') return left !== right;
  const comparable =
    (typeof left === 'number' && typeof right === 'number') || (typeof left === 'string' && typeof right === 'string');
  if (!comparable) return false;
  const l = left as number | string;
  const r = right as number | string;
  switch (op) {
    case '<':
      return l < r;
    case '<=':
      return l <= r;
    case '>':
      return l > r;
    case '>=':
      return l >= r;
  }
}

class PathParser {
  private pos = 0;
  private definite = true;
  /** Inside a filter a name also ends at white space and operators. */
  private inFilter = false;

  constructor(private readonly text: string) {}

  parse(): JsonPath {
    const { text } = this;
    if (!text.startsWith('$')) this.fail('a path starts with "$"');
    let root: PathRoot = '$';
    this.pos = 1;
    if (text[1] === '$') {
      root = '$$';
      this.pos = 2;
    }
    const segments: Segment[] = [];
    while (this.pos < text.length) segments.push(this.segment());
    return { text, root, segments, definite: this.definite };
  }

  private fail(message: string): never {
    throw new JsonPathSyntaxError(`invalid JSONPath '${this.text}' at position ${this.pos}: ${message}`);
  }

  private segment(): Segment {
    const c = this.text[this.pos];
    if (c === '.') {
      if (this.text[this.pos + 1] === '.') {
        this.pos += 2;
        this.definite = false;
        if (this.text[this.pos] === '*') {
          this.pos += 1;
          return { kind: 'deep', name: '*' };
        }
        return { kind: 'deep', name: this.dotName() };
      }
      this.pos += 1;
      if (this.text[this.pos] === '*') {
        this.pos += 1;
        this.definite = false;
        return { kind: 'wildcard' };
      }
      return { kind: 'name', name: this.dotName() };
    }
    if (c === '[') return this.bracket();
    return this.fail(`expected "." or "[" but found "${c}"`);
  }

  private dotName(): string {
    const start = this.pos;
    const stops = this.inFilter ? '.[] ()=!<>&|' : '.[]';
    while (this.pos < this.text.length && !stops.includes(this.text[this.pos] as string)) this.pos += 1;
    const name = this.text.slice(start, this.pos);
    if (name === '') this.fail('expected a field name');
    return name;
  }

  private bracket(): Segment {
    this.pos += 1;
    this.skipSpaces();
    const c = this.text[this.pos];
    let segment: Segment;
    if (c === '*') {
      this.pos += 1;
      this.definite = false;
      segment = { kind: 'wildcard' };
    } else if (c === "'" || c === '"') {
      const names = [this.quoted()];
      this.skipSpaces();
      while (this.text[this.pos] === ',') {
        this.pos += 1;
        this.skipSpaces();
        names.push(this.quoted());
        this.skipSpaces();
      }
      if (names.length > 1) this.definite = false;
      segment = names.length === 1 ? { kind: 'name', name: names[0] as string } : { kind: 'names', names };
    } else if (c === '?') {
      this.pos += 1;
      this.skipSpaces();
      this.expect('(');
      const expression = this.orExpression();
      this.skipSpaces();
      this.expect(')');
      this.definite = false;
      segment = { kind: 'filter', expression };
    } else if (c === '(') {
      return this.fail('script expressions are not supported');
    } else {
      segment = this.indexOrSlice();
    }
    this.skipSpaces();
    this.expect(']');
    return segment;
  }

  private indexOrSlice(): Segment {
    const first = this.optionalInteger();
    this.skipSpaces();
    if (this.text[this.pos] === ':') {
      this.pos += 1;
      const end = this.optionalInteger();
      let step: number | undefined;
      if (this.text[this.pos] === ':') {
        this.pos += 1;
        step = this.optionalInteger();
        if (step !== undefined && step <= 0) this.fail('a slice step must be positive');
      }
      this.definite = false;
      return {
        kind: 'slice',
        ...(first === undefined ? {} : { start: first }),
        ...(end === undefined ? {} : { end }),
        ...(step === undefined ? {} : { step }),
      };
    }
    if (first === undefined) return this.fail('expected an index, a quoted name, "*", a slice or a filter');
    const indexes = [first];
    while (this.text[this.pos] === ',') {
      this.pos += 1;
      this.skipSpaces();
      const next = this.optionalInteger();
      if (next === undefined) this.fail('expected an index after ","');
      indexes.push(next);
      this.skipSpaces();
    }
    if (indexes.length > 1) {
      this.definite = false;
      return { kind: 'indexes', indexes };
    }
    return { kind: 'index', index: first };
  }

  private optionalInteger(): number | undefined {
    const match = /^-?\d+/.exec(this.text.slice(this.pos));
    if (!match) return undefined;
    this.pos += match[0].length;
    return Number(match[0]);
  }

  private quoted(): string {
    const quote = this.text[this.pos];
    if (quote !== "'" && quote !== '"') this.fail('expected a quoted name');
    this.pos += 1;
    let out = '';
    while (this.pos < this.text.length && this.text[this.pos] !== quote) {
      if (this.text[this.pos] === '\\' && this.pos + 1 < this.text.length) this.pos += 1;
      out += this.text[this.pos];
      this.pos += 1;
    }
    if (this.text[this.pos] !== quote) this.fail('unterminated quoted name');
    this.pos += 1;
    return out;
  }

  private expect(c: string): void {
    if (this.text[this.pos] !== c) this.fail(`expected "${c}"`);
    this.pos += 1;
  }

  private skipSpaces(): void {
    while (this.text[this.pos] === ' ') this.pos += 1;
  }

  private orExpression(): FilterExpression {
    let left = this.andExpression();
    this.skipSpaces();
    while (this.text.startsWith('||', this.pos)) {
      this.pos += 2;
      left = { kind: 'or', left, right: this.andExpression() };
      this.skipSpaces();
    }
    return left;
  }

  private andExpression(): FilterExpression {
    let left = this.comparison();
    this.skipSpaces();
    while (this.text.startsWith('&&', this.pos)) {
      this.pos += 2;
      left = { kind: 'and', left, right: this.comparison() };
      this.skipSpaces();
    }
    return left;
  }

  private comparison(): FilterExpression {
    this.skipSpaces();
    if (this.text[this.pos] === '(') {
      this.pos += 1;
      const inner = this.orExpression();
      this.skipSpaces();
      this.expect(')');
      return inner;
    }
    if (this.text[this.pos] !== '@') this.fail('a filter compares "@" paths');
    this.pos += 1;
    const saved = this.definite;
    const path: Segment[] = [];
    this.inFilter = true;
    while (this.text[this.pos] === '.' || this.text[this.pos] === '[') path.push(this.segment());
    this.inFilter = false;
    this.definite = saved;
    this.skipSpaces();
    const op = /^(==|!=|<=|>=|<|>)/.exec(this.text.slice(this.pos))?.[0] as CompareOp | undefined;
    if (op === undefined) return { kind: 'exists', path };
    this.pos += op.length;
    this.skipSpaces();
    return { kind: 'compare', path, op, value: this.literal() };
  }

  private literal(): Literal {
    const c = this.text[this.pos];
    if (c === "'" || c === '"') return this.quoted();
    const rest = this.text.slice(this.pos);
    const keyword = /^(true|false|null)/.exec(rest)?.[0];
    if (keyword !== undefined) {
      this.pos += keyword.length;
      return keyword === 'null' ? null : keyword === 'true';
    }
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest)?.[0];
    if (number === undefined) return this.fail('expected a literal (string, number, true, false or null)');
    this.pos += number.length;
    return Number(number);
  }
}
