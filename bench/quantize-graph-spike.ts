/**
 * Spike (issue 11): static int8 quantisation of the convolutions of an ONNX graph, in the QOperator form ONNX
 * Runtime's CPU provider runs with its u8 x s8 kernels: `Conv(x, W, B)` becomes
 * `DequantizeLinear(QLinearConv(QuantizeLinear(x), W8, B32))`, weights symmetric int8 per output channel,
 * activations asymmetric uint8 per tensor with ranges measured by {@link calibrationOutputs} on sample inputs.
 * The server's graph rewrite (paddle-graph.ts) has already folded the affine ops after each convolution into its
 * weights, so the quantised convolution covers them too. Findings and figures: docs/decisions.md, "int8
 * quantisation of the OCR models". The protobuf handling copies every field it does not touch, with the server's
 * wire-format reader (protobuf-wire.ts).
 */

import {
  BYTES,
  concat,
  encodeVarint,
  type Field,
  lengthDelimited,
  readFields,
  readVarint,
  VARINT,
} from '../stages/transform/handlers/ocr/protobuf-wire.ts';

const MODEL_OPSET_IMPORT = 8;
const MODEL_GRAPH = 7;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const NODE_DOMAIN = 7;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_TENSOR = 5;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_FLOAT_DATA = 4;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;

const FLOAT = 1;
const UINT8 = 2;
const INT8 = 3;
const INT32 = 6;

interface GraphNode {
  inputs: string[];
  outputs: string[];
  name: string | undefined;
  opType: string;
  domain: string | undefined;
  attributes: Uint8Array[];
  bytes: Uint8Array;
}

interface FloatTensor {
  readonly dims: number[];
  readonly data: Float32Array;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** Activation range of a tensor, as measured on calibration inputs. */
export interface Range {
  min: number;
  max: number;
}

export interface QuantizeOptions {
  /** Which convolutions to quantise, by output name; all when absent. */
  readonly include?: (conv: { index: number; output: string; group: number; weightDims: readonly number[] }) => boolean;
}

interface ParsedModel {
  readonly modelFields: Field[];
  readonly graphField: Field;
  readonly graphFields: Field[];
  readonly nodes: Map<Field, GraphNode>;
  readonly constants: Map<string, { node: GraphNode; tensor: FloatTensor | undefined }>;
  readonly opset: number;
}

function parse(model: Uint8Array): ParsedModel {
  const modelFields = [...readFields(model)];
  const graphField = modelFields.find((field) => field.number === MODEL_GRAPH && field.wire === BYTES);
  if (graphField === undefined) throw new Error('the ONNX model has no graph');
  let opset = 0;
  for (const field of modelFields) {
    if (field.number !== MODEL_OPSET_IMPORT) continue;
    let domain = '';
    let version = 0;
    for (const inner of readFields(field.value)) {
      if (inner.number === OPSET_DOMAIN) domain = utf8.decode(inner.value);
      if (inner.number === OPSET_VERSION) version = readVarint(inner.value, 0).value;
    }
    if (domain === '' || domain === 'ai.onnx') opset = version;
  }
  const graphFields = [...readFields(graphField.value)];
  const nodes = new Map<Field, GraphNode>();
  const constants = new Map<string, { node: GraphNode; tensor: FloatTensor | undefined }>();
  for (const field of graphFields) {
    if (field.number === GRAPH_INITIALIZER) throw new Error('spike: graphs with initializers are not handled');
    if (field.number !== GRAPH_NODE) continue;
    const node = readNode(field.value, field.bytes);
    nodes.set(field, node);
    if (node.opType === 'Constant' && node.outputs[0] !== undefined) {
      constants.set(node.outputs[0], { node, tensor: constantTensor(node) });
    }
  }
  return { modelFields, graphField, graphFields, nodes, constants, opset };
}

/** The tensors whose ranges quantisation needs: every convolution's input and output. */
export function calibrationTensors(model: Uint8Array): string[] {
  const { nodes, constants } = parse(model);
  const names = new Set<string>();
  for (const node of nodes.values()) {
    if (node.opType !== 'Conv' || !constants.get(node.inputs[1] ?? '')?.tensor) continue;
    names.add(node.inputs[0] as string);
    names.add(node.outputs[0] as string);
  }
  return [...names];
}

/** `model` with `names` added as graph outputs (name only: ONNX Runtime infers their types). */
export function calibrationOutputs(model: Uint8Array, names: readonly string[]): Uint8Array {
  const { modelFields, graphField } = parse(model);
  const extra = names.map((name) =>
    lengthDelimited(GRAPH_OUTPUT, lengthDelimited(VALUE_INFO_NAME, encoder.encode(name))),
  );
  const graph = concat([graphField.value, ...extra]);
  return concat(modelFields.map((field) => (field === graphField ? lengthDelimited(MODEL_GRAPH, graph) : field.bytes)));
}

/** `model` with its convolutions quantised, using `ranges` for their inputs and outputs. */
export function quantizeConvolutions(
  model: Uint8Array,
  ranges: ReadonlyMap<string, Range>,
  options: QuantizeOptions = {},
): Uint8Array {
  const { modelFields, graphField, graphFields, nodes, constants, opset } = parse(model);
  // QuantizeLinear, DequantizeLinear and QLinearConv are ONNX ops from opset 10; below that (the recogniser is
  // opset 9) ONNX Runtime's com.microsoft versions of the same ops.
  const domain = opset >= 10 ? undefined : 'com.microsoft';
  const consumers = new Map<string, number>();
  for (const node of nodes.values())
    for (const input of node.inputs) consumers.set(input, (consumers.get(input) ?? 0) + 1);

  const dropped = new Set<GraphNode>();
  // Which convolutions to quantise, decided first: a tensor only convolutions read needs no DequantizeLinear.
  const chosen = new Set<GraphNode>();
  let convIndex = -1;
  for (const node of nodes.values()) {
    if (node.opType !== 'Conv') continue;
    convIndex += 1;
    const [x, w, b] = node.inputs as [string, string, string | undefined];
    const weight = constants.get(w)?.tensor;
    if (!weight || (b !== undefined && !constants.get(b)?.tensor)) continue;
    if (!ranges.has(x) || !ranges.has(node.outputs[0] as string)) continue;
    const group = intAttribute(node, 'group') ?? 1;
    const conv = { index: convIndex, output: node.outputs[0] as string, group, weightDims: weight.dims };
    if (options.include && !options.include(conv)) continue;
    chosen.add(node);
  }
  const floatReaders = new Set<string>(graphOutputs(graphFields));
  for (const node of nodes.values()) {
    if (chosen.has(node)) continue;
    for (const input of node.inputs) floatReaders.add(input);
  }
  /** Tensors already available as uint8, with the names of their scale and zero point. */
  const quantised = new Map<string, string>();
  const replacements = new Map<GraphNode, Uint8Array[]>();
  let count = 0;
  for (const node of nodes.values()) {
    if (!chosen.has(node)) continue;
    const [x, w, b] = node.inputs as [string, string, string | undefined];
    const y = node.outputs[0] as string;
    const weight = constants.get(w) as { node: GraphNode; tensor: FloatTensor };
    const bias = b === undefined ? undefined : constants.get(b);
    const xRange = ranges.get(x) as Range;
    const yRange = ranges.get(y) as Range;
    const prefix = `q8_${count}`;
    count += 1;
    const out: Uint8Array[] = [];
    const [xScale] = activationParameters(xRange);
    const [yScale, yZero] = activationParameters(yRange);
    let xq = quantised.get(x);
    if (xq === undefined) {
      xq = `${prefix}_x`;
      quantised.set(x, xq);
      const [, xZero] = activationParameters(xRange);
      out.push(constantNode(`${xq}_scale`, FLOAT, [], float32Bytes([xScale])));
      out.push(constantNode(`${xq}_zero_point`, UINT8, [], Uint8Array.of(xZero)));
      out.push(
        encodeNodeField({
          inputs: [x, `${xq}_scale`, `${xq}_zero_point`],
          outputs: [xq],
          name: `${xq}_QuantizeLinear`,
          opType: 'QuantizeLinear',
          domain,
          attributes: [],
        }),
      );
    }
    const yq = `${prefix}_y`;
    quantised.set(y, yq);
    const channels = weight.tensor.dims[0] as number;
    const perChannel = weight.tensor.data.length / channels;
    const wq = new Int8Array(weight.tensor.data.length);
    const wScale = new Float32Array(channels);
    const bq = new Int32Array(channels);
    for (let channel = 0; channel < channels; channel += 1) {
      let largest = 0;
      for (let index = 0; index < perChannel; index += 1) {
        largest = Math.max(largest, Math.abs(weight.tensor.data[channel * perChannel + index] as number));
      }
      const scale = largest > 0 ? largest / 127 : 1;
      wScale[channel] = scale;
      for (let index = 0; index < perChannel; index += 1) {
        const at = channel * perChannel + index;
        wq[at] = Math.max(-127, Math.min(127, Math.round((weight.tensor.data[at] as number) / scale)));
      }
      const biasValue = bias?.tensor?.data[channel] ?? 0;
      bq[channel] = Math.round(biasValue / (Math.fround(xScale) * (wScale[channel] as number)));
    }
    out.push(constantNode(`${prefix}_w`, INT8, weight.tensor.dims, new Uint8Array(wq.buffer)));
    out.push(constantNode(`${prefix}_w_scale`, FLOAT, [channels], new Uint8Array(wScale.buffer)));
    out.push(constantNode(`${prefix}_w_zero_point`, INT8, [channels], new Uint8Array(channels)));
    out.push(constantNode(`${yq}_scale`, FLOAT, [], float32Bytes([yScale])));
    out.push(constantNode(`${yq}_zero_point`, UINT8, [], Uint8Array.of(yZero)));
    out.push(constantNode(`${prefix}_b`, INT32, [channels], new Uint8Array(bq.buffer)));
    out.push(
      encodeNodeField({
        inputs: [
          xq,
          `${xq}_scale`,
          `${xq}_zero_point`,
          `${prefix}_w`,
          `${prefix}_w_scale`,
          `${prefix}_w_zero_point`,
          `${yq}_scale`,
          `${yq}_zero_point`,
          `${prefix}_b`,
        ],
        outputs: [yq],
        name: `${prefix}_QLinearConv`,
        opType: 'QLinearConv',
        domain,
        attributes: node.attributes,
      }),
    );
    if (floatReaders.has(y)) {
      out.push(
        encodeNodeField({
          inputs: [yq, `${yq}_scale`, `${yq}_zero_point`],
          outputs: [y],
          name: `${prefix}_DequantizeLinear`,
          opType: 'DequantizeLinear',
          domain,
          attributes: [],
        }),
      );
    }
    replacements.set(node, out);
    if (consumers.get(w) === 1) dropped.add(weight.node);
    if (bias !== undefined && b !== undefined && consumers.get(b) === 1) dropped.add(bias.node);
  }
  if (count === 0) return model;
  const graph = concat(
    graphFields.flatMap((field) => {
      const node = nodes.get(field);
      if (node === undefined) return [field.bytes];
      if (dropped.has(node)) return [];
      return replacements.get(node) ?? [field.bytes];
    }),
  );
  const fields = modelFields.map((field) => (field === graphField ? lengthDelimited(MODEL_GRAPH, graph) : field.bytes));
  if (domain !== undefined) {
    fields.push(
      lengthDelimited(
        MODEL_OPSET_IMPORT,
        concat([lengthDelimited(OPSET_DOMAIN, encoder.encode(domain)), key(OPSET_VERSION, VARINT), encodeVarint(1)]),
      ),
    );
  }
  return concat(fields);
}

function graphOutputs(graphFields: readonly Field[]): string[] {
  return graphFields
    .filter((field) => field.number === GRAPH_OUTPUT)
    .map((field) => {
      for (const inner of readFields(field.value))
        if (inner.number === VALUE_INFO_NAME) return utf8.decode(inner.value);
      return '';
    });
}

function activationParameters(range: Range): [number, number] {
  const low = Math.min(0, range.min);
  const high = Math.max(0, range.max);
  const scale = high > low ? (high - low) / 255 : 1;
  const zero = Math.max(0, Math.min(255, Math.round(-low / scale)));
  return [scale, zero];
}

function intAttribute(node: GraphNode, name: string): number | undefined {
  for (const attribute of node.attributes) {
    let found = false;
    let value: number | undefined;
    for (const field of readFields(attribute)) {
      if (field.number === ATTRIBUTE_NAME && utf8.decode(field.value) === name) found = true;
      if (field.number === 3 && field.wire === VARINT) value = readVarint(field.value, 0).value;
    }
    if (found) return value;
  }
  return undefined;
}

function constantTensor(node: GraphNode): FloatTensor | undefined {
  for (const attribute of node.attributes) {
    let name: string | undefined;
    let tensor: Uint8Array | undefined;
    for (const field of readFields(attribute)) {
      if (field.number === ATTRIBUTE_NAME) name = utf8.decode(field.value);
      if (field.number === ATTRIBUTE_TENSOR) tensor = field.value;
    }
    if (name !== 'value' || tensor === undefined) continue;
    const dims: number[] = [];
    let dataType: number | undefined;
    let raw: Uint8Array | undefined;
    for (const field of readFields(tensor)) {
      if (field.number === TENSOR_DATA_TYPE) dataType = readVarint(field.value, 0).value;
      else if (field.number === TENSOR_DIMS && field.wire === VARINT) dims.push(readVarint(field.value, 0).value);
      else if (field.number === TENSOR_DIMS && field.wire === BYTES) {
        for (let offset = 0; offset < field.value.length; ) {
          const dim = readVarint(field.value, offset);
          dims.push(dim.value);
          offset = dim.next;
        }
      } else if (field.number === TENSOR_RAW_DATA || (field.number === TENSOR_FLOAT_DATA && field.wire === BYTES)) {
        raw = field.value;
      }
    }
    if (dataType !== FLOAT || raw === undefined) return undefined;
    const data = new Float32Array(raw.length / 4);
    new Uint8Array(data.buffer).set(raw);
    return { dims, data };
  }
  return undefined;
}

function constantNode(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): Uint8Array {
  const tensor = concat([
    ...dims.flatMap((dim) => [key(TENSOR_DIMS, VARINT), encodeVarint(dim)]),
    key(TENSOR_DATA_TYPE, VARINT),
    encodeVarint(dataType),
    lengthDelimited(TENSOR_NAME, encoder.encode(name)),
    lengthDelimited(TENSOR_RAW_DATA, raw),
  ]);
  const attribute = concat([
    lengthDelimited(ATTRIBUTE_NAME, encoder.encode('value')),
    lengthDelimited(ATTRIBUTE_TENSOR, tensor),
    key(20, VARINT),
    encodeVarint(4),
  ]);
  return encodeNodeField({
    inputs: [],
    outputs: [name],
    name: `${name}_Constant`,
    opType: 'Constant',
    domain: undefined,
    attributes: [attribute],
  });
}

function float32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function readNode(value: Uint8Array, bytes: Uint8Array): GraphNode {
  const node: GraphNode = {
    inputs: [],
    outputs: [],
    name: undefined,
    opType: '',
    domain: undefined,
    attributes: [],
    bytes,
  };
  for (const field of readFields(value)) {
    if (field.wire !== BYTES) continue;
    if (field.number === NODE_INPUT) node.inputs.push(utf8.decode(field.value));
    else if (field.number === NODE_OUTPUT) node.outputs.push(utf8.decode(field.value));
    else if (field.number === NODE_NAME) node.name = utf8.decode(field.value);
    else if (field.number === NODE_OP_TYPE) node.opType = utf8.decode(field.value);
    else if (field.number === NODE_ATTRIBUTE) node.attributes.push(field.value);
    else if (field.number === NODE_DOMAIN) node.domain = utf8.decode(field.value);
  }
  return node;
}

function encodeNodeField(node: Omit<GraphNode, 'bytes'>): Uint8Array {
  return lengthDelimited(
    GRAPH_NODE,
    concat([
      ...node.inputs.map((input) => lengthDelimited(NODE_INPUT, encoder.encode(input))),
      ...node.outputs.map((output) => lengthDelimited(NODE_OUTPUT, encoder.encode(output))),
      ...(node.name === undefined ? [] : [lengthDelimited(NODE_NAME, encoder.encode(node.name))]),
      lengthDelimited(NODE_OP_TYPE, encoder.encode(node.opType)),
      ...node.attributes.map((attribute) => lengthDelimited(NODE_ATTRIBUTE, attribute)),
      ...(node.domain === undefined ? [] : [lengthDelimited(NODE_DOMAIN, encoder.encode(node.domain))]),
    ]),
  );
}

function key(number: number, wire: number): Uint8Array {
  return encodeVarint(number * 8 + wire);
}
