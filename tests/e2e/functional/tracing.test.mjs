// Tracing (issue #7, scope 4): with --otlp-endpoint, every invocation becomes an
// OpenTelemetry span sent as OTLP/HTTP JSON to the collector (here a small one on
// loopback), continuing the caller's trace: X-Amzn-Trace-Id's Root and Parent, or
// a W3C traceparent's trace and parent ids, or an SQS message's AWSTraceHeader
// through an event source mapping; the function sees the same trace in
// _X_AMZN_TRACE_ID.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useNimbus, withLogs, SKIP_NO_BINARY, RUN_ID, sleep, REGION, CREDENTIALS, ACCOUNT } from '../lib/nimbus.mjs';
import { createFunction, rawRequest } from '../lib/lambda.mjs';
import { CreateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { zipFiles } from '../lib/zip.mjs';

const APP = `import os

def handler(event, context):
    if event.get("fail"):
        raise ValueError("traced failure")
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
`;

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
});
