import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { SfnExecutionStarter } from '../../shared/aws/sfn-execution-starter.ts';
import { InvalidInputError } from '../../shared/errors.ts';
import { parseExecutionInput } from '../../shared/execution-input.ts';
import { createHandler } from '../../stages/trigger/handler.ts';
import { executionNameFor } from '../../stages/trigger/trigger.ts';
import { testWire } from '../helpers/stage-wiring.ts';

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:nightshift';
const sfn = mockClient(SFNClient);
/** The trigger's handler, as Lambda runs it: raw events in, parsed at the edge. */
const runTrigger = createHandler(
  testWire(
    { starter: new SfnExecutionStarter(new SFNClient({ region: 'us-east-1' }), STATE_MACHINE) },
    { MANIFEST_LOCATION: 's3://pipeline/manifests/' },
  ),
);

function objectCreated(key: string, etag = '"9b2cf535f27731c974343645a3985328"', bucket = 'pipeline') {
  return {
    version: '0',
    id: 'c9888434-815d-c6f4-9fc2-4dd7bdeccaaf',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-11-23T02:00:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${bucket}`],
    detail: { version: '0', bucket: { name: bucket }, object: { key, size: 120, etag }, reason: 'PutObject' },
  };
}

describe('manifest trigger (StartExecution mocked with aws-sdk-client-mock: it is an AWS-only call)', () => {
  afterEach(() => sfn.reset());

  it('starts one execution named from bucket, key and ETag, with the manifest as the dataset', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE}:exec`, startDate: new Date() });
    const name = executionNameFor('pipeline', 'manifests/2026-11-23 night.jsonl', '"9b2cf535f27731c974343645a3985328"');

    const result = await runTrigger(objectCreated('manifests/2026-11-23 night.jsonl'));

    expect(result).toEqual({ outcome: 'started', executionName: name, executionArn: `${STATE_MACHINE}:exec` });
    expect(sfn).toReceiveCommandWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE,
      name,
      input: JSON.stringify({ dataset: 's3://pipeline/manifests/2026-11-23 night.jsonl', runId: name }),
    });
  });

  it('treats a duplicate event (ExecutionAlreadyExists) as success without a second run', async () => {
    sfn
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: `${STATE_MACHINE}:exec`, startDate: new Date() })
      .rejects(Object.assign(new Error('Execution Already Exists'), { name: 'ExecutionAlreadyExists' }));
    const event = objectCreated('manifests/run.json');

    const first = await runTrigger(event);
    const second = await runTrigger(event);

    expect(first.outcome).toBe('started');
    expect(second).toEqual({
      outcome: 'duplicate',
      executionName: executionNameFor('pipeline', 'manifests/run.json', '"9b2cf535f27731c974343645a3985328"'),
    });
    const names = sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name);
    expect(new Set(names).size).toBe(1);
  });

  it('ignores objects outside the manifest prefix and objects that are not manifests, starting nothing', async () => {
    const outside = await runTrigger(objectCreated('images/a.jpg'));
    const otherBucket = await runTrigger(objectCreated('manifests/run.json', '"x"', 'elsewhere'));
    const notManifest = await runTrigger(objectCreated('manifests/readme.txt'));

    expect([outside.outcome, otherBucket.outcome, notManifest.outcome]).toEqual(['ignored', 'ignored', 'ignored']);
    expect(sfn).toReceiveCommandTimes(StartExecutionCommand, 0);
  });

  it('rejects an event that is not an S3 Object Created event, naming the field', async () => {
    const attempt = runTrigger({ source: 'aws.s3', 'detail-type': 'Object Deleted', detail: {} });

    await expect(attempt).rejects.toThrow(InvalidInputError);
    await expect(attempt).rejects.toThrow(/trigger event is invalid: detail-type: .*detail\.bucket/);
  });

  it('rejects an event from another source, naming the sources it accepts', async () => {
    const attempt = runTrigger({ source: 'aws.ec2', detail: {} });

    await expect(attempt).rejects.toThrow(/source: .*'aws\.s3' \| 'nightshift\.schedule'/);
  });

  it('fails its first invocation with a ServiceError naming MANIFEST_LOCATION when the stack set none', async () => {
    const unconfigured = createHandler(
      testWire({ starter: { start: async () => ({ started: false, reason: 'already-exists' }) } }),
    );

    await expect(unconfigured(objectCreated('manifests/run.json'))).rejects.toThrow(
      expect.objectContaining({ name: 'ServiceError', message: expect.stringMatching(/MANIFEST_LOCATION is not set/) }),
    );
  });

  it('derives valid, distinct execution names: at most 80 characters of [A-Za-z0-9_-], new ETag gives a new name', () => {
    const long = `manifests/${'very long name with spaces and ünïcödé '.repeat(5)}.jsonl`;

    const a = executionNameFor('pipeline', long, '"etag-1"');
    const b = executionNameFor('pipeline', long, '"etag-2"');

    for (const name of [a, b]) {
      expect(name.length).toBeLessThanOrEqual(80);
      expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(() => parseExecutionInput({ dataset: 's3://pipeline/manifests/x.jsonl', runId: name })).not.toThrow();
    }
    expect(a).not.toBe(b);
    expect(executionNameFor('pipeline', long, '"etag-1"')).toBe(a);
  });

  it('starts the nightly run named after the scheduled date in the schedule time zone, once per date', async () => {
    sfn
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: `${STATE_MACHINE}:nightly`, startDate: new Date() })
      .rejects(Object.assign(new Error('Execution Already Exists'), { name: 'ExecutionAlreadyExists' }));
    const event = {
      source: 'nightshift.schedule',
      scheduledTime: '2026-11-23T23:30:00Z',
      timeZone: 'Europe/Paris',
      dataset: 's3://pipeline/datasets/nightly/{date}/',
      transform: { instanceCount: 2 },
    };

    const first = await runTrigger(event);
    const again = await runTrigger(event);

    expect(first).toMatchObject({ outcome: 'started', executionName: 'nightly-2026-11-24' });
    expect(again).toEqual({ outcome: 'duplicate', executionName: 'nightly-2026-11-24' });
    expect(sfn).toReceiveCommandWith(StartExecutionCommand, {
      name: 'nightly-2026-11-24',
      input: JSON.stringify({
        dataset: 's3://pipeline/datasets/nightly/2026-11-24/',
        runId: 'nightly-2026-11-24',
        transform: { instanceCount: 2 },
      }),
    });
  });

  it('refuses a schedule with an unknown time zone, naming it', async () => {
    const event = {
      source: 'nightshift.schedule',
      scheduledTime: '2026-11-23T02:00:00Z',
      timeZone: 'Mars/Olympus',
      dataset: 's3://b/{date}/',
    };

    await expect(runTrigger(event)).rejects.toThrow(/timeZone "Mars\/Olympus" is not an IANA time zone/);
  });
});
