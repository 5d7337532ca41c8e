// Queues as async-invocation destinations and dead-letter queues (issue #5, scope 4):
// an asynchronous invocation's OnSuccess / OnFailure record goes to an SQS queue
// named by the event invoke config, and a failed event goes, as it was, to the
// function's DeadLetterConfig queue with Lambda's RequestID, ErrorCode and
// ErrorMessage attributes. Read back with @aws-sdk/client-sqs.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { InvokeCommand, PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import { SQSClient, CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { useNimbus, withLogs, SKIP_NO_BINARY, REGION, CREDENTIALS, RUN_ID, ACCOUNT, sleep } from '../lib/nimbus.mjs';
import { createFunction } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const APP = `def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("failed on purpose: " + event["id"])
    return {"done": event["id"]}
`;

describe('SQS queues as async destinations and dead-letter queues', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus({ args: ['--async-retry-scale', '0.01'] });
  const t = (fn) => withLogs(box, fn);
  let sqs;
  const queueArn = (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;

  before(() => {
    sqs = new SQSClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  });

  async function queue(name) {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    return QueueUrl;
  }
  // The next message of the queue, waiting up to `seconds`.
  async function next(QueueUrl, seconds = 20) {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2, MessageAttributeNames: ['All'] }));
      if (r.Messages?.length) return r.Messages[0];
    }
    return undefined;
  }

  it('OnSuccess and OnFailure records arrive on their queues, and a failed event reaches the dead-letter queue with its attributes', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = `${RUN_ID}-to-queues`;
    const ok = await queue(`${RUN_ID}-ok`);
    const failed = await queue(`${RUN_ID}-failed`);
    const dlq = await queue(`${RUN_ID}-dlq`);
    await createFunction(lambda, {
      name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler',
      DeadLetterConfig: { TargetArn: queueArn(`${RUN_ID}-dlq`) },
    });
    await lambda.send(new PutFunctionEventInvokeConfigCommand({
      FunctionName: name, MaximumRetryAttempts: 0,
      DestinationConfig: { OnSuccess: { Destination: queueArn(`${RUN_ID}-ok`) }, OnFailure: { Destination: queueArn(`${RUN_ID}-failed`) } },
    }));

    const good = await lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: JSON.stringify({ id: 'one' }) }));
    assert.equal(good.StatusCode, 202);
    const success = await next(ok);
    assert.ok(success, 'no OnSuccess record');
    const record = JSON.parse(success.Body);
    assert.equal(record.requestContext.condition, 'Success');
    assert.equal(record.requestPayload.id, 'one');
    assert.deepEqual(record.responsePayload, { done: 'one' });

    const bad = await lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: JSON.stringify({ id: 'two', fail: true }) }));
    const requestId = bad.$metadata.requestId;
    const failure = await next(failed);
    assert.ok(failure, 'no OnFailure record');
    const f = JSON.parse(failure.Body);
    assert.equal(f.requestContext.condition, 'RetriesExhausted');
    assert.equal(f.requestContext.requestId, requestId);
    assert.equal(f.responseContext.functionError, 'Unhandled');
    assert.equal(f.requestPayload.id, 'two');

    const dead = await next(dlq);
    assert.ok(dead, 'no dead letter');
    assert.deepEqual(JSON.parse(dead.Body), { id: 'two', fail: true }, 'the event as it was');
    assert.equal(dead.MessageAttributes.RequestID.StringValue, requestId);
    assert.equal(dead.MessageAttributes.ErrorCode.DataType, 'Number');
    assert.equal(dead.MessageAttributes.ErrorCode.StringValue, '200');
    assert.match(dead.MessageAttributes.ErrorMessage.StringValue, /failed on purpose: two/);
    assert.equal(await next(dlq, 3), undefined, 'the success did not go to the dead-letter queue');

    // Lambda's async metrics for the function (written within one 2 s flush).
    const cw = new CloudWatchClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    const sum = async (MetricName) => {
      const r = await cw.send(new GetMetricStatisticsCommand({
        Namespace: 'AWS/Lambda', MetricName, Dimensions: [{ Name: 'FunctionName', Value: name }],
        StartTime: new Date(Date.now() - 600000), EndTime: new Date(Date.now() + 60000), Period: 60, Statistics: ['Sum', 'Maximum'],
      }));
      return r.Datapoints.reduce((a, d) => a + d.Sum, 0);
    };
    let received = 0;
    for (let i = 0; i < 20 && received < 2; i++) {
      received = await sum('AsyncEventsReceived');
      if (received < 2) await sleep(500);
    }
    assert.equal(received, 2);
    assert.equal(await sum('AsyncEventsDropped'), 1, 'the failed event, after its only attempt');
    assert.ok(await sum('AsyncEventAge') >= 0);
    assert.equal(await sum('DeadLetterErrors'), 0);
  }));
});
