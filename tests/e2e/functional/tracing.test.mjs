// Tracing (issue #7, scope 4): with --otlp-endpoint, every invocation becomes an
// OpenTelemetry span sent as OTLP/HTTP JSON to the collector (here a small one on
// loopback), continuing the caller's trace: X-Amzn-Trace-Id's Root and Parent, or
// a W3C traceparent's trace and parent ids, or an SQS message's AWSTraceHeader
// through an event source mapping, or the trace of the S3 request that changed an
// object (bucket notifications), or of a PutEvents entry or request (EventBridge
// rules); the function sees the same trace in _X_AMZN_TRACE_ID. DynamoDB stream
// records carry no trace (as on AWS): their invocations start new traces.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useNimbus, withLogs, SKIP_NO_BINARY, RUN_ID, sleep, REGION, CREDENTIALS, ACCOUNT } from '../lib/nimbus.mjs';
import { createFunction, functionArn, rawRequest } from '../lib/lambda.mjs';
import { AddPermissionCommand, CreateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { S3Client, CreateBucketCommand, PutBucketNotificationConfigurationCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBClient, CreateTableCommand, DescribeTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { logMessages } from '../lib/logs.mjs';
import { zipFiles } from '../lib/zip.mjs';

// Returns (and prints, for asynchronous invocations) the trace it runs in.
const APP = `import os

def handler(event, context):
    if event.get("fail"):
        raise ValueError("traced failure")
    print("TRACE " + str(os.environ.get("_X_AMZN_TRACE_ID")))
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
`;

// Adds `headers` to every request `client` sends (before signing), as a traced
// caller's SDK does.
function withHeaders(client, headers) {
  client.middlewareStack.add((next) => (args) => {
    Object.assign(args.request.headers, headers);
    return next(args);
  }, { step: 'build', name: 'traceHeaders' });
  return client;
}

describe('tracing: spans over OTLP', { skip: SKIP_NO_BINARY }, () => {
  const received = [];  // every span the collector got
  let collector;
  before(async () => {
    collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces' && /json/.test(req.headers['content-type'] ?? '')) {
          for (const rs of JSON.parse(body).resourceSpans ?? []) {
            for (const ss of rs.scopeSpans ?? []) received.push(...(ss.spans ?? []).map((s) => ({ ...s, resource: rs.resource })));
          }
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise((resolve) => collector.listen(0, '127.0.0.1', resolve));
  });
  after(() => new Promise((resolve) => collector.close(resolve)));
  const box = useNimbus(() => ({ args: ['--otlp-endpoint', `http://127.0.0.1:${collector.address().port}`] }));
  const t = (fn) => withLogs(box, fn);

  async function spanOf(requestId) {
    for (let i = 0; i < 50; i++) {
      const s = received.find((x) => x.attributes.some((a) => a.key === 'faas.invocation_id' && a.value.stringValue === requestId));
      if (s) return s;
      await sleep(200);
    }
    return undefined;
  }
  const attribute = (span, key) => span.attributes.find((a) => a.key === key)?.value;
  // The span of `fn`'s invocation in trace `traceId` (32 hex), waiting for it.
  async function spanIn(fn, traceId, timeoutMs = 20000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = received.find((x) => x.name === fn && x.traceId === traceId);
      if (s || Date.now() > end) return s;
      await sleep(200);
    }
  }
  // The traces `fn` printed ("TRACE <_X_AMZN_TRACE_ID>"), waiting for `want` of them.
  async function tracesPrinted(fn, want, timeoutMs = 20000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = (await logMessages(box.nimbus.logs(), fn)).filter((m) => m.startsWith('TRACE ')).map((m) => m.slice(6).trim());
      if (got.length >= want || Date.now() > end) return got;
      await sleep(200);
    }
  }
  async function tracedFunction(base, principal) {
    const name = `${RUN_ID}-${base}`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler' });
    if (principal) {
      await box.nimbus.lambda().send(new AddPermissionCommand({ FunctionName: name, StatementId: 'service', Action: 'lambda:InvokeFunction', Principal: principal }));
    }
    return name;
  }
  const client = (Client, extra = {}) => new Client({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1, ...extra });

  it('an invocation with X-Amzn-Trace-Id becomes a span of that trace, under its Parent, with the function and cold start', t(async () => {
    const name = `${RUN_ID}-traced`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler' });
    const header = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
    const r = await rawRequest(box.nimbus.endpoint, 'POST', `/2015-03-31/functions/${name}/invocations`, {
      body: '{}', headers: { 'X-Amzn-Trace-Id': header },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.trace, header, 'the function saw the caller\'s trace');
    const span = await spanOf(r.headers.get('x-amzn-requestid'));
    assert.ok(span, `no span for the invocation; the collector got ${received.length}`);
    assert.equal(span.traceId, '5759e988bd862e3fe1be46a994272793');
    assert.equal(span.parentSpanId, '53995c3f42cd8ad8');
    assert.match(span.spanId, /^[0-9a-f]{16}$/);
    assert.equal(span.name, name);
    assert.equal(span.kind, 2);
    assert.equal(span.status.code, 1);
    assert.equal(attribute(span, 'faas.coldstart').boolValue, true);
    assert.ok(BigInt(span.endTimeUnixNano) > BigInt(span.startTimeUnixNano));
    assert.ok(span.resource.attributes.some((a) => a.key === 'service.name' && a.value.stringValue === 'nimbus'));
  }));

  it('a W3C traceparent is continued, and a failed invocation\'s span is an error', t(async () => {
    const name = `${RUN_ID}-traced-w3c`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler' });
    const r = await rawRequest(box.nimbus.endpoint, 'POST', `/2015-03-31/functions/${name}/invocations`, {
      body: '{"fail":true}', headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-amz-function-error'), 'Unhandled');
    const span = await spanOf(r.headers.get('x-amzn-requestid'));
    assert.ok(span, 'no span for the failed invocation');
    assert.equal(span.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(span.parentSpanId, '00f067aa0ba902b7');
    assert.equal(span.status.code, 2);
  }));

  it('an SQS message keeps its AWSTraceHeader, and the function its mapping invokes continues that trace', t(async () => {
    const sqs = new SQSClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    const queue = `${RUN_ID}-traced-queue`;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queue }));
    const header = 'Root=1-6659e988-cd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=1';
    // Received directly: the system attribute is kept.
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'peek', MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: header } } }));
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MessageSystemAttributeNames: ['AWSTraceHeader'], WaitTimeSeconds: 1 }));
    assert.equal(got.Messages?.[0]?.Attributes?.AWSTraceHeader, header);
    // Through a mapping: the invocation's span is in the message's trace.
    const name = `${RUN_ID}-traced-consumer`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler' });
    const second = `${queue}-2`;
    const { QueueUrl: url2 } = await sqs.send(new CreateQueueCommand({ QueueName: second }));
    await box.nimbus.lambda().send(new CreateEventSourceMappingCommand({ FunctionName: name, EventSourceArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${second}`, BatchSize: 1 }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url2, MessageBody: '{}', MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: header } } }));
    let span;
    for (let i = 0; i < 100 && !span; i++) {
      span = received.find((x) => x.name === name);
      if (!span) await sleep(200);
    }
    assert.ok(span, 'no span for the mapped invocation');
    assert.equal(span.traceId, '6659e988cd862e3fe1be46a994272794');
    assert.equal(span.parentSpanId, '63995c3f42cd8ad9');
  }));

  it('an S3 notification continues the trace of the request that changed the object (X-Amzn-Trace-Id or traceparent)', t(async () => {
    const fn = await tracedFunction('traced-s3', 's3.amazonaws.com');
    const Bucket = `${RUN_ID}-traced-bucket`.toLowerCase();
    const s3 = client(S3Client, { forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutBucketNotificationConfigurationCommand({
      Bucket,
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [{ LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'] }],
      },
    }));
    const header = 'Root=1-7759e988-dd862e3fe1be46a994272795;Parent=73995c3f42cd8ada;Sampled=1';
    await withHeaders(client(S3Client, { forcePathStyle: true }), { 'X-Amzn-Trace-Id': header })
      .send(new PutObjectCommand({ Bucket, Key: 'traced.txt', Body: 'hello' }));
    const put = await spanIn(fn, '7759e988dd862e3fe1be46a994272795');
    assert.ok(put, `no span in the PutObject's trace; spans of ${fn}: ${JSON.stringify(received.filter((x) => x.name === fn).map((x) => x.traceId))}`);
    assert.equal(put.parentSpanId, '73995c3f42cd8ada', 'under the caller\'s span');
    assert.deepEqual(await tracesPrinted(fn, 1), [header], 'the function saw the caller\'s trace');

    await withHeaders(client(S3Client, { forcePathStyle: true }), { traceparent: '00-8bf92f3577b34da6a3ce929d0e0e4737-10f067aa0ba902b8-01' })
      .send(new DeleteObjectCommand({ Bucket, Key: 'traced.txt' }));
    const removed = await spanIn(fn, '8bf92f3577b34da6a3ce929d0e0e4737');
    assert.ok(removed, 'no span in the DeleteObject\'s W3C trace');
    assert.equal(removed.parentSpanId, '10f067aa0ba902b8');
    assert.deepEqual((await tracesPrinted(fn, 2))[1], 'Root=1-8bf92f35-77b34da6a3ce929d0e0e4737;Parent=10f067aa0ba902b8;Sampled=1');
  }));

  it('EventBridge targets continue a PutEvents entry\'s TraceHeader, else the request\'s trace; a queue target keeps it as AWSTraceHeader', t(async () => {
    const fn = await tracedFunction('traced-events', 'events.amazonaws.com');
    const sqs = client(SQSClient);
    const QueueName = `${RUN_ID}-traced-events-q`;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName }));
    const eb = client(EventBridgeClient);
    const Name = `${RUN_ID}-traced-rule`;
    await eb.send(new PutRuleCommand({ Name, EventPattern: JSON.stringify({ source: [`${RUN_ID}.traced`] }) }));
    await eb.send(new PutTargetsCommand({ Rule: Name, Targets: [{ Id: 'fn', Arn: functionArn(fn) }, { Id: 'q', Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${QueueName}` }] }));
    const entry = { Source: `${RUN_ID}.traced`, DetailType: 'Traced', Detail: '{"n":1}' };
    const own = 'Root=1-9959e988-ed862e3fe1be46a994272796;Parent=93995c3f42cd8adb;Sampled=1';
    const callers = 'Root=1-aa59e988-fd862e3fe1be46a994272797;Parent=a3995c3f42cd8adc;Sampled=1';
    const put = await withHeaders(client(EventBridgeClient), { 'X-Amzn-Trace-Id': callers })
      .send(new PutEventsCommand({ Entries: [{ ...entry, TraceHeader: own }, entry] }));
    assert.equal(put.FailedEntryCount, 0);
    const first = await spanIn(fn, '9959e988ed862e3fe1be46a994272796');
    assert.ok(first, 'no span in the entry\'s TraceHeader trace');
    assert.equal(first.parentSpanId, '93995c3f42cd8adb');
    const second = await spanIn(fn, 'aa59e988fd862e3fe1be46a994272797');
    assert.ok(second, 'no span in the PutEvents request\'s trace');
    assert.equal(second.parentSpanId, 'a3995c3f42cd8adc');
    assert.deepEqual((await tracesPrinted(fn, 2)).sort(), [own, callers].sort());
    const got = [];
    for (let i = 0; i < 10 && got.length < 2; i++) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['AWSTraceHeader'] }));
      got.push(...Messages.map((m) => m.Attributes?.AWSTraceHeader));
    }
    assert.deepEqual(got.sort(), [own, callers].sort());
  }));

  it('a DynamoDB stream record carries no trace: the mapped invocation starts a new one, as on AWS', t(async () => {
    const fn = await tracedFunction('traced-stream');
    const ddb = client(DynamoDBClient);
    const TableName = `${RUN_ID}-traced-table`;
    await ddb.send(new CreateTableCommand({
      TableName, BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
    }));
    let table;
    for (let i = 0; i < 100 && table?.TableStatus !== 'ACTIVE'; i++) {
      table = (await ddb.send(new DescribeTableCommand({ TableName }))).Table;
      if (table.TableStatus !== 'ACTIVE') await sleep(100);
    }
    await box.nimbus.lambda().send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: table.LatestStreamArn, StartingPosition: 'TRIM_HORIZON', BatchSize: 1 }));
    const header = 'Root=1-bb59e988-0d862e3fe1be46a994272798;Parent=b3995c3f42cd8add;Sampled=1';
    await withHeaders(client(DynamoDBClient), { 'X-Amzn-Trace-Id': header })
      .send(new PutItemCommand({ TableName, Item: { pk: { S: 'traced' } } }));
    const [seen] = await tracesPrinted(fn, 1, 60000);
    assert.ok(seen, 'the stream mapping did not invoke the function');
    assert.match(seen, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24}/);
    assert.ok(!seen.includes('bb59e988'), `the invocation continued the writer's trace: ${seen}`);
    let span;
    for (let i = 0; i < 100 && !span; i++) {
      span = received.find((x) => x.name === fn);
      if (!span) await sleep(200);
    }
    assert.ok(span, 'no span for the stream invocation');
    assert.notEqual(span.traceId, 'bb59e9880d862e3fe1be46a994272798');
    assert.equal(span.traceId, seen.slice(7, 15) + seen.slice(16, 40), 'the span is in the trace the function saw');
  }));
});
