// Event source mappings from SQS queues to functions (issue #5, scope 4), set up and
// driven with @aws-sdk/client-lambda and client-sqs: the mapping API, delivery in SQS's
// event shape with the handled messages deleted, retries through the visibility timeout
// and redrive to a dead-letter queue, partial batch failures, and the pipeline the issue
// names: an upload triggers a Python function that sends a message with boto3, whose
// mapping triggers a Node function that writes an object with the AWS SDK.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
  AddPermissionCommand,
} from '@aws-sdk/client-lambda';
import {
  SQSClient,
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  PutBucketNotificationConfigurationCommand,
} from '@aws-sdk/client-s3';
import { useNimbus, withLogs, waitFor, SKIP_NO_BINARY, REGION, ACCOUNT, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, functionArn, expectServiceError } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';
import { zipFiles } from '../lib/zip.mjs';

// Prints each record's body ("GOT <body>"); throws for a body "boom"; reports
// bodies starting with "retry" as batch item failures.
const CONSUMER = `export const handler = async (event) => {
  const failures = [];
  for (const r of event.Records) {
    console.log('GOT ' + JSON.stringify({ body: r.body, id: r.messageId, source: r.eventSource, arn: r.eventSourceARN, count: r.attributes.ApproximateReceiveCount, md5: r.md5OfBody, attrs: r.messageAttributes }));
    if (r.body === 'boom') throw new Error('boom');
    if (r.body.startsWith('retry')) failures.push({ itemIdentifier: r.messageId });
  }
  return { batchItemFailures: failures };
};
`;

const sqsArn = (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;

describe('event source mappings (SQS)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let sqs;
  let counter = 0;
  const name = (base) => `${RUN_ID}-${base}-${++counter}`;

  before(() => {
    sqs = new SQSClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  });

  async function queue(base, Attributes = {}) {
    const QueueName = name(base);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName, Attributes }));
    return { QueueName, QueueUrl, arn: sqsArn(QueueName) };
  }
  async function consumer(base) {
    const fn = name(base);
    await createFunction(box.nimbus.lambda(), { name: fn, zip: zipFiles({ 'index.mjs': CONSUMER }), runtime: 'nodejs20.x', handler: 'index.handler', Timeout: 10 });
    return fn;
  }
  async function got(fn) {
    // Node's console.log lines are "<time>\t<request id>\tINFO\tGOT {...}".
    return (await logMessages(box.nimbus.logs(), fn)).filter((m) => m.includes('\tGOT {'))
      .map((m) => JSON.parse(m.slice(m.indexOf('\tGOT {') + 5)));
  }
  async function counts(QueueUrl) {
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
    return [Number(Attributes.ApproximateNumberOfMessages), Number(Attributes.ApproximateNumberOfMessagesNotVisible)];
  }

  it('Create, Get, List, Update and Delete speak Lambda\'s API; a duplicate, a missing queue and a missing function are refused', t(async () => {
    const lambda = box.nimbus.lambda();
    const q = await queue('api');
    const fn = await consumer('api-fn');
    const created = await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: q.arn, BatchSize: 5, Enabled: false }));
    assert.equal(created.$metadata.httpStatusCode, 202);
    assert.match(created.UUID, /^[0-9a-f-]{36}$/);
    assert.equal(created.State, 'Creating');
    assert.equal(created.FunctionArn, functionArn(fn));
    assert.equal(created.EventSourceArn, q.arn);
    assert.equal(created.BatchSize, 5);
    const got1 = await lambda.send(new GetEventSourceMappingCommand({ UUID: created.UUID }));
    assert.equal(got1.State, 'Disabled');
    // A function whose name extends fn's has mappings of its own, not fn's.
    const longer = `${fn}-x`;
    await createFunction(lambda, { name: longer, zip: zipFiles({ 'index.mjs': CONSUMER }), runtime: 'nodejs20.x', handler: 'index.handler' });
    const other = await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: longer, EventSourceArn: q.arn, Enabled: false }));
    const listed = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: fn }));
    assert.deepEqual(listed.EventSourceMappings.map((m) => m.UUID), [created.UUID]);
    await lambda.send(new DeleteEventSourceMappingCommand({ UUID: other.UUID }));
    const bySource = await lambda.send(new ListEventSourceMappingsCommand({ EventSourceArn: q.arn }));
    assert.deepEqual(bySource.EventSourceMappings.map((m) => m.UUID), [created.UUID]);
    const updated = await lambda.send(new UpdateEventSourceMappingCommand({ UUID: created.UUID, BatchSize: 7, Enabled: true }));
    assert.equal(updated.BatchSize, 7);
    assert.equal((await lambda.send(new GetEventSourceMappingCommand({ UUID: created.UUID }))).State, 'Enabled');
    await expectServiceError(() => lambda.send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: q.arn })),
      { name: 'ResourceConflictException', status: 409 });
    await expectServiceError(() => lambda.send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: sqsArn(`${RUN_ID}-nope`) })),
      { name: 'InvalidParameterValueException', status: 400, messageMatch: /NonExistentQueue/ });
    await expectServiceError(() => lambda.send(new CreateEventSourceMappingCommand({ FunctionName: `${RUN_ID}-ghost`, EventSourceArn: q.arn })),
      { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => lambda.send(new UpdateEventSourceMappingCommand({ UUID: created.UUID, BatchSize: 100 })),
      { name: 'InvalidParameterValueException', status: 400 });
    const deleted = await lambda.send(new DeleteEventSourceMappingCommand({ UUID: created.UUID }));
    assert.equal(deleted.State, 'Deleting');
    await expectServiceError(() => lambda.send(new GetEventSourceMappingCommand({ UUID: created.UUID })),
      { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('messages sent to a mapped queue reach the function in SQS\'s event shape and are deleted once handled', t(async () => {
    const q = await queue('deliver');
    const fn = await consumer('deliver-fn');
    await box.nimbus.lambda().send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: q.arn, BatchSize: 10 }));
    for (const body of ['one', 'two', 'three']) {
      await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: body, MessageAttributes: { Color: { DataType: 'String', StringValue: 'red' } } }));
    }
    const seen = await waitFor(() => got(fn), (r) => r.length >= 3, 30000);
    assert.deepEqual(seen.map((r) => r.body).sort(), ['one', 'three', 'two']);
    for (const r of seen) {
      assert.equal(r.source, 'aws:sqs');
      assert.equal(r.arn, q.arn);
      assert.equal(r.count, '1');
      assert.match(r.md5, /^[0-9a-f]{32}$/);
      assert.deepEqual(r.attrs.Color, { stringListValues: [], binaryListValues: [], dataType: 'String', stringValue: 'red' });
    }
    assert.deepEqual(await waitFor(() => counts(q.QueueUrl), (c) => c[0] === 0 && c[1] === 0, 10000), [0, 0]);
  }));

  it('a failing batch is retried after the visibility timeout and ends in the dead-letter queue; ReportBatchItemFailures retries only the reported messages', t(async () => {
    const dlq = await queue('dlq');
    const q = await queue('retry', { VisibilityTimeout: '1', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }) });
    const fn = await consumer('retry-fn');
    await box.nimbus.lambda().send(new CreateEventSourceMappingCommand({
      FunctionName: fn, EventSourceArn: q.arn, BatchSize: 1, FunctionResponseTypes: ['ReportBatchItemFailures'],
    }));
    await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: 'boom' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: 'retry-me' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: 'fine' }));
    // Both failing messages are delivered twice, then moved; "fine" once.
    const seen = await waitFor(() => got(fn), (r) => r.filter((x) => x.body !== 'fine').length >= 4, 30000);
    const times = (body) => seen.filter((r) => r.body === body).length;
    assert.equal(times('fine'), 1);
    assert.equal(times('boom'), 2);
    assert.equal(times('retry-me'), 2);
    const moved = await waitFor(async () => (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30 }))).Messages ?? [],
      (m) => m.length >= 2, 15000);
    assert.deepEqual(moved.map((m) => m.Body).sort(), ['boom', 'retry-me']);
  }));

  it('an upload triggers a Python function that queues a message with boto3, whose mapping triggers a Node function that writes an object with the AWS SDK', t(async () => {
    const lambda = box.nimbus.lambda();
    const s3 = new S3Client({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true, maxAttempts: 1 });
    const bucket = name('pipeline').toLowerCase();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const q = await queue('pipeline-q');
    const producer = name('producer');
    await createFunction(lambda, {
      name: producer, runtime: 'python3.12', handler: 'app.handler', Timeout: 30,
      Environment: { Variables: { QUEUE_URL: q.QueueUrl } },
      zip: zipFiles({ 'app.py': `import json, os, urllib.parse
import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps({"bucket": record["s3"]["bucket"]["name"], "key": key}))
` }),
    });
    await lambda.send(new AddPermissionCommand({ FunctionName: producer, StatementId: 's3', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com' }));
    const writer = name('writer');
    await createFunction(lambda, {
      name: writer, runtime: 'nodejs20.x', handler: 'index.handler', Timeout: 30,
      zip: zipFiles({ 'index.mjs': `import { S3Client, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';

const s3 = new S3Client({});

export const handler = async (event) => {
  for (const record of event.Records) {
    const { bucket, key } = JSON.parse(record.body);
    const input = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = await input.Body.transformToString();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'out/' + key.slice('in/'.length), Body: text.toUpperCase() }));
  }
};
` }),
    });
    await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: writer, EventSourceArn: q.arn, BatchSize: 10 }));
    await s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: { LambdaFunctionConfigurations: [{ LambdaFunctionArn: functionArn(producer), Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'in/' }] } } }] },
    }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'in/hello world.txt', Body: 'hello from the pipeline' }));
    const out = await waitFor(async () => {
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'out/hello world.txt' }));
        return await r.Body.transformToString();
      } catch (e) {
        if (e.name === 'NoSuchKey') return null;
        throw e;
      }
    }, (v) => v !== null, 60000);
    assert.equal(out, 'HELLO FROM THE PIPELINE');
  }));
});
