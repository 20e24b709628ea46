/**
 * A tiny ONNX image classifier, written byte by byte: a few dozen lines of protobuf encoding instead of a Python
 * toolchain or a downloaded model. Field numbers follow onnx/onnx.proto (IR version 7, opset 13).
 */

/** Protobuf wire types. */
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

type Field = Uint8Array;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = BigInt(value);
  if (rest < 0n) rest += 1n << 64n;
  do {
    let byte = Number(rest & 0x7fn);
    rest >>= 7n;
    if (rest > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0n);
  return bytes;
}

function tag(field: number, wireType: number): number[] {
  return varint((field << 3) | wireType);
}

function intField(field: number, value: number): Field {
  return Uint8Array.from([...tag(field, VARINT), ...varint(value)]);
}

function floatField(field: number, value: number): Field {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return Uint8Array.from([...tag(field, FIXED32), ...bytes]);
}

function bytesField(field: number, value: Uint8Array): Field {
  return Uint8Array.from([...tag(field, LENGTH_DELIMITED), ...varint(value.length), ...value]);
}

function stringField(field: number, value: string): Field {
  return bytesField(field, new TextEncoder().encode(value));
}

function message(...fields: Field[]): Uint8Array {
  const out = new Uint8Array(fields.reduce((size, field) => size + field.length, 0));
  let offset = 0;
  for (const field of fields) {
    out.set(field, offset);
    offset += field.length;
  }
  return out;
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTRIBUTE_INTS = 7; // AttributeProto.AttributeType.INTS
const ATTRIBUTE_INT = 2;

/** ValueInfoProto for a float tensor; a string dimension is symbolic (`dim_param`). */
function tensorValue(name: string, dims: readonly (number | string)[]): Uint8Array {
  const shape = message(
    ...dims.map((dim) =>
      bytesField(1, typeof dim === 'number' ? message(intField(1, dim)) : message(stringField(2, dim))),
    ),
  );
  const tensorType = message(intField(1, FLOAT), bytesField(2, shape));
  return message(stringField(1, name), bytesField(2, message(bytesField(1, tensorType))));
}

function node(opType: string, inputs: readonly string[], outputs: readonly string[], ...attributes: Uint8Array[]) {
  return message(
    ...inputs.map((input) => stringField(1, input)),
    ...outputs.map((output) => stringField(2, output)),
    stringField(3, `${opType.toLowerCase()}_0`),
    stringField(4, opType),
    ...attributes.map((attribute) => bytesField(5, attribute)),
  );
}

/**
 * A classifier whose three logits are the mean of each input channel times `sharpness`: on plain RGB input
 * scaled to [0, 1], a red image scores label 0 highest, green label 1, blue label 2.
 *
 * Graph: `x [batch, 3, height, width]` -> ReduceMean(axes 2, 3) -> Mul(sharpness) -> `logits [batch, 3]`.
 */
export function meanColourClassifier(options: { width: number; height: number; sharpness?: number }): Uint8Array {
  const reduceMean = node(
    'ReduceMean',
    ['x'],
    ['channel_means'],
    message(stringField(1, 'axes'), intField(20, ATTRIBUTE_INTS), intField(8, 2), intField(8, 3)),
    message(stringField(1, 'keepdims'), intField(20, ATTRIBUTE_INT), intField(3, 0)),
  );
  const multiply = node('Mul', ['channel_means', 'sharpness'], ['logits']);
  const sharpness = message(intField(2, FLOAT), stringField(8, 'sharpness'), floatField(4, options.sharpness ?? 10));
  const graph = message(
    bytesField(1, reduceMean),
    bytesField(1, multiply),
    stringField(2, 'mean_colour'),
    bytesField(5, sharpness),
    bytesField(11, tensorValue('x', ['batch', 3, options.height, options.width])),
    bytesField(12, tensorValue('logits', ['batch', 3])),
  );
  return message(
    intField(1, 7), // ir_version
    stringField(2, 'nightshift-tests'), // producer_name
    bytesField(7, graph),
    bytesField(8, message(stringField(1, ''), intField(2, 13))), // opset_import: the default domain, opset 13
  );
}
