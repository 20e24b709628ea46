/**
 * Intrinsic functions for JSONPath states ("Intrinsic functions for JSONPath states in Step Functions",
 * https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html, and the ASL specification's
 * "Intrinsic Functions"). Calls may nest; arguments are string literals in single quotes (where `'`, `{`, `}` and `\`
 * are escaped with `\`), numbers, `true`/`false`/`null`, paths (`$.a`, `$$.Execution.Id`) and other calls.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { StatesError, StatesErrors } from './engine-errors.ts';
import { isPlainObject, type JsonPath, parseJsonPath, selectPath } from './json-path.ts';

export type IntrinsicArgument =
  | { readonly kind: 'literal'; readonly value: unknown; readonly raw?: string }
  | { readonly kind: 'path'; readonly path: JsonPath }
  | { readonly kind: 'call'; readonly call: IntrinsicCall };

export interface IntrinsicCall {
  readonly name: string;
  readonly args: readonly IntrinsicArgument[];
}

export class IntrinsicSyntaxError extends Error {
  override readonly name = 'IntrinsicSyntaxError';
}

/** Arity (min, max) of each supported function. */
const ARITY: Readonly<Record<string, readonly [number, number]>> = {
  'States.Format': [1, Number.POSITIVE_INFINITY],
  'States.StringToJson': [1, 1],
  'States.JsonToString': [1, 1],
  'States.Array': [0, Number.POSITIVE_INFINITY],
  'States.ArrayPartition': [2, 2],
  'States.ArrayContains': [2, 2],
  'States.ArrayRange': [3, 3],
  'States.ArrayGetItem': [2, 2],
  'States.ArrayLength': [1, 1],
  'States.ArrayUnique': [1, 1],
  'States.Base64Encode': [1, 1],
  'States.Base64Decode': [1, 1],
  'States.Hash': [2, 2],
  'States.JsonMerge': [3, 3],
  'States.MathRandom': [2, 3],
  'States.MathAdd': [2, 2],
  'States.StringSplit': [2, 2],
  'States.UUID': [0, 0],
};

/** Whether a `.$` value is an intrinsic call rather than a path. */
export function looksLikeIntrinsic(text: string): boolean {
  return /^States\.[A-Za-z0-9]+\s*\(/.test(text);
}

const cache = new Map<string, IntrinsicCall>();

/** Parses `States.X(...)` once (cached); throws {@link IntrinsicSyntaxError} naming what is wrong. */
export function parseIntrinsic(text: string): IntrinsicCall {
  const cached = cache.get(text);
  if (cached) return cached;
  const parser = new IntrinsicParser(text);
  const call = parser.call();
  parser.end();
  cache.set(text, call);
  return call;
}

/** What intrinsic functions need from the engine; injectable so tests are deterministic. */
export interface IntrinsicRuntime {
  /** Uniform in [0, 1). */
  readonly random: () => number;
  readonly uuid: () => string;
}

export interface IntrinsicScope {
  readonly input: unknown;
  readonly context: unknown;
  readonly runtime: IntrinsicRuntime;
}

/** Evaluates a parsed call; failures are `States.IntrinsicFailure` (a missing path: `States.Runtime`). */
export function evaluateIntrinsic(call: IntrinsicCall, scope: IntrinsicScope): unknown {
  const args = call.args.map((arg) => evaluateArgument(arg, scope, call.name));
  const fail = (message: string): never => {
    throw new StatesError(StatesErrors.IntrinsicFailure, `${call.name}: ${message}`);
  };
  switch (call.name) {
    case 'States.Format':
      return format(call, args, fail);
    case 'States.StringToJson': {
      const text = requireString(args[0], 'the argument', fail);
      try {
        return JSON.parse(text);
      } catch {
        return fail(`the argument is not JSON text: ${text.slice(0, 100)}`);
      }
    }
    case 'States.JsonToString':
      return JSON.stringify(args[0]);
    case 'States.Array':
      return args;
    case 'States.ArrayPartition': {
      const array = requireArray(args[0], fail);
      const size = requireInteger(args[1], 'the chunk size', fail);
      if (size <= 0) fail('the chunk size must be positive');
      const chunks: unknown[][] = [];
      for (let i = 0; i < array.length; i += size) chunks.push(array.slice(i, i + size));
      return chunks;
    }
    case 'States.ArrayContains':
      return requireArray(args[0], fail).some((element) => isDeepStrictEqual(element, args[1]));
    case 'States.ArrayRange': {
      const start = requireInteger(args[0], 'the start', fail);
      const end = requireInteger(args[1], 'the end', fail);
      const step = requireInteger(args[2], 'the step', fail);
      if (step === 0) fail('the step must not be 0');
      const out: number[] = [];
      for (let n = start; step > 0 ? n <= end : n >= end; n += step) {
        out.push(n);
        // "The array can contain at most 1000 items" (States.ArrayRange in the intrinsic functions guide).
        if (out.length > 1000) fail('the range would have more than 1000 items');
      }
      return out;
    }
    case 'States.ArrayGetItem': {
      const array = requireArray(args[0], fail);
      const index = requireInteger(args[1], 'the index', fail);
      if (index < 0 || index >= array.length) fail(`index ${index} is out of bounds for an array of ${array.length}`);
      return array[index];
    }
    case 'States.ArrayLength':
      return requireArray(args[0], fail).length;
    case 'States.ArrayUnique': {
      const out: unknown[] = [];
      for (const element of requireArray(args[0], fail)) {
        if (!out.some((seen) => isDeepStrictEqual(seen, element))) out.push(element);
      }
      return out;
    }
    case 'States.Base64Encode': {
      const text = requireString(args[0], 'the argument', fail);
      // Both base64 functions take at most 10,000 characters (intrinsic functions guide).
      if (text.length > 10_000) fail('the input is longer than 10000 characters');
      return Buffer.from(text, 'utf8').toString('base64');
    }
    case 'States.Base64Decode': {
      const text = requireString(args[0], 'the argument', fail);
      if (text.length > 10_000) fail('the input is longer than 10000 characters');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) fail('the argument is not base64 text');
      return Buffer.from(text, 'base64').toString('utf8');
    }
    case 'States.Hash': {
      const data = typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
      if (data === undefined || args[0] === null) return fail('the data must not be null');
      if (data.length > 10_000) fail('the data is longer than 10000 characters');
      const algorithm = requireString(args[1], 'the algorithm', fail);
      const node = HASHES[algorithm];
      if (node === undefined) return fail(`the algorithm must be one of ${Object.keys(HASHES).join(', ')}`);
      return createHash(node).update(data, 'utf8').digest('hex');
    }
    case 'States.JsonMerge': {
      const [left, right, deep] = args;
      if (!isPlainObject(left) || !isPlainObject(right)) return fail('both arguments must be JSON objects');
      // Step Functions supports only the shallow merge: the third argument must be false.
      if (deep !== false) fail('only the shallow merge is supported; the third argument must be false');
      return { ...left, ...right };
    }
    case 'States.MathRandom': {
      const start = requireInteger(args[0], 'the start', fail);
      const end = requireInteger(args[1], 'the end', fail);
      if (end <= start) fail('the end must be greater than the start');
      const random =
        args.length === 3 ? seededRandom(requireInteger(args[2], 'the seed', fail)) : scope.runtime.random();
      return start + Math.floor(random * (end - start));
    }
    case 'States.MathAdd': {
      const a = requireInteger(args[0], 'the first number', fail);
      const b = requireInteger(args[1], 'the second number', fail);
      const sum = a + b;
      if (sum > 2_147_483_647 || sum < -2_147_483_648) fail('the sum is outside the 32-bit integer range');
      return sum;
    }
    case 'States.StringSplit': {
      const text = requireString(args[0], 'the string', fail);
      const delimiters = requireString(args[1], 'the delimiters', fail);
      if (delimiters === '') return [text];
      // Every character of the second argument is a delimiter; empty tokens are dropped, as with Java's
      // StringTokenizer, so "a,,b" gives ["a", "b"].
      const tokens: string[] = [];
      let current = '';
      for (const char of text) {
        if (delimiters.includes(char)) {
          if (current !== '') tokens.push(current);
          current = '';
        } else current += char;
      }
      if (current !== '') tokens.push(current);
      return tokens;
    }
    case 'States.UUID':
      return scope.runtime.uuid();
    default:
      return fail('unknown intrinsic function');
  }
}

const HASHES: Readonly<Record<string, string>> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

function evaluateArgument(arg: IntrinsicArgument, scope: IntrinsicScope, fn: string): unknown {
  if (arg.kind === 'literal') return arg.value;
  if (arg.kind === 'call') return evaluateIntrinsic(arg.call, scope);
  const root = arg.path.root === '$$' ? scope.context : scope.input;
  const selected = selectPath(arg.path, root);
  if (!selected.found) {
    throw new StatesError(
      StatesErrors.Runtime,
      `The JSONPath '${arg.path.text}' given to ${fn} could not be found in the input '${truncate(JSON.stringify(root))}'`,
    );
  }
  return selected.value;
}

function format(call: IntrinsicCall, args: unknown[], fail: (m: string) => never): string {
  const template = call.args[0];
  if (template === undefined) return fail('a template is required');
  // The template keeps its escapes so `\{` stays a literal brace; a template from a path has none.
  const raw = template.kind === 'literal' && template.raw !== undefined ? template.raw : undefined;
  const text = raw ?? requireString(args[0], 'the template', fail);
  const values = args.slice(1);
  let out = '';
  let used = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (raw !== undefined && c === '\\' && i + 1 < text.length) {
      out += text[i + 1];
      i += 1;
    } else if (c === '{' && text[i + 1] === '}') {
      if (used >= values.length) fail(`the template has more placeholders than the ${values.length} arguments`);
      out += formatValue(values[used], fail);
      used += 1;
      i += 1;
    } else out += c;
  }
  if (used !== values.length) fail(`the template has ${used} placeholders for ${values.length} arguments`);
  return out;
}

function formatValue(value: unknown, fail: (m: string) => never): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  return fail('arguments must be strings, numbers, booleans or null');
}

function requireString(value: unknown, what: string, fail: (m: string) => never): string {
  if (typeof value !== 'string') fail(`${what} must be a string, not ${JSON.stringify(value)}`);
  return value as string;
}

function requireArray(value: unknown, fail: (m: string) => never): unknown[] {
  if (!Array.isArray(value)) fail(`the first argument must be an array, not ${JSON.stringify(value)}`);
  return value as unknown[];
}

function requireInteger(value: unknown, what: string, fail: (m: string) => never): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(`${what} must be an integer, not ${value}`);
  return value as number;
}

/** mulberry32: a seeded call gives the same number every time, as the seed argument promises. */
function seededRandom(seed: number): number {
  let t = (seed + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function truncate(text: string | undefined): string {
  if (text === undefined) return 'undefined';
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

class IntrinsicParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  private fail(message: string): never {
    throw new IntrinsicSyntaxError(
      `invalid intrinsic function call '${this.text}' at position ${this.pos}: ${message}`,
    );
  }

  end(): void {
    this.spaces();
    if (this.pos !== this.text.length) this.fail('unexpected text after the call');
  }

  call(): IntrinsicCall {
    this.spaces();
    const name = /^States\.[A-Za-z0-9]+/.exec(this.text.slice(this.pos))?.[0];
    if (name === undefined) return this.fail('expected States.<Function>(');
    const arity = ARITY[name];
    if (arity === undefined) return this.fail(`unknown intrinsic function ${name}`);
    this.pos += name.length;
    this.spaces();
    if (this.text[this.pos] !== '(') this.fail('expected "("');
    this.pos += 1;
    const args: IntrinsicArgument[] = [];
    this.spaces();
    if (this.text[this.pos] === ')') this.pos += 1;
    else {
      for (;;) {
        args.push(this.argument());
        this.spaces();
        const c = this.text[this.pos];
        this.pos += 1;
        if (c === ')') break;
        if (c !== ',') this.fail('expected "," or ")"');
      }
    }
    if (args.length < arity[0] || args.length > arity[1]) {
      const upper = arity[1] === arity[0] ? '' : arity[1] === Number.POSITIVE_INFINITY ? ' or more' : ` to ${arity[1]}`;
      this.fail(`${name} takes ${arity[0]}${upper} arguments, not ${args.length}`);
    }
    if (name === 'States.Format') {
      const first = args[0];
      if (first?.kind === 'literal' && typeof first.value !== 'string') this.fail('the template must be a string');
    }
    return { name, args };
  }

  private spaces(): void {
    while (this.text[this.pos] === ' ') this.pos += 1;
  }

  private argument(): IntrinsicArgument {
    this.spaces();
    const rest = this.text.slice(this.pos);
    const c = rest[0];
    if (c === "'") return this.stringLiteral();
    if (c === '$') return this.path();
    if (rest.startsWith('States.')) return { kind: 'call', call: this.call() };
    const keyword = /^(true|false|null)\b/.exec(rest)?.[0];
    if (keyword !== undefined) {
      this.pos += keyword.length;
      return { kind: 'literal', value: keyword === 'null' ? null : keyword === 'true' };
    }
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest)?.[0];
    if (number !== undefined) {
      this.pos += number.length;
      return { kind: 'literal', value: Number(number) };
    }
    return this.fail('expected a string literal, a number, true, false, null, a path or a call');
  }

  private stringLiteral(): IntrinsicArgument {
    this.pos += 1;
    const start = this.pos;
    let value = '';
    while (this.pos < this.text.length && this.text[this.pos] !== "'") {
      if (this.text[this.pos] === '\\') {
        const next = this.text[this.pos + 1];
        if (next === undefined || !"'{}\\".includes(next)) this.fail(`"\\" escapes only ', {, } and \\`);
        value += next;
        this.pos += 2;
      } else {
        value += this.text[this.pos];
        this.pos += 1;
      }
    }
    if (this.text[this.pos] !== "'") this.fail('unterminated string literal');
    const raw = this.text.slice(start, this.pos);
    this.pos += 1;
    return { kind: 'literal', value, raw };
  }

  /** A path argument runs to the next "," or ")" outside brackets and quotes. */
  private path(): IntrinsicArgument {
    const start = this.pos;
    let depth = 0;
    let quote: string | undefined;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos] as string;
      if (quote !== undefined) {
        if (c === quote) quote = undefined;
      } else if (c === "'" || c === '"') quote = c;
      else if (c === '[') depth += 1;
      else if (c === ']') depth -= 1;
      else if (depth === 0 && (c === ',' || c === ')')) break;
      this.pos += 1;
    }
    const text = this.text.slice(start, this.pos).trimEnd();
    try {
      return { kind: 'path', path: parseJsonPath(text) };
    } catch (error) {
      return this.fail((error as Error).message);
    }
  }
}
