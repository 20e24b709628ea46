import { appendFileSync } from 'node:fs';
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
import type { LogLevel } from '../../shared/logging.ts';

/**
 * A Powertools logger that appends its JSON lines to a JSON Lines file instead of stdout: the local runtime's stage
 * logs, searchable with `grep` or `jq`, leaving the terminal to the progress display. Each line is exactly what the
 * stage prints in Lambda (same keys: `service`, `stage`, `runId`, ...).
 *
 * Powertools documents subclassing for this: `createLogger` is the factory `createChild` uses (so the run-scoped
 * children write to the same file), and `printLog` is the protected method that writes one formatted item.
 */
export class StageLogFile extends Logger {
  private file: string | undefined;

  /** A logger for one stage; every line carries `stage`, as `createStageLogger` does in Lambda. */
  static forStage(file: string, stage: string, level: LogLevel = 'INFO'): StageLogFile {
    return new StageLogFile(file, { serviceName: 'nightshift', logLevel: level, persistentKeys: { stage } });
  }

  constructor(file: string, options: ConstructorOptions = {}) {
    super(options);
    this.file = file;
  }

  protected override createLogger(options?: ConstructorOptions): Logger {
    return new StageLogFile(this.file ?? '', options);
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    // Lines logged while the base constructor runs (its own configuration warnings) precede the file name.
    if (this.file === undefined) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    appendFileSync(this.file, `${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }
}
