// Bucket notifications to functions (issue #5, scope 2), driven with
// @aws-sdk/client-s3 and client-lambda as an application sets them up: the function's
// resource policy lets s3.amazonaws.com invoke it (AddPermission), then
// PutBucketNotificationConfiguration with LambdaFunctionConfigurations (event types,
// prefix/suffix filters). Each matching object change invokes the function
// asynchronously with S3's event record, which the function prints to its log.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  PutBucketNotificationConfigurationCommand,
  GetBucketNotificationConfigurationCommand,
} from '@aws-sdk/client-s3';
import { AddPermissionCommand } from '@aws-sdk/client-lambda';
import { SQSClient, CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { useNimbus, withLogs, waitFor, SKIP_NO_BINARY, REGION, ACCOUNT, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, functionArn, expectServiceError } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';
import { zipFiles } from '../lib/zip.mjs';

// Prints each event record it gets as one line: "EVENT <json>".
const RECORDER = `import json

def handler(event, context):
    for record in event["Records"]:
        print("EVENT " + json.dumps(record, sort_keys=True))
    return len(event["Records"])
`;

function s3Client(nimbus) {
  return new S3Client({ endpoint: nimbus.endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true, maxAttempts: 1 });
}

let counter = 0;
function name(base) {
  counter += 1;
  return `${RUN_ID}-${base}-${counter}`.toLowerCase().slice(0, 63);
}

// The records the function has printed so far.
async function records(nimbus, fn) {
  return (await logMessages(nimbus.logs(), fn))
    .filter((m) => m.startsWith('EVENT '))
    .map((m) => JSON.parse(m.slice('EVENT '.length)));
}

async function recorder(nimbus, base, { allowS3 = true } = {}) {
  const fn = name(base);
  await createFunction(nimbus.lambda(), { name: fn, zip: zipFiles({ 'app.py': RECORDER }), runtime: 'python3.12', handler: 'app.handler' });
  if (allowS3) {
    await nimbus.lambda().send(new AddPermissionCommand({
      FunctionName: fn, StatementId: 's3-invoke', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com',
    }));
  }
  return fn;
}

describe('S3 bucket notifications to functions', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let s3;

  before(() => {
    s3 = s3Client(box.nimbus);
  });

  it('object created, copied and deleted under a prefix invoke the function with S3\'s event records; other keys and events do not', t(async () => {
    const fn = await recorder(box.nimbus, 'on-upload');
    const Bucket = name('notify');
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          { Id: 'created', LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'in/' }, { Name: 'suffix', Value: '.txt' }] } } },
          { Id: 'removed', LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectRemoved:Delete'] },
        ],
      },
    }));
    const got = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket }));
    assert.deepEqual(got.LambdaFunctionConfigurations.map((c) => [c.Id, c.LambdaFunctionArn, c.Events]), [
      ['created', functionArn(fn), ['s3:ObjectCreated:*']],
      ['removed', functionArn(fn), ['s3:ObjectRemoved:Delete']],
    ]);
    assert.deepEqual(got.LambdaFunctionConfigurations[0].Filter.Key.FilterRules, [{ Name: 'Prefix', Value: 'in/' }, { Name: 'Suffix', Value: '.txt' }]);

    const body = 'hello notifications';
    const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'in/my file.txt', Body: body }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'in/skip.png', Body: 'no' }));   // suffix does not match
    await s3.send(new PutObjectCommand({ Bucket, Key: 'out/x.txt', Body: 'no' }));     // prefix does not match
    await s3.send(new CopyObjectCommand({ Bucket, Key: 'in/copy.txt', CopySource: `${Bucket}/out/x.txt` }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'out/x.txt' }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'never-existed' }));          // nothing removed: no event

    const seen = await waitFor(() => records(box.nimbus, fn), (r) => r.length >= 3, 30000);
    const byName = Object.fromEntries(seen.map((r) => [`${r.eventName} ${r.s3.object.key}`, r]));
    assert.deepEqual(Object.keys(byName).sort(), [
      'ObjectCreated:Copy in/copy.txt',
      'ObjectCreated:Put in/my+file.txt',
      'ObjectRemoved:Delete out/x.txt',
    ]);
    const created = byName['ObjectCreated:Put in/my+file.txt'];
    assert.equal(created.eventSource, 'aws:s3');
    assert.match(created.eventVersion, /^2\.\d$/);
    assert.equal(created.awsRegion, REGION);
    assert.match(created.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(created.s3.s3SchemaVersion, '1.0');
    assert.equal(created.s3.configurationId, 'created');
    assert.equal(created.s3.bucket.name, Bucket);
    assert.equal(created.s3.bucket.arn, `arn:aws:s3:::${Bucket}`);
    assert.equal(created.s3.object.size, body.length);
    assert.equal(created.s3.object.eTag, crypto.createHash('md5').update(body).digest('hex'));
    assert.equal(`"${created.s3.object.eTag}"`, put.ETag);
    assert.match(created.s3.object.sequencer, /^[0-9A-F]{16,}$/);
    assert.equal(created.userIdentity.principalId, `AWS:${CREDENTIALS.accessKeyId}`);
    assert.equal(typeof created.responseElements['x-amz-request-id'], 'string');
    const removed = byName['ObjectRemoved:Delete out/x.txt'];
    assert.equal(removed.s3.configurationId, 'removed');
    assert.equal(removed.s3.object.size, undefined, 'a removal has no size');
    // Nothing else arrives (the skipped keys and the delete of a missing key).
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await records(box.nimbus, fn)).length, 3);
  }));

  it('DeleteObjects sends one ObjectRemoved:Delete record per object removed', t(async () => {
    const fn = await recorder(box.nimbus, 'on-delete');
    const Bucket = name('notify-batch');
    await s3.send(new CreateBucketCommand({ Bucket }));
    for (const Key of ['a', 'b']) await s3.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
    await s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket,
      NotificationConfiguration: { LambdaFunctionConfigurations: [{ LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectRemoved:*'] }] },
    }));
    const out = await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'a' }, { Key: 'b' }, { Key: 'c' }] } }));
    assert.deepEqual(out.Deleted.map((d) => d.Key).sort(), ['a', 'b', 'c']);
    const seen = await waitFor(() => records(box.nimbus, fn), (r) => r.length >= 2, 30000);
    assert.deepEqual(seen.map((r) => `${r.eventName} ${r.s3.object.key}`).sort(), ['ObjectRemoved:Delete a', 'ObjectRemoved:Delete b']);
  }));

  it('a destination S3 may not invoke, a missing function, an unknown event type and overlapping configurations are refused as S3 refuses them', t(async () => {
    const Bucket = name('notify-bad');
    await s3.send(new CreateBucketCommand({ Bucket }));
    const locked = await recorder(box.nimbus, 'no-permission', { allowS3: false });
    const put = (LambdaFunctionConfigurations) => s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket, NotificationConfiguration: { LambdaFunctionConfigurations },
    }));
    await expectServiceError(() => put([{ LambdaFunctionArn: functionArn(locked), Events: ['s3:ObjectCreated:*'] }]),
      { name: 'InvalidArgument', status: 400, messageMatch: /Unable to validate the following destination configurations/ });
    await expectServiceError(() => put([{ LambdaFunctionArn: functionArn(`${RUN_ID}-ghost`), Events: ['s3:ObjectCreated:*'] }]),
      { name: 'InvalidArgument', status: 400, messageMatch: /Unable to validate the following destination configurations/ });
    const fn = await recorder(box.nimbus, 'valid');
    await expectServiceError(() => put([{ LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectCreated:Nope'] }]),
      { name: 'InvalidArgument', status: 400, messageMatch: /The event is not supported for notifications/ });
    await expectServiceError(() => put([
      { LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectCreated:*'] },
      { LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectCreated:Put'] },
    ]), { name: 'InvalidArgument', status: 400, messageMatch: /Configurations overlap/ });
    // Nothing was stored by the refused requests.
    const got = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket }));
    assert.equal(got.LambdaFunctionConfigurations, undefined);
  }));

  it('a queue destination (whose policy lets S3 send) gets S3\'s test event, then a record per matching change; a queue S3 may not send to is refused', t(async () => {
    const sqs = new SQSClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    const Bucket = name('notify-queue');
    await s3.send(new CreateBucketCommand({ Bucket }));
    const QueueName = name('uploads-q');
    const arn = `arn:aws:sqs:${REGION}:${ACCOUNT}:${QueueName}`;
    const Policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 's3.amazonaws.com' }, Action: 'SQS:SendMessage', Resource: arn }] });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName, Attributes: { Policy } }));
    const closed = name('closed-q');
    await sqs.send(new CreateQueueCommand({ QueueName: closed }));
    await expectServiceError(() => s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket, NotificationConfiguration: { QueueConfigurations: [{ QueueArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${closed}`, Events: ['s3:ObjectCreated:*'] }] },
    })), { name: 'InvalidArgument', status: 400, messageMatch: /Unable to validate the following destination configurations/ });
    await s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket, NotificationConfiguration: { QueueConfigurations: [{ Id: 'to-queue', QueueArn: arn, Events: ['s3:ObjectCreated:Put'] }] },
    }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'queued.txt', Body: 'q' }));
    const bodies = [];
    const end = Date.now() + 15000;
    while (bodies.length < 2 && Date.now() < end) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }));
      bodies.push(...Messages.map((m) => JSON.parse(m.Body)));
    }
    assert.equal(bodies[0].Event, 's3:TestEvent');
    assert.equal(bodies[0].Bucket, Bucket);
    const record = bodies[1].Records[0];
    assert.equal(record.eventName, 'ObjectCreated:Put');
    assert.equal(record.s3.configurationId, 'to-queue');
    assert.equal(record.s3.object.key, 'queued.txt');
  }));
});
