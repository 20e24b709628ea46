/** The local Step Functions engine's public API (what it supports and refuses: README.md in this folder). */
export type { ChoiceCondition, StateMachineDefinition } from './asl.ts';
export { dynamoDbIntegration } from './dynamodb-integration.ts';
export { DefinitionError, EngineError, ExecutionInputError, StatesError, StatesErrors } from './engine-errors.ts';
export { type EngineLog, silentEngineLog } from './engine-log.ts';
export type { ExecutionResult, ExecutionStatus, MapRunDescription, MapRunItemCounts } from './engine-types.ts';
export { HISTORY_EVENT_LIMIT } from './execution-history.ts';
export {
  type ContextObject,
  IntegrationRegistry,
  serviceIntegration,
  type TaskIntegration,
  type TaskInvocation,
} from './integrations.ts';
export {
  type JsonPath,
  JsonPathSyntaxError,
  parseJsonPath,
  type Segment as JsonPathSegment,
} from './json-path.ts';
export { type LambdaHandler, type LocalLambdaFunction, lambdaIntegration } from './lambda-integration.ts';
export {
  type ExecutionHandle,
  LocalEngine,
  type LocalEngineOptions,
  type StartExecutionRequest,
} from './local-engine.ts';
export { PAYLOAD_LIMIT_BYTES } from './payload-limit.ts';
export type { ProgressEvent, ProgressListener } from './progress-events.ts';
export {
  type EngineClock,
  realClock,
  realSleeper,
  type Sleeper,
  type SleepOptions,
  type SleepReason,
} from './timers.ts';
