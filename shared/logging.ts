import { Logger } from '@aws-lambda-powertools/logger';

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

/** A child of a stage logger whose every line also carries the run id. */
export function forRun(logger: Logger, runId: string): Logger {
  return logger.createChild({ persistentKeys: { runId } });
}
