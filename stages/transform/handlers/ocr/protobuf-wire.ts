/**
 * The protobuf wire format, as much of it as rewriting an ONNX model needs: fields read without a schema (the
 * graph rewrite in paddle-graph.ts keeps every field it does not change byte for byte) and length-delimited fields
 * written back.
 */

/** Wire types (https://protobuf.dev/programming-guides/encoding/). */
export const VARINT = 0;
export const FIXED64 = 1;
export const BYTES = 2;
export const FIXED32 = 5;

/** One field of a message. */
export interface Field {
  readonly number: number;
  readonly wire: number;
  /** The whole field, key included. */
  readonly bytes: Uint8Array;
  /** The value: the payload of a length-delimited field, the raw bytes of the others. */
  readonly value: Uint8Array;
}

/** The fields of a message in order. */
export function* readFields(message: Uint8Array): Generator<Field> {
  let offset = 0;
  while (offset < message.length) {
    const start = offset;
    const key = readVarint(message, offset);
    const wire = key.value & 7;
    offset = key.next;
    let valueStart = offset;
    if (wire === VARINT) offset = readVarint(message, offset).next;
    else if (wire === FIXED64) offset += 8;
    else if (wire === FIXED32) offset += 4;
    else if (wire === BYTES) {
      const length = readVarint(message, offset);
      valueStart = length.next;
      offset = length.next + length.value;
    } else throw new Error(`unsupported protobuf wire type ${wire} in the ONNX model`);
    if (offset > message.length) throw new Error('the ONNX model is truncated');
    yield {
      number: Math.floor(key.value / 8),
      wire,
      bytes: message.subarray(start, offset),
      value: message.subarray(valueStart, offset),
    };
  }
}

export function readVarint(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  let position = offset;
  for (;;) {
    const byte = bytes[position];
    if (byte === undefined) throw new Error('the ONNX model is truncated');
    position += 1;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: position };
    scale *= 128;
  }
}

export function encodeVarint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}

export function lengthDelimited(number: number, value: Uint8Array): Uint8Array {
  return concat([encodeVarint(number * 8 + BYTES), encodeVarint(value.length), value]);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
