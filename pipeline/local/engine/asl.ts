/**
 * The Amazon States Language as the engine holds a checked definition: the types of every state and of the
 * Distributed Map's parts, after `definition.ts` has normalised them (legacy `Iterator` is `ItemProcessor`, a Map's
 * `Parameters` is `ItemSelector`, Retry defaults are filled in, Choice rules are compiled). Field names are those
 * of the ASL specification (https://states-language.net/spec.html) and the Step Functions Developer Guide.
 */
import type { JsonPath } from './json-path.ts';

export type PayloadTemplate = Readonly<Record<string, unknown>>;

export interface Retrier {
  readonly ErrorEquals: readonly string[];
  /** @default 1 */
  readonly IntervalSeconds: number;
  /** @default 3 */
  readonly MaxAttempts: number;
  /** @default 2.0 */
  readonly BackoffRate: number;
  readonly MaxDelaySeconds?: number;
  /** @default NONE */
  readonly JitterStrategy: 'FULL' | 'NONE';
}

export interface Catcher {
  readonly ErrorEquals: readonly string[];
  readonly Next: string;
  /** @default '$' */
  readonly ResultPath?: string | null;
}

export interface Transition {
  readonly Next?: string;
  readonly End?: boolean;
}

export interface Common {
  readonly Comment?: string;
  readonly InputPath?: string | null;
  readonly OutputPath?: string | null;
}

export interface ResultHandling {
  readonly ResultPath?: string | null;
  readonly ResultSelector?: PayloadTemplate;
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
}

export interface PassState extends Common, Transition {
  readonly Type: 'Pass';
  readonly Result?: unknown;
  readonly ResultPath?: string | null;
  readonly Parameters?: PayloadTemplate;
}

export interface TaskState extends Common, Transition, ResultHandling {
  readonly Type: 'Task';
  readonly Resource: string;
  readonly Parameters?: PayloadTemplate;
  readonly TimeoutSeconds?: number;
  readonly TimeoutSecondsPath?: string;
  readonly HeartbeatSeconds?: number;
  readonly HeartbeatSecondsPath?: string;
}

export type ChoiceCondition =
  | { readonly kind: 'and' | 'or'; readonly rules: readonly ChoiceCondition[] }
  | { readonly kind: 'not'; readonly rule: ChoiceCondition }
  | {
      readonly kind: 'test';
      readonly variable: JsonPath;
      readonly operator: string;
      /** The literal to compare with, or the path to read it from (`...Path` operators). */
      readonly value: unknown;
      readonly valuePath?: JsonPath;
    };

export interface ChoiceState extends Common {
  readonly Type: 'Choice';
  readonly Choices: readonly { readonly condition: ChoiceCondition; readonly Next: string }[];
  readonly Default?: string;
}

export interface WaitState extends Common, Transition {
  readonly Type: 'Wait';
  readonly Seconds?: number;
  readonly SecondsPath?: string;
  readonly Timestamp?: string;
  readonly TimestampPath?: string;
}

export interface SucceedState extends Common {
  readonly Type: 'Succeed';
}

export interface FailState {
  readonly Type: 'Fail';
  readonly Comment?: string;
  readonly Error?: string;
  readonly ErrorPath?: string;
  readonly Cause?: string;
  readonly CausePath?: string;
}

export interface ParallelState extends Common, Transition, ResultHandling {
  readonly Type: 'Parallel';
  readonly Branches: readonly StateMachineGraph[];
  readonly Parameters?: PayloadTemplate;
}

export type ExecutionType = 'STANDARD' | 'EXPRESS';

export interface ItemProcessor extends StateMachineGraph {
  readonly ProcessorConfig: { readonly Mode: 'INLINE' | 'DISTRIBUTED'; readonly ExecutionType?: ExecutionType };
}

export type ReaderInputType = 'JSON' | 'JSONL' | 'CSV';

export interface ItemReaderConfig {
  readonly Resource: string;
  readonly action: 'listObjectsV2' | 'getObject';
  readonly Parameters: PayloadTemplate;
  readonly ReaderConfig: {
    readonly InputType?: ReaderInputType;
    readonly CSVHeaderLocation?: 'FIRST_ROW' | 'GIVEN';
    readonly CSVHeaders?: readonly string[];
    readonly CSVDelimiter?: 'COMMA' | 'PIPE' | 'SEMICOLON' | 'SPACE' | 'TAB';
    readonly MaxItems?: number;
    readonly MaxItemsPath?: string;
  };
}

export interface ItemBatcherConfig {
  readonly MaxItemsPerBatch?: number;
  readonly MaxItemsPerBatchPath?: string;
  readonly MaxInputBytesPerBatch?: number;
  readonly MaxInputBytesPerBatchPath?: string;
  readonly BatchInput?: PayloadTemplate;
}

export interface ResultWriterConfig {
  /** Absent with a WriterConfig alone: the transformed results become the state output. */
  readonly Resource?: string;
  readonly Parameters?: PayloadTemplate;
  readonly WriterConfig?: {
    readonly Transformation?: 'NONE' | 'COMPACT' | 'FLATTEN';
    readonly OutputType?: 'JSON' | 'JSONL';
  };
}

export interface MapState extends Common, Transition, ResultHandling {
  readonly Type: 'Map';
  readonly ItemProcessor: ItemProcessor;
  readonly ItemsPath?: string;
  readonly ItemSelector?: PayloadTemplate;
  readonly MaxConcurrency?: number;
  readonly MaxConcurrencyPath?: string;
  readonly ItemReader?: ItemReaderConfig;
  readonly ItemBatcher?: ItemBatcherConfig;
  readonly ResultWriter?: ResultWriterConfig;
  readonly ToleratedFailurePercentage?: number;
  readonly ToleratedFailurePercentagePath?: string;
  readonly ToleratedFailureCount?: number;
  readonly ToleratedFailureCountPath?: string;
  readonly Label?: string;
}

export type State =
  | PassState
  | TaskState
  | ChoiceState
  | WaitState
  | SucceedState
  | FailState
  | ParallelState
  | MapState;

export interface StateMachineGraph {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, State>>;
}

export interface StateMachineDefinition extends StateMachineGraph {
  readonly Comment?: string;
  readonly TimeoutSeconds?: number;
}

/** RFC 3339 as Step Functions accepts it: `2016-03-14T01:59:00Z`, with optional fraction and a `Z` or an offset. */
export function parseTimestamp(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
