import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { z } from 'zod';
import { awsCall, awsErrorName, CliFailure } from '../run-backend/failures.ts';

/**
 * The outputs of the Nightshift stack (`infra/nightshift-stack.ts`) the CLI uses, so nobody copies names by hand.
 * Loose: a stack may carry outputs the CLI does not read.
 */
export const StackOutputsSchema = z.object({
  PipelineBucketName: z.string().min(1),
  RunsTableName: z.string().min(1),
  PredictionsTableName: z.string().min(1),
  StateMachineArn: z.string().startsWith('arn:'),
  ReportLocation: z.string().optional(),
  ManifestLocation: z.string().optional(),
  NotificationTopicArn: z.string().optional(),
});
export type StackOutputs = Readonly<z.infer<typeof StackOutputsSchema>>;

/** Reads the outputs of `stackName` with DescribeStacks, with one-line errors for a missing or unfinished stack. */
export async function readStackOutputs(
  cloudFormation: CloudFormationClient,
  stackName: string,
  region: string,
): Promise<StackOutputs> {
  const notFound = () =>
    new CliFailure(
      'STACK_NOT_FOUND',
      `stack ${stackName} not found in ${region}: deploy it with \`npm run deploy\` or pass --stack NAME`,
    );
  const described = await awsCall('cloudformation:DescribeStacks', async () => {
    try {
      return await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    } catch (error) {
      // CloudFormation answers a missing stack with a ValidationError ("Stack with id X does not exist").
      if (awsErrorName(error) === 'ValidationError' && /does not exist/i.test((error as Error).message)) {
        throw notFound();
      }
      throw error;
    }
  });
  const stack = described.Stacks?.[0];
  if (!stack) throw notFound();
  const outputs = Object.fromEntries(
    (stack.Outputs ?? []).flatMap((output) =>
      output.OutputKey && output.OutputValue !== undefined ? [[output.OutputKey, output.OutputValue]] : [],
    ),
  );
  const parsed = StackOutputsSchema.safeParse(outputs);
  if (!parsed.success) {
    const missing = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.')))].join(', ');
    throw new CliFailure(
      'STACK_NOT_FOUND',
      `stack ${stackName} in ${region} (${stack.StackStatus ?? 'unknown status'}) lacks the Nightshift outputs ${missing}: ` +
        'wait for `npm run deploy` to finish, or pass the --stack of a Nightshift stack',
    );
  }
  return Object.freeze(parsed.data);
}
