import { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';

/** The logging port stage functions take: structured, one JSON object per line. */
export interface Log {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

export interface StageLoggerOptions {
  readonly stage: string;
  readonly level?: LogLevel;
}

/** A Powertools JSON logger for one stage; every line carries `service` and `stage`. */
export function createStageLogger(options: StageLoggerOptions): Logger {
  return new Logger({
    serviceName: 'nightshift',
    logLevel: options.level ?? 'INFO',
    persistentKeys: { stage: options.stage },
  });
}

/** The logging port over a Powertools logger. */
export function asLog(logger: Logger): Log {
  const extra = (attributes?: Record<string, unknown>): LogAttributes[] =>
    attributes === undefined ? [] : [attributes as LogAttributes];
  return {
    debug: (message, attributes) => logger.debug(message, ...extra(attributes)),
    info: (message, attributes) => logger.info(message, ...extra(attributes)),
    warn: (message, attributes) => logger.warn(message, ...extra(attributes)),
    error: (message, attributes) => logger.error(message, ...extra(attributes)),
  };
}

/** A child of a stage logger whose every line also carries the run id. */
export function forRun(logger: Logger, runId: string): Log {
  return asLog(logger.createChild({ persistentKeys: { runId } }));
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
