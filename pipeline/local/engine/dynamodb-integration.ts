/**
 * The optimised DynamoDB integrations, `arn:aws:states:::dynamodb:getItem | putItem | updateItem | deleteItem`
 * ("Call DynamoDB with Step Functions", Developer Guide): `Parameters` are the API request in DynamoDB JSON
 * (`{"TableName": ..., "Key": {"pk": {"S": ...}}}`) and the task result is the API response without SDK metadata.
 * A service error fails the task as `DynamoDB.<exception name>` (e.g. `DynamoDB.ConditionalCheckFailedException`),
 * the form Step Functions uses; a connection failure is `DynamoDB.AmazonDynamoDBException`.
 */
import {
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { PayloadTemplate } from './asl.ts';
import { StatesError } from './engine-errors.ts';
import type { TaskIntegration, TaskInvocation } from './integrations.ts';

const RESOURCE = /^arn:aws[a-z-]*:states:::dynamodb:(getItem|putItem|updateItem|deleteItem)$/;

type Action = 'getItem' | 'putItem' | 'updateItem' | 'deleteItem';

/** Runs the DynamoDB tasks against the given client (the local DynamoDB server in a local run). */
export function dynamoDbIntegration(client: DynamoDBClient): TaskIntegration {
  return {
    name: 'dynamodb',
    handles: (resource) => RESOURCE.test(resource),
    check(_resource: string, parameters: PayloadTemplate | undefined, where: string): string[] {
      if (parameters === undefined) return [`${where}.Parameters: DynamoDB tasks need Parameters with TableName`];
      return 'TableName' in parameters || 'TableName.$' in parameters
        ? []
        : [`${where}.Parameters.TableName: is required`];
    },
    async invoke(invocation: TaskInvocation): Promise<unknown> {
      const action = RESOURCE.exec(invocation.resource)?.[1] as Action;
      const input = invocation.parameters as never;
      const options = { abortSignal: invocation.signal };
      try {
        const response =
          action === 'getItem'
            ? await client.send(new GetItemCommand(input), options)
            : action === 'putItem'
              ? await client.send(new PutItemCommand(input), options)
              : action === 'updateItem'
                ? await client.send(new UpdateItemCommand(input), options)
                : await client.send(new DeleteItemCommand(input), options);
        const { $metadata: _metadata, ...body } = response;
        return body;
      } catch (error) {
        if (invocation.signal.aborted) throw error;
        const name = error instanceof Error && error.name !== 'Error' ? error.name : 'AmazonDynamoDBException';
        const message = error instanceof Error ? error.message : String(error);
        throw new StatesError(`DynamoDB.${name}`, message);
      }
    },
  };
}
