import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ExecutionStarter, StartResult } from '../ports.ts';
import { toNightshiftError } from './aws-errors.ts';

/**
 * {@link ExecutionStarter} over StartExecution. For a Standard workflow, a name in use by a running execution with
 * the same input succeeds idempotently, and a name used by any other execution in the last 90 days fails with
 * ExecutionAlreadyExists: both mean the run was already started.
 */
export class SfnExecutionStarter implements ExecutionStarter {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(request: { name: string; input: unknown }): Promise<StartResult> {
    try {
      const out = await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: request.name,
          input: JSON.stringify(request.input),
        }),
      );
      return { started: true, executionArn: out.executionArn ?? '' };
    } catch (error) {
      if ((error as Error).name === 'ExecutionAlreadyExists') return { started: false, reason: 'already-exists' };
      throw toNightshiftError(error, `starting execution "${request.name}" of ${this.stateMachineArn}`);
    }
  }
}
