import type { Clock } from '../../shared/ports.ts';
import { CliFailure, explainAwsError } from '../run-backend/failures.ts';
import type { LocalRunBackend, LocalRunBackendModule, RunBackend } from '../run-backend/run-backend.ts';
import type { AwsClientOptions, AwsClients } from './aws-clients.ts';
import type { CliIo } from './io.ts';
import { type Painter, painter } from './output.ts';
import type { StackOutputs } from './stack-outputs.ts';

/** What the CLI reaches outside itself; `main` takes overrides so tests never wait, open browsers or need AWS. */
export interface CliDeps {
  readonly createAwsClients: (options: AwsClientOptions) => AwsClients;
  /** Imports the local backend on first use of `--local` (it pulls in aws-cdk-lib and the engine). */
  readonly loadLocalBackend: () => Promise<LocalRunBackendModule>;
  /** Waits between polls of `watch`. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly clock: Clock;
  /** Opens a file with the desktop's default application; false when there is no opener. */
  readonly openFile: (path: string) => Promise<boolean>;
  /** The repository root: `.nightshift/` lives here unless NIGHTSHIFT_HOME or --state-dir say otherwise. */
  readonly projectRoot: string;
}

/** The RUN argument that names the newest run. */
export const LATEST_RUN = 'latest';

/** Options every command takes. */
export interface GlobalOptions {
  readonly stack: string;
  readonly region?: string;
  readonly profile?: string;
  readonly local: boolean;
  readonly stateDir?: string;
  readonly json: boolean;
  readonly verbose: boolean;
}

/**
 * One command invocation: its options, the {@link RunBackend} `--local` picks, and the lazily built, cached AWS
 * clients and stack outputs (for the AWS backend, and for commands that only exist on AWS).
 */
export class CommandContext {
  readonly paint: Painter;
  private awsClients?: AwsClients;
  private regionPromise?: Promise<string>;
  private stackPromise?: Promise<StackOutputs>;
  private backendPromise?: Promise<RunBackend>;
  private localBackendPromise?: Promise<LocalRunBackend>;
  private readonly closers: (() => Promise<void> | void)[] = [];

  constructor(
    readonly io: CliIo,
    readonly global: GlobalOptions,
    readonly deps: CliDeps,
  ) {
    this.paint = painter(io);
  }

  /** Where runs live for this command: the local runtime with `--local`, else the `--stack` on AWS. */
  backend(): Promise<RunBackend> {
    this.backendPromise ??= this.global.local ? this.localBackend() : this.awsBackend();
    return this.backendPromise;
  }

  /**
   * A RUN argument: a run id, or `latest` for the newest run of the backend (so `nightshift status latest --local`
   * works as written after `npm run demo`).
   */
  async runId(backend: RunBackend, run: string): Promise<string> {
    if (run !== LATEST_RUN) return run;
    const newest = (await backend.runs({ limit: 1 })).runs[0];
    if (!newest) {
      throw new CliFailure(
        'RUN_NOT_FOUND',
        `no runs yet in ${await backend.where()}, so there is no latest run: ${
          backend.selector ? 'run `npm run demo` first' : 'start one with `nightshift start`'
        }`,
      );
    }
    return newest.runId;
  }

  /** The local runtime's backend, for `--local` and for the commands that only run locally (`demo`, `run`). */
  localBackend(): Promise<LocalRunBackend> {
    this.localBackendPromise ??= this.deps.loadLocalBackend().then((module) => {
      const backend = module.createLocalRunBackend({
        io: this.io,
        json: this.global.json,
        ...(this.global.stateDir ? { stateDir: this.global.stateDir } : {}),
        projectRoot: this.deps.projectRoot,
        clock: this.deps.clock,
        sleep: this.deps.sleep,
      });
      this.closers.push(() => backend.close());
      return backend;
    });
    return this.localBackendPromise;
  }

  /** The AWS clients (built on first use). */
  aws(): AwsClients {
    if (!this.awsClients) {
      const clients = this.deps.createAwsClients({
        ...(this.global.region ? { region: this.global.region } : {}),
        ...(this.global.profile ? { profile: this.global.profile } : {}),
        env: this.io.env,
      });
      this.awsClients = clients;
      this.closers.push(() => clients.destroy());
    }
    return this.awsClients;
  }

  /** The region the AWS clients use, with a one-line error when none is configured. */
  region(): Promise<string> {
    this.regionPromise ??= this.aws()
      .region()
      .catch((error: unknown) => {
        throw explainAwsError(error, 'resolving the AWS region');
      });
    return this.regionPromise;
  }

  /** The `--stack` outputs, read once per invocation (`start --wait` and `redrive --wait` reuse them). */
  stack(): Promise<StackOutputs> {
    this.stackPromise ??= this.region().then(async (region) => {
      const { readStackOutputs } = await import('./stack-outputs.ts');
      return readStackOutputs(this.aws().cloudFormation, this.global.stack, region);
    });
    return this.stackPromise;
  }

  /** Destroys the clients and stops any local servers this invocation started, newest first. */
  async close(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) await close();
  }

  /** Imported on first use, like the SDK clients, so local and usage-error paths answer at once. */
  private async awsBackend(): Promise<RunBackend> {
    const { AwsRunBackend } = await import('./aws-run-backend.ts');
    return new AwsRunBackend({
      io: this.io,
      paint: this.paint,
      json: this.global.json,
      stackName: this.global.stack,
      clock: this.deps.clock,
      sleep: this.deps.sleep,
      aws: () => this.aws(),
      region: () => this.region(),
      stack: () => this.stack(),
    });
  }
}
