/**
 * What SageMaker Batch Transform does to one input object's records, as pure functions: split the object into
 * records (SplitType), filter what goes to the model (DataProcessing InputFilter), group records into requests
 * (BatchStrategy, MaxPayloadInMB), and join each answer to its input record (JoinSource, OutputFilter). The local
 * batch transform (`batch-transform.ts`) does the I/O around them.
 * See https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html and "Associate Prediction
 * Results with Input Records", https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html.
 */
import { applyRecordFilter } from './record-filter.ts';

/**
 * A failure of one input object (a record over the payload cap, a bad model answer); the job fails with
 * `ClientError` naming the object, as SageMaker does.
 */
export class ObjectFailure extends Error {
  override readonly name = 'ObjectFailure';
}

/** The DataProcessing fields of CreateTransformJob. */
export interface DataProcessing {
  readonly InputFilter?: string;
  readonly OutputFilter?: string;
  readonly JoinSource?: 'Input' | 'None';
}

const MB = 1024 * 1024;

/**
 * The records of an object: one per line with SplitType `Line` (a final empty line, the file's trailing newline,
 * is not a record), else the whole object.
 */
export function splitRecords(text: string, splitType: 'None' | 'Line' | undefined): string[] {
  if (splitType !== 'Line') return [text];
  return text.split('\n').filter((line, index, all) => !(line === '' && index === all.length - 1));
}

/** A record as JSON where it parses, else its text (a filter or join then sees a string). */
export function parseRecord(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The records as parsed JSON, where a filter or the join needs them; `undefined` entries where nothing does. */
export function parseInputs(records: readonly string[], processing: DataProcessing): unknown[] {
  const needed = Boolean(processing.InputFilter) || processing.JoinSource === 'Input';
  return records.map((record) => (needed ? parseRecord(record) : undefined));
}

/** What goes to the model for each record: the InputFilter's selection (as JSON), or the record unchanged. */
export function modelInputs(
  records: readonly string[],
  parsed: readonly unknown[],
  processing: DataProcessing,
): string[] {
  const filter = processing.InputFilter;
  if (!filter) return [...records];
  return records.map((_, index) => JSON.stringify(applyRecordFilter(filter, parsed[index])));
}

/** How records are grouped into requests. */
export interface PayloadSettings {
  /** MaxPayloadInMB; 0 means no cap but SageMaker's 100 MB. */
  readonly maxPayloadInMB: number;
  readonly batchStrategy: 'MultiRecord' | 'SingleRecord';
}

/**
 * Groups record indexes into requests: with `SingleRecord` one record per request; with `MultiRecord` as many
 * consecutive records as fit in MaxPayloadInMB, each counted with its line separator. A single record over the cap
 * fails the object with SageMaker's message.
 */
export function batchPayloads(inputs: readonly string[], settings: PayloadSettings): number[][] {
  const cap = (settings.maxPayloadInMB || 100) * MB;
  const batches: number[][] = [];
  let current: number[] = [];
  let size = 0;
  inputs.forEach((record, index) => {
    const bytes = Buffer.byteLength(record) + 1;
    if (bytes > cap) throw new ObjectFailure('Too much data for max payload size');
    if (settings.batchStrategy === 'SingleRecord' || size + bytes > cap) {
      if (current.length > 0) batches.push(current);
      current = [];
      size = 0;
    }
    current.push(index);
    size += bytes;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * The output line of each record: the model's answer, or with JoinSource `Input` the input record with the answer
 * under `SageMakerOutput`, then narrowed by OutputFilter.
 */
export function joinOutputs(
  outputs: readonly string[],
  parsedInputs: readonly unknown[],
  processing: DataProcessing,
): string[] {
  return outputs.map((output, index) => {
    if (processing.JoinSource !== 'Input' && !processing.OutputFilter) return output;
    let value: unknown = parseRecord(output);
    if (processing.JoinSource === 'Input') {
      const source = parsedInputs[index];
      if (source === null || typeof source !== 'object' || Array.isArray(source))
        throw new ObjectFailure('JoinSource Input needs JSON object records');
      value = { ...(source as Record<string, unknown>), SageMakerOutput: value };
    }
    return JSON.stringify(processing.OutputFilter ? applyRecordFilter(processing.OutputFilter, value) : value);
  });
}
