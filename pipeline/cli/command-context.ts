import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../../shared/ports.ts';
import type { AwsClientOptions, AwsClients, DataClients, LocalEndpoints } from './aws-clients.ts';
import { explainAwsError } from './cli-errors.ts';
import type { GlobalOptions } from './command-line.ts';
import type { CliIo } from './io.ts';
import { type LocalBackend, type LocalBackendOptions, resolveStateDir } from './local-backend.ts';
import type { LocalHooks } from './local-hooks.ts';
import { type Painter, painter } from './output.ts';
import { readStackOutputs, type StackOutputs } from './stack-outputs.ts';

/** What the CLI reaches outside itself; `main` takes overrides so tests never wait, open browsers or need AWS. */
export interface CliDeps {
  readonly createAwsClients: (options: AwsClientOptions) => AwsClients;
  readonly createLocalClients: (endpoints: LocalEndpoints) => DataClients;
  readonly resolveLocalBackend: (options: LocalBackendOptions) => Promise<LocalBackend>;
  readonly loadLocalHooks: () => Promise<LocalHooks | undefined>;
  /** Waits between polls of `watch`. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly clock: Clock;
  /** Opens a file with the desktop's default application; false when there is no opener. */
  readonly openFile: (path: string) => Promise<boolean>;
  /** The repository root: `.nightshift/` lives here unless NIGHTSHIFT_HOME or --state-dir say otherwise. */
  readonly projectRoot: string;
}

/** Where the read commands (status, runs, report, predictions) find a run's records and files. */
export interface RunData {
  /** For messages: `stack Nightshift in us-east-1`, `the local servers (/repo/.nightshift)`. */
  readonly where: string;
  readonly local: boolean;
  /** AWS only: for console links. */
  readonly region?: string;
  /** AWS only: executions are started and followed through the state machine. */
  readonly stateMachineArn?: string;
  readonly pipelineBucket: string;
  readonly runsTable: string;
  readonly predictionsTable: string;
  readonly s3: S3Client;
  readonly doc: DynamoDBDocumentClient;
}

/** One command invocation: its options and the lazily built, cached clients, stack outputs and local backend. */
export class CommandContext {
  readonly paint: Painter;
  private awsClients?: AwsClients;
  private regionPromise?: Promise<string>;
  private stackPromise?: Promise<StackOutputs>;
  private runDataPromise?: Promise<RunData>;
  private readonly closers: (() => Promise<void> | void)[] = [];

  constructor(
    readonly io: CliIo,
    readonly global: GlobalOptions,
    readonly deps: CliDeps,
  ) {
    this.paint = painter(io);
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
    this.stackPromise ??= this.region().then((region) =>
      readStackOutputs(this.aws().cloudFormation, this.global.stack, region),
    );
    return this.stackPromise;
  }

  /** The absolute state directory of the local runtime. */
  stateDir(): string {
    return resolveStateDir(this.global.stateDir, this.io.env, this.io.cwd, this.deps.projectRoot);
  }

  /** Runs table, predictions table and bucket: the stack's on AWS, the local runtime's with `--local`. */
  runData(): Promise<RunData> {
    this.runDataPromise ??= this.global.local ? this.localRunData() : this.awsRunData();
    return this.runDataPromise;
  }

  private async awsRunData(): Promise<RunData> {
    const [region, stack] = await Promise.all([this.region(), this.stack()]);
    const clients = this.aws();
    return {
      where: `stack ${this.global.stack} in ${region}`,
      local: false,
      region,
      stateMachineArn: stack.StateMachineArn,
      pipelineBucket: stack.PipelineBucketName,
      runsTable: stack.RunsTableName,
      predictionsTable: stack.PredictionsTableName,
      s3: clients.s3,
      doc: clients.doc,
    };
  }

  private async localRunData(): Promise<RunData> {
    const backend = await this.deps.resolveLocalBackend({ stateDir: this.stateDir() });
    this.closers.push(() => backend.close());
    const clients = this.deps.createLocalClients(backend.endpoints);
    this.closers.push(() => clients.destroy());
    return {
      where: `the local servers (${backend.stateDir})`,
      local: true,
      pipelineBucket: backend.names.pipelineBucket,
      runsTable: backend.names.runsTable,
      predictionsTable: backend.names.predictionsTable,
      s3: clients.s3,
      doc: clients.doc,
    };
  }

  /** Destroys the clients and stops any local servers this invocation started, newest first. */
  async close(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) await close();
  }
}
