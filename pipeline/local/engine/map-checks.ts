/**
 * The Map state check, inline and Distributed: ItemProcessor and its ProcessorConfig, ItemsPath/ItemSelector,
 * MaxConcurrency, the failure tolerance, and the Distributed Map's ItemReader, ItemBatcher and ResultWriter ("Map
 * state in Distributed mode" in the Developer Guide). S3 is the only item source and result sink the engine runs.
 */
import type {
  ExecutionType,
  ItemBatcherConfig,
  ItemProcessor,
  ItemReaderConfig,
  MapState,
  ResultWriterConfig,
  StateMachineGraph,
} from './asl.ts';
import type { FieldChecker } from './field-checks.ts';
import { isPlainObject } from './json-path.ts';

const S3_READER = /^arn:aws[a-z-]*:states:::s3:(listObjectsV2|getObject)$/;
const S3_WRITER = /^arn:aws[a-z-]*:states:::s3:putObject$/;

/** Map fields that only a Map in DISTRIBUTED mode may have. */
export const DISTRIBUTED_ONLY_FIELDS = [
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
  'Label',
] as const;

/** What the Map check needs of the whole check. */
export interface MapCheckOptions {
  /** Whether an S3 client is there for ItemReader and ResultWriter. */
  readonly s3: boolean;
  /** Checks a nested graph; `prefix` is the state path of its `States`, ending in a dot. */
  readonly graph: (value: Record<string, unknown>, prefix: string) => StateMachineGraph;
}

/** A Map state's own fields, without those every state has (Comment, paths, Next/End, Retry/Catch). */
export type MapFields = Omit<
  MapState,
  'Type' | 'Comment' | 'InputPath' | 'OutputPath' | 'Next' | 'End' | 'ResultPath' | 'ResultSelector' | 'Retry' | 'Catch'
>;

/**
 * Checks a Map state's own fields (inline or Distributed); the caller adds the fields every state has. `graph` checks
 * the ItemProcessor's states, which may hold further Maps.
 */
export function checkMapFields(
  check: FieldChecker,
  value: Record<string, unknown>,
  where: string,
  options: MapCheckOptions,
): MapFields {
  if ('Iterator' in value && 'ItemProcessor' in value)
    check.problem(where, 'has both "Iterator" and "ItemProcessor"; use one');
  if ('Parameters' in value && 'ItemSelector' in value)
    check.problem(where, 'has both "Parameters" and "ItemSelector"; use one');
  const processorField = 'ItemProcessor' in value ? 'ItemProcessor' : 'Iterator';
  const rawProcessor = value[processorField];
  let processor: ItemProcessor = { StartAt: '', States: {}, ProcessorConfig: { Mode: 'INLINE' } };
  if (!isPlainObject(rawProcessor))
    check.problem(`${where}.ItemProcessor`, 'is required: an object with StartAt and States');
  else {
    const at = `${where}.${processorField}`;
    check.queryLanguage(rawProcessor, at);
    check.onlyFields(rawProcessor, ['StartAt', 'States', 'Comment', 'ProcessorConfig', 'QueryLanguage'], at);
    const config = rawProcessor.ProcessorConfig ?? { Mode: 'INLINE' };
    let processorConfig: ItemProcessor['ProcessorConfig'] = { Mode: 'INLINE' };
    if (!isPlainObject(config)) check.problem(`${at}.ProcessorConfig`, 'must be an object');
    else {
      check.onlyFields(config, ['Mode', 'ExecutionType'], `${at}.ProcessorConfig`);
      const mode = config.Mode ?? 'INLINE';
      if (mode !== 'INLINE' && mode !== 'DISTRIBUTED')
        check.problem(`${at}.ProcessorConfig.Mode`, 'must be INLINE or DISTRIBUTED');
      if (mode === 'DISTRIBUTED') {
        if (config.ExecutionType !== 'STANDARD' && config.ExecutionType !== 'EXPRESS') {
          check.problem(`${at}.ProcessorConfig.ExecutionType`, 'is required in DISTRIBUTED mode: STANDARD or EXPRESS');
        }
        processorConfig = { Mode: 'DISTRIBUTED', ExecutionType: config.ExecutionType as ExecutionType };
      } else if (config.ExecutionType !== undefined) {
        check.problem(`${at}.ProcessorConfig.ExecutionType`, 'applies only in DISTRIBUTED mode');
      }
    }
    processor = { ...options.graph(rawProcessor, `${at}.`), ProcessorConfig: processorConfig };
  }
  const distributed = processor.ProcessorConfig.Mode === 'DISTRIBUTED';
  for (const field of DISTRIBUTED_ONLY_FIELDS) {
    if (!distributed && field in value) check.problem(`${where}.${field}`, 'applies only to a Map in DISTRIBUTED mode');
  }
  const selectorField = 'Parameters' in value ? 'Parameters' : 'ItemSelector';
  const itemSelector = check.template(value, selectorField, where);
  const itemsPath = value.ItemsPath === undefined ? undefined : check.path(value.ItemsPath, `${where}.ItemsPath`);
  if (itemsPath && 'ItemReader' in value)
    check.problem(`${where}.ItemsPath`, 'cannot be used together with ItemReader');
  const maxConcurrency = check.optionalInteger(value, 'MaxConcurrency', where, 0);
  const maxConcurrencyPath = check.optionalReferencePath(value, 'MaxConcurrencyPath', where);
  if (maxConcurrency !== undefined && maxConcurrencyPath !== undefined) {
    check.problem(where, 'has both "MaxConcurrency" and "MaxConcurrencyPath"; use one');
  }
  const percentage = value.ToleratedFailurePercentage;
  if (percentage !== undefined && (typeof percentage !== 'number' || percentage < 0 || percentage > 100)) {
    check.problem(`${where}.ToleratedFailurePercentage`, 'must be a number from 0 to 100');
  }
  const count = check.optionalInteger(value, 'ToleratedFailureCount', where, 0);
  const percentagePath = check.optionalReferencePath(value, 'ToleratedFailurePercentagePath', where);
  const countPath = check.optionalReferencePath(value, 'ToleratedFailureCountPath', where);
  if (
    value.Label !== undefined &&
    (typeof value.Label !== 'string' || !/^[^\s<>{}[\]?*"#%\\^|~`$&,;:/]{1,40}$/.test(value.Label))
  ) {
    check.problem(`${where}.Label`, 'must be at most 40 characters, without white space or special characters');
  }
  const itemReader =
    value.ItemReader === undefined
      ? undefined
      : checkItemReader(check, options, value.ItemReader, `${where}.ItemReader`);
  const itemBatcher =
    value.ItemBatcher === undefined ? undefined : checkItemBatcher(check, value.ItemBatcher, `${where}.ItemBatcher`);
  const resultWriter =
    value.ResultWriter === undefined
      ? undefined
      : checkResultWriter(check, options, value.ResultWriter, `${where}.ResultWriter`);
  return {
    ItemProcessor: processor,
    ...(itemsPath ? { ItemsPath: value.ItemsPath as string } : {}),
    ...(itemSelector === undefined ? {} : { ItemSelector: itemSelector }),
    ...(maxConcurrency === undefined ? {} : { MaxConcurrency: maxConcurrency }),
    ...(maxConcurrencyPath === undefined ? {} : { MaxConcurrencyPath: maxConcurrencyPath }),
    ...(itemReader === undefined ? {} : { ItemReader: itemReader }),
    ...(itemBatcher === undefined ? {} : { ItemBatcher: itemBatcher }),
    ...(resultWriter === undefined ? {} : { ResultWriter: resultWriter }),
    ...(typeof percentage === 'number' ? { ToleratedFailurePercentage: percentage } : {}),
    ...(percentagePath === undefined ? {} : { ToleratedFailurePercentagePath: percentagePath }),
    ...(count === undefined ? {} : { ToleratedFailureCount: count }),
    ...(countPath === undefined ? {} : { ToleratedFailureCountPath: countPath }),
    ...(typeof value.Label === 'string' ? { Label: value.Label } : {}),
  };
}

function checkItemReader(
  check: FieldChecker,
  options: MapCheckOptions,
  value: unknown,
  where: string,
): ItemReaderConfig | undefined {
  if (!isPlainObject(value)) {
    check.problem(where, 'must be an object with Resource, Parameters and ReaderConfig');
    return undefined;
  }
  check.onlyFields(value, ['Resource', 'Parameters', 'ReaderConfig'], where);
  const match = typeof value.Resource === 'string' ? S3_READER.exec(value.Resource) : null;
  if (!match) {
    check.problem(
      `${where}.Resource`,
      'the local engine reads items with arn:aws:states:::s3:listObjectsV2 or arn:aws:states:::s3:getObject only',
    );
    return undefined;
  }
  const action = match[1] as 'listObjectsV2' | 'getObject';
  if (!options.s3) check.problem(`${where}.Resource`, "reading items from S3 needs the engine's s3 client option");
  const parameters = check.template(value, 'Parameters', where) ?? {};
  const allowedParameters = action === 'listObjectsV2' ? ['Bucket', 'Prefix'] : ['Bucket', 'Key', 'VersionId'];
  check.onlyFields(
    parameters,
    allowedParameters.flatMap((p) => [p, `${p}.$`]),
    `${where}.Parameters`,
  );
  if (!('Bucket' in parameters) && !('Bucket.$' in parameters))
    check.problem(`${where}.Parameters.Bucket`, 'is required');
  if (action === 'getObject' && !('Key' in parameters) && !('Key.$' in parameters)) {
    check.problem(`${where}.Parameters.Key`, 'is required with s3:getObject');
  }
  const config = value.ReaderConfig ?? {};
  if (!isPlainObject(config)) {
    check.problem(`${where}.ReaderConfig`, 'must be an object');
    return undefined;
  }
  const at = `${where}.ReaderConfig`;
  check.onlyFields(
    config,
    ['InputType', 'CSVHeaderLocation', 'CSVHeaders', 'CSVDelimiter', 'MaxItems', 'MaxItemsPath'],
    at,
  );
  const inputType = config.InputType;
  if (action === 'getObject') {
    if (inputType === 'MANIFEST' || inputType === 'PARQUET') {
      check.problem(
        `${at}.InputType`,
        `${inputType} input is not supported by the local engine (JSON, JSONL and CSV are)`,
      );
    } else if (inputType !== 'JSON' && inputType !== 'JSONL' && inputType !== 'CSV') {
      check.problem(`${at}.InputType`, 'is required with s3:getObject: JSON, JSONL or CSV');
    }
  } else if (inputType !== undefined) {
    check.problem(`${at}.InputType`, 'does not apply to s3:listObjectsV2');
  }
  if (inputType === 'CSV') {
    if (config.CSVHeaderLocation !== 'FIRST_ROW' && config.CSVHeaderLocation !== 'GIVEN') {
      check.problem(`${at}.CSVHeaderLocation`, 'is required with CSV input: FIRST_ROW or GIVEN');
    }
    if (config.CSVHeaderLocation === 'GIVEN') {
      if (
        !Array.isArray(config.CSVHeaders) ||
        config.CSVHeaders.some((h) => typeof h !== 'string') ||
        config.CSVHeaders.length === 0
      ) {
        check.problem(`${at}.CSVHeaders`, 'is required with CSVHeaderLocation GIVEN: an array of column names');
      }
    } else if (config.CSVHeaders !== undefined) {
      check.problem(`${at}.CSVHeaders`, 'applies only with CSVHeaderLocation GIVEN');
    }
    if (
      config.CSVDelimiter !== undefined &&
      !['COMMA', 'PIPE', 'SEMICOLON', 'SPACE', 'TAB'].includes(config.CSVDelimiter as string)
    ) {
      check.problem(`${at}.CSVDelimiter`, 'must be COMMA, PIPE, SEMICOLON, SPACE or TAB');
    }
  } else {
    for (const field of ['CSVHeaderLocation', 'CSVHeaders', 'CSVDelimiter']) {
      if (field in config) check.problem(`${at}.${field}`, 'applies only to CSV input');
    }
  }
  const maxItems = check.optionalInteger(config, 'MaxItems', at, 0);
  const maxItemsPath = check.optionalReferencePath(config, 'MaxItemsPath', at);
  if (maxItems !== undefined && maxItemsPath !== undefined)
    check.problem(at, 'has both "MaxItems" and "MaxItemsPath"; use one');
  return {
    Resource: value.Resource as string,
    action,
    Parameters: parameters,
    ReaderConfig: config as ItemReaderConfig['ReaderConfig'],
  };
}

function checkItemBatcher(check: FieldChecker, value: unknown, where: string): ItemBatcherConfig | undefined {
  if (!isPlainObject(value)) {
    check.problem(where, 'must be an object');
    return undefined;
  }
  check.onlyFields(
    value,
    ['MaxItemsPerBatch', 'MaxItemsPerBatchPath', 'MaxInputBytesPerBatch', 'MaxInputBytesPerBatchPath', 'BatchInput'],
    where,
  );
  const items = check.optionalInteger(value, 'MaxItemsPerBatch', where, 1);
  const bytes = check.optionalInteger(value, 'MaxInputBytesPerBatch', where, 1);
  // "MaxInputBytesPerBatch ... the maximum size of a batch is 256 KiB" (ItemBatcher (Map) in the Developer Guide).
  if (bytes !== undefined && bytes > 262_144)
    check.problem(`${where}.MaxInputBytesPerBatch`, 'must be at most 262144 (256 KiB)');
  const itemsPath = check.optionalReferencePath(value, 'MaxItemsPerBatchPath', where);
  const bytesPath = check.optionalReferencePath(value, 'MaxInputBytesPerBatchPath', where);
  if (items === undefined && bytes === undefined && itemsPath === undefined && bytesPath === undefined) {
    check.problem(where, 'needs MaxItemsPerBatch(Path) or MaxInputBytesPerBatch(Path)');
  }
  check.template(value, 'BatchInput', where);
  return value as ItemBatcherConfig;
}

function checkResultWriter(
  check: FieldChecker,
  options: MapCheckOptions,
  value: unknown,
  where: string,
): ResultWriterConfig | undefined {
  if (!isPlainObject(value)) {
    check.problem(where, 'must be an object');
    return undefined;
  }
  check.onlyFields(value, ['Resource', 'Parameters', 'WriterConfig'], where);
  const hasResource = value.Resource !== undefined;
  if (hasResource && (typeof value.Resource !== 'string' || !S3_WRITER.test(value.Resource))) {
    check.problem(`${where}.Resource`, 'the local engine writes results with arn:aws:states:::s3:putObject only');
  }
  if (hasResource !== (value.Parameters !== undefined)) check.problem(where, 'Resource and Parameters go together');
  if (!hasResource && value.WriterConfig === undefined)
    check.problem(where, 'needs Resource and Parameters, or WriterConfig');
  const parameters = check.template(value, 'Parameters', where);
  if (hasResource && !options.s3)
    check.problem(`${where}.Resource`, "writing results to S3 needs the engine's s3 client option");
  if (parameters !== undefined) {
    check.onlyFields(parameters, ['Bucket', 'Bucket.$', 'Prefix', 'Prefix.$'], `${where}.Parameters`);
    if (!('Bucket' in parameters) && !('Bucket.$' in parameters))
      check.problem(`${where}.Parameters.Bucket`, 'is required');
  }
  if (value.WriterConfig !== undefined) {
    const config = value.WriterConfig;
    if (!isPlainObject(config)) check.problem(`${where}.WriterConfig`, 'must be an object');
    else {
      check.onlyFields(config, ['Transformation', 'OutputType'], `${where}.WriterConfig`);
      if (
        config.Transformation !== undefined &&
        !['NONE', 'COMPACT', 'FLATTEN'].includes(config.Transformation as string)
      ) {
        check.problem(`${where}.WriterConfig.Transformation`, 'must be NONE, COMPACT or FLATTEN');
      }
      if (config.OutputType !== undefined && !['JSON', 'JSONL'].includes(config.OutputType as string)) {
        check.problem(`${where}.WriterConfig.OutputType`, 'must be JSON or JSONL');
      }
    }
  }
  return value as ResultWriterConfig;
}
