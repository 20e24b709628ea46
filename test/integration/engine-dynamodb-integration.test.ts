import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbIntegration } from '../../pipeline/local/engine/dynamodb-integration.ts';
import { LocalEngine } from '../../pipeline/local/engine/local-engine.ts';
import { type LocalAws, startLocalAws } from '../helpers/local-aws.ts';
import { RecordingSleeper } from '../helpers/recording-sleeper.ts';

const TABLE = 'engine-items';

describe('DynamoDB task integration against the local DynamoDB server', () => {
  let aws: LocalAws;
  let engine: LocalEngine;

  beforeAll(async () => {
    aws = await startLocalAws();
    await aws.dynamo.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      }),
    );
    engine = new LocalEngine({ sleeper: new RecordingSleeper(), integrations: [dynamoDbIntegration(aws.dynamo)] });
  });

  afterAll(async () => {
    await aws?.stop();
  });

  it('puts, updates and gets an item with DynamoDB JSON parameters', async () => {
    const execution = engine.startExecution({
      definition: {
        StartAt: 'Put',
        States: {
          Put: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:putItem',
            Parameters: { TableName: TABLE, Item: { pk: { 'S.$': '$.id' }, status: { S: 'RUNNING' } } },
            ResultPath: null,
            Next: 'Update',
          },
          Update: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:updateItem',
            Parameters: {
              TableName: TABLE,
              Key: { pk: { 'S.$': '$.id' } },
              UpdateExpression: 'SET #s = :s',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':s': { S: 'SUCCEEDED' } },
            },
            ResultPath: null,
            Next: 'Get',
          },
          Get: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:getItem',
            Parameters: { TableName: TABLE, Key: { pk: { 'S.$': '$.id' } } },
            ResultSelector: { 'status.$': '$.Item.status.S' },
            End: true,
          },
        },
      },
      input: { id: 'run-1' },
    });
    expect(await execution.result()).toMatchObject({ status: 'SUCCEEDED', output: { status: 'SUCCEEDED' } });
  });

  it('fails a conditional write as DynamoDB.ConditionalCheckFailedException, which a Catch can match', async () => {
    const execution = engine.startExecution({
      definition: {
        StartAt: 'Put',
        States: {
          Put: {
            Type: 'Task',
            Resource: 'arn:aws:states:::dynamodb:putItem',
            Parameters: {
              TableName: TABLE,
              Item: { pk: { S: 'run-2' } },
              ConditionExpression: 'attribute_exists(pk)',
            },
            Catch: [
              { ErrorEquals: ['DynamoDB.ConditionalCheckFailedException'], ResultPath: '$.error', Next: 'Exists' },
            ],
            End: true,
          },
          Exists: { Type: 'Pass', End: true },
        },
      },
    });
    const result = await execution.result();
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      output: { error: { Error: 'DynamoDB.ConditionalCheckFailedException' } },
    });
  });
});
