/**
 * The engine's logging port. It has the shape of the project's `Log` (shared/logging.ts) so a caller passes its own
 * logger unchanged, but the engine declares it itself: the engine is a component that imports nothing of ours.
 */
export interface EngineLog {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** Drops everything: the engine's default when the caller gives no logger. */
export const silentEngineLog: EngineLog = { debug() {}, info() {}, warn() {}, error() {} };
