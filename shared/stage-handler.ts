/**
 * The one shape every stage's Lambda handler has: parse the event at the edge, build the stage's dependencies once
 * from the entry point's wiring, log with the stage and run id, log a failure in one form, call the stage function.
 *
 * The wiring is injected, so the same handler runs in Lambda (wired from its environment, `shared/aws/lambda-wiring.ts`)
 * and in the local runtime (wired to the local servers and a log file), and tests pass their own stores.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import type { StageConfig } from './config.ts';
import { InvalidInputError } from './errors.ts';
import { formatIssues } from './execution-input.ts';
import { forRun, type Log } from './logging.ts';
import type {
  Clock,
  ExecutionStarter,
  Notifier,
  ObjectStore,
  PredictionStore,
  RunStore,
  TransformJobControl,
} from './ports.ts';

/**
 * What an entry point hands a stage: its configuration, ports and logger. Implementations build each member on
 * first access, so a stage builds only the clients it uses, and a setting it needs but lacks fails its first
 * invocation, naming the setting.
 */
export interface StageWiring {
  readonly config: StageConfig;
  readonly objects: ObjectStore;
  readonly runs: RunStore;
  readonly predictions: PredictionStore;
  readonly notifier: Notifier;
  readonly starter: ExecutionStarter;
  /** Stops a run's transform job (finalize-failure: an aborted or failed execution must not leave the GPU billing). */
  readonly transformJobs: TransformJobControl;
  readonly clock: Clock;
  /** The stage's structured logger (every line carries `stage`); the handler adds `runId`. */
  readonly logger: Logger;
}

/** Builds the wiring of one stage; called once per handler, on its first invocation (never at import). */
export type Wire = (stage: string) => StageWiring;

/** A stage's Lambda handler: the raw event in (Lambda passes a context too; no stage reads it), the result out. */
export type StageHandler<Result> = (event: unknown) => Promise<Result>;

/**
 * What a stage's handler module exports as `createHandler`: the handler over a wiring, and the run an event belongs
 * to (undefined for an event the schema refuses), for callers that report a failed invocation.
 */
export type StageHandlerFactory<Result> = ((wire: Wire) => StageHandler<Result>) & {
  readonly runIdOf: (event: unknown) => string | undefined;
};

/** How one stage is called; see {@link stageHandler}. */
export interface StageDefinition<Event, Deps, Result> {
  /** The stage name, on every log line. */
  readonly stage: string;
  /** The event's schema; an event that fails it is an InvalidInputError naming each field. */
  readonly schema: z.ZodType<Event>;
  /** What the event is called in that error. @default `<stage> event` */
  readonly eventName?: string;
  /** The run an event belongs to, on every log line. */
  readonly runId: (event: Event) => string;
  /** Picks (and builds) the stage function's dependencies from the wiring; called once. */
  readonly wire: (wiring: StageWiring) => Deps | Promise<Deps>;
  readonly run: (event: Event, deps: Deps & { readonly log: Log }) => Promise<Result>;
}

/**
 * Turns a stage definition into a handler factory: `createHandler(wire)` returns the handler. The dependencies are
 * built on the first invocation and kept while the execution environment lives (as a warm Lambda keeps its
 * clients); a failure to build them fails that invocation and the next one tries again.
 */
export function stageHandler<Event, Deps, Result>(
  definition: StageDefinition<Event, Deps, Result>,
): StageHandlerFactory<Result> {
  const { stage, schema, run } = definition;
  const eventName = definition.eventName ?? `${stage} event`;
  const runIdOf = (event: unknown): string | undefined => {
    const parsed = schema.safeParse(event);
    return parsed.success ? definition.runId(parsed.data) : undefined;
  };
  const createHandler = (wire: Wire): StageHandler<Result> => {
    let built: Promise<{ readonly deps: Deps; readonly logger: Logger }> | undefined;
    const build = async () => {
      const wiring = wire(stage);
      return { deps: await definition.wire(wiring), logger: wiring.logger };
    };
    return async (raw) => {
      built ??= build().catch((error: unknown) => {
        built = undefined;
        throw error;
      });
      const { deps, logger } = await built;
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const error = new InvalidInputError(formatIssues(parsed.error, eventName));
        forRun(logger, 'unknown').error(`${stage} failed`, { error });
        throw error;
      }
      const log = forRun(logger, definition.runId(parsed.data));
      try {
        return await run(parsed.data, { ...deps, log });
      } catch (error) {
        log.error(`${stage} failed`, { error });
        throw error;
      }
    };
  };
  return Object.assign(createHandler, { runIdOf });
}
