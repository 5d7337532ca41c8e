// The SQS-compatible queue service, served on the Lambda API's port and chosen by the
// SigV4 credential scope's service ("sqs"), driven with @aws-sdk/client-sqs (the AWS
// JSON 1.0 protocol: X-Amz-Target AmazonSQS.*) exactly as an application would:
// queues (create, idempotent create, conflicts, naming rules, URL, list, delete),
// attributes (defaults, ARN, counters, set, unknown names), messages (MD5 of body and
// of message attributes, delays), receiving (batch size, visibility timeout, receive
// count and timestamps, delete, visibility changes, invalid receipt handles), long
// polling, the three batch actions, PurgeQueue, redrive to a dead-letter queue, FIFO
// queues (group order, one in-flight batch per group, deduplication), a restart on the
// same data directory, the query protocol (form-encoded Action=..., XML answers) that
// older SDKs speak, and Debian's boto3 (query protocol) inside a function. Errors are
// checked by the SDK's `name` and the HTTP status AWS documents for them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  SQSClient,
  CreateQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand,
  ChangeMessageVisibilityBatchCommand,
  PurgeQueueCommand,
} from '@aws-sdk/client-sqs';
import { ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, withDaemon, sleep, uniqueName, SKIP_NO_BINARY, REGION, ACCOUNT, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { expectServiceError, createFunction, invoke } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { signedHeaders } from '../lib/sign.mjs';

// --- clients, names and queues -------------------------------------------------

// One attempt, so no retry hides a 5xx; a request that hangs (a long poll that never
// ends) fails after 30 s instead of hanging the suite. With an explicit endpoint the
// SDK sends every request there, whatever host a QueueUrl names.
function sqsClient(nimbus, overrides = {}) {
  return new SQSClient({
    endpoint: nimbus.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 30_000, throwOnRequestTimeout: true },
    ...overrides,
  });
}

// Records the headers of every request the client sends, after signing, so a test can
// show which protocol and signing scope it exercised.
function captureRequests(client) {
  const sent = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const headers = {};
      for (const [k, v] of Object.entries(args.request.headers ?? {})) headers[k.toLowerCase()] = v;
      sent.push({ method: args.request.method, path: args.request.path, headers });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'e2eCaptureRequests', priority: 'low' },
  );
  return sent;
}

// The error names the SDK may give each SQS error: the modelled shape's name, or the
// query-protocol code AWS also sends (the SDK maps that code to the shape when it knows
// it, and otherwise names the error after it).
const ERR = {
  QueueDoesNotExist: ['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue'],
  QueueNameExists: ['QueueNameExists', 'QueueAlreadyExists'],
  InvalidAttributeName: ['InvalidAttributeName'],
  InvalidAttributeValue: ['InvalidAttributeValue', 'InvalidParameterValue'],
  InvalidParameterValue: ['InvalidParameterValue'],
  MissingParameter: ['MissingParameter', 'InvalidParameterValue'],
  ReceiptHandleIsInvalid: ['ReceiptHandleIsInvalid'],
  MessageNotInflight: ['MessageNotInflight', 'AWS.SimpleQueueService.MessageNotInflight'],
  InvalidMessageContents: ['InvalidMessageContents'],
  TooManyEntriesInBatchRequest: ['TooManyEntriesInBatchRequest', 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest'],
  BatchEntryIdsNotDistinct: ['BatchEntryIdsNotDistinct', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct'],
  EmptyBatchRequest: ['EmptyBatchRequest', 'AWS.SimpleQueueService.EmptyBatchRequest'],
  InvalidBatchEntryId: ['InvalidBatchEntryId', 'AWS.SimpleQueueService.InvalidBatchEntryId'],
};

function expectSqsError(fn, error, status = 400) {
  return expectServiceError(fn, { name: ERR[error], status });
}

// Awaits `promise`; a failure's message starts with `what`.
async function labelled(what, promise) {
  try {
    return await promise;
  } catch (e) {
    try {
      e.message = `${what}: ${e.message}`;
    } catch {
      /* frozen error */
    }
    throw e;
  }
}

// A queue name unique to this test process: letters, digits and hyphens, ≤ 64 characters.
function queueName(base) {
  return uniqueName(base);
}

async function createQueue(client, base, Attributes) {
  const QueueName = queueName(base);
  const r = await client.send(new CreateQueueCommand({ QueueName, Attributes }));
  return { name: QueueName, url: r.QueueUrl };
}

async function createFifoQueue(client, base, Attributes = {}) {
  const QueueName = `${queueName(base)}.fifo`;
  const r = await client.send(new CreateQueueCommand({ QueueName, Attributes: { FifoQueue: 'true', ...Attributes } }));
  return { name: QueueName, url: r.QueueUrl };
}

function queueArn(name) {
  return `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
}

async function queueAttributes(client, QueueUrl, AttributeNames = ['All']) {
  return (await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames }))).Attributes ?? {};
}

async function counts(client, QueueUrl) {
  const a = await queueAttributes(client, QueueUrl, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
  return { visible: a.ApproximateNumberOfMessages, inFlight: a.ApproximateNumberOfMessagesNotVisible };
}

async function receive(client, QueueUrl, extra = {}) {
  const r = await client.send(new ReceiveMessageCommand({ QueueUrl, ...extra }));
  return r.Messages ?? [];
}

async function send(client, QueueUrl, MessageBody, extra = {}) {
  return client.send(new SendMessageCommand({ QueueUrl, MessageBody, ...extra }));
}

// Receives (and, with `del`, deletes) until a receive comes back empty; returns every
// message in the order received.
async function drain(client, QueueUrl, { del = true, max = 10, extra = {}, limit = 50 } = {}) {
  const out = [];
  for (let i = 0; i < limit; i++) {
    const got = await receive(client, QueueUrl, { MaxNumberOfMessages: max, ...extra });
    if (got.length === 0) return out;
    assert.ok(got.length <= max, `received ${got.length} messages, more than MaxNumberOfMessages ${max}`);
    out.push(...got);
    if (del) for (const m of got) await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
  }
  assert.fail(`queue ${QueueUrl} still not empty after ${limit} receives`);
}

// --- hashes ---------------------------------------------------------------------

function md5Hex(data) {
  return crypto.createHash('md5').update(data).digest('hex');
}

function lengthPrefixed(bytes) {
  const b = Buffer.from(bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

// SQS's MD5OfMessageAttributes (the digest the Java SDK and boto check): for each
// attribute in name order, the name, the data type, a transport byte (1 for a string
// value, 2 for a binary one) and the value, each string or value preceded by its length
// as 4 big-endian bytes; the hex MD5 of the whole.
function md5OfMessageAttributes(attributes) {
  const parts = [];
  for (const name of Object.keys(attributes).sort()) {
    const { DataType, StringValue, BinaryValue } = attributes[name];
    parts.push(lengthPrefixed(Buffer.from(name, 'utf8')), lengthPrefixed(Buffer.from(DataType, 'utf8')));
    if (BinaryValue !== undefined) parts.push(Buffer.from([2]), lengthPrefixed(BinaryValue));
    else parts.push(Buffer.from([1]), lengthPrefixed(Buffer.from(StringValue, 'utf8')));
  }
  return md5Hex(Buffer.concat(parts));
}

// Message attributes as comparable plain values (binary ones as hex).
function attributesView(attributes) {
  return Object.fromEntries(
    Object.entries(attributes ?? {}).map(([k, v]) => [
      k,
      v.BinaryValue !== undefined ? { DataType: v.DataType, Binary: Buffer.from(v.BinaryValue).toString('hex') } : { DataType: v.DataType, String: v.StringValue },
    ]),
  );
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// An epoch-milliseconds attribute (SentTimestamp, ApproximateFirstReceiveTimestamp)
// inside [startMs, endMs], with a second of slack: the daemon and the tests share a clock.
function assertEpochMs(value, startMs, endMs, what) {
  assert.match(String(value), /^\d{13}$/, `${what} is not epoch milliseconds: ${value}`);
  const t = Number(value);
  assert.ok(t >= startMs - 1000 && t <= endMs + 1000, `${what} ${new Date(t).toISOString()} outside [${new Date(startMs).toISOString()}, ${new Date(endMs).toISOString()}]`);
}

// --- the query protocol ---------------------------------------------------------

// POSTs Action=...&<params>&Version=2012-11-05 form-encoded to the endpoint's "/", the
// way botocore's query serializer does, signed for "sqs" as botocore signs it.
// Returns { status, contentType, text }.
async function queryRequest(endpoint, params, { contentType = 'application/x-www-form-urlencoded' } = {}) {
  const body = new URLSearchParams([...Object.entries(params), ['Version', '2012-11-05']]).toString();
  const headers = await signedHeaders(`${endpoint}/`, { method: 'POST', headers: { 'content-type': contentType }, body, credentials: CREDENTIALS, region: REGION, service: 'sqs' });
  const res = await fetch(`${endpoint}/`, { method: 'POST', headers, body });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

// The inner text of every <tag>...</tag> (or <tag/>) in `xml`, in document order.
function xmlAll(xml, tag) {
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>|<${tag}(?:\\s[^>]*)?/>`, 'g');
  return [...xml.matchAll(re)].map((m) => m[1] ?? '');
}

// The inner text of the first element along `tags` (each inside the previous), or undefined.
function xmlAt(xml, ...tags) {
  let cur = xml;
  for (const tag of tags) {
    const all = xmlAll(cur, tag);
    if (all.length === 0) return undefined;
    cur = all[0];
  }
  return cur;
}

function xmlUnescape(s) {
  return s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function assertXmlRoot(r, root, status = 200) {
  assert.equal(r.status, status, `want HTTP ${status} <${root}>, got ${r.status}: ${r.text.slice(0, 800)}`);
  assert.match(r.contentType, /xml/, `Content-Type of a query-protocol answer: ${r.contentType}`);
  assert.match(r.text, new RegExp(`^\\s*(<\\?xml[^>]*\\?>\\s*)?<${root}[\\s>]`), `answer is not a <${root}> document: ${r.text.slice(0, 800)}`);
}

// --- boto3 inside a function ------------------------------------------------------

// Debian's boto3 (1.26, the query protocol), unchanged: the endpoint comes from
// AWS_ENDPOINT_URL, credentials and region from the function's environment.
const BOTO3_SQS = `import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    if event["op"] == "send":
        r = sqs.send_message(QueueUrl=event["url"], MessageBody=event["body"])
        return {"MessageId": r["MessageId"], "MD5OfMessageBody": r["MD5OfMessageBody"]}
    url = sqs.get_queue_url(QueueName=event["name"])["QueueUrl"]
    r = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=5,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    out = []
    for m in r.get("Messages", []):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        out.append({
            "MessageId": m["MessageId"],
            "Body": m["Body"],
            "MD5OfBody": m["MD5OfBody"],
            "ReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
            "color": m.get("MessageAttributes", {}).get("color", {}).get("StringValue"),
        })
    return {"url": url, "messages": out}
`;

// =====================================================================================

describe('SQS queues (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let client;
  const sqs = () => (client ??= sqsClient(box.nimbus));
  after(() => client?.destroy());

  describe('queues', () => {
    it('CreateQueue returns a QueueUrl ending in /000000000000/<name>, signed for service "sqs" and sent as AWS JSON 1.0; GetQueueUrl returns the same URL', t(async () => {
      const c = sqsClient(box.nimbus);
      const sent = captureRequests(c);
      try {
        const QueueName = queueName('url');
        const created = await c.send(new CreateQueueCommand({ QueueName }));
        assert.equal(created.$metadata.httpStatusCode, 200);
        assert.match(created.QueueUrl, new RegExp(`^https?://[^/]+/${ACCOUNT}/${QueueName}$`));
        assert.doesNotThrow(() => new URL(created.QueueUrl), created.QueueUrl);
        const got = await c.send(new GetQueueUrlCommand({ QueueName }));
        assert.equal(got.QueueUrl, created.QueueUrl);

        assert.equal(sent[0].headers['x-amz-target'], 'AmazonSQS.CreateQueue');
        assert.match(sent[0].headers['content-type'], /^application\/x-amz-json-1\.0/);
        assert.match(sent[0].headers.authorization, new RegExp(`/${REGION}/sqs/aws4_request`));
        assert.equal(sent[1].headers['x-amz-target'], 'AmazonSQS.GetQueueUrl');
      } finally {
        c.destroy();
      }
    }));

    it('creating a queue again with the same attributes returns the same URL; with different attributes it is QueueNameExists (400) and the queue keeps its attributes', t(async () => {
      const c = sqs();
      const QueueName = queueName('again');
      const first = await c.send(new CreateQueueCommand({ QueueName, Attributes: { VisibilityTimeout: '45', DelaySeconds: '1' } }));
      const second = await c.send(new CreateQueueCommand({ QueueName, Attributes: { VisibilityTimeout: '45', DelaySeconds: '1' } }));
      assert.equal(second.QueueUrl, first.QueueUrl);
      await expectSqsError(() => c.send(new CreateQueueCommand({ QueueName, Attributes: { VisibilityTimeout: '46', DelaySeconds: '1' } })), 'QueueNameExists');
      const a = await queueAttributes(c, first.QueueUrl);
      assert.equal(a.VisibilityTimeout, '45');
      assert.equal(a.DelaySeconds, '1');
    }));

    it('ListQueues lists every queue, and with QueueNamePrefix exactly the queues whose names start with it', t(async () => {
      const c = sqs();
      const prefix = queueName('list');
      const mine = [];
      for (const s of ['a', 'b', 'c']) mine.push((await c.send(new CreateQueueCommand({ QueueName: `${prefix}-${s}` }))).QueueUrl);
      const other = await createQueue(c, 'unlisted');

      const byPrefix = (await c.send(new ListQueuesCommand({ QueueNamePrefix: prefix }))).QueueUrls ?? [];
      assert.deepEqual([...byPrefix].sort(), [...mine].sort());
      const all = (await c.send(new ListQueuesCommand({}))).QueueUrls ?? [];
      for (const u of [...mine, other.url]) assert.ok(all.includes(u), `${u} missing from ListQueues: ${all}`);
      const none = await c.send(new ListQueuesCommand({ QueueNamePrefix: `${prefix}-zzz` }));
      assert.deepEqual(none.QueueUrls ?? [], []);
    }));

    it('DeleteQueue removes the queue: GetQueueUrl, SendMessage and GetQueueAttributes then answer QueueDoesNotExist (400) and ListQueues no longer lists it', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'deleted');
      await send(c, q.url, 'goes with the queue');
      const deleted = await c.send(new DeleteQueueCommand({ QueueUrl: q.url }));
      assert.equal(deleted.$metadata.httpStatusCode, 200);
      await expectSqsError(() => c.send(new GetQueueUrlCommand({ QueueName: q.name })), 'QueueDoesNotExist');
      await expectSqsError(() => send(c, q.url, 'x'), 'QueueDoesNotExist');
      await expectSqsError(() => queueAttributes(c, q.url), 'QueueDoesNotExist');
      await expectSqsError(() => receive(c, q.url), 'QueueDoesNotExist');
      const listed = (await c.send(new ListQueuesCommand({ QueueNamePrefix: q.name }))).QueueUrls ?? [];
      assert.deepEqual(listed, []);
    }));

    it('GetQueueUrl and every message action on a queue that never existed answer QueueDoesNotExist (400)', t(async () => {
      const c = sqs();
      const name = queueName('never');
      const url = `${box.nimbus.endpoint}/${ACCOUNT}/${name}`;
      await expectSqsError(() => c.send(new GetQueueUrlCommand({ QueueName: name })), 'QueueDoesNotExist');
      await expectSqsError(() => send(c, url, 'x'), 'QueueDoesNotExist');
      await expectSqsError(() => receive(c, url), 'QueueDoesNotExist');
      await expectSqsError(() => c.send(new PurgeQueueCommand({ QueueUrl: url })), 'QueueDoesNotExist');
      await expectSqsError(() => c.send(new DeleteQueueCommand({ QueueUrl: url })), 'QueueDoesNotExist');
    }));

    it('queue names that break the naming rules are refused with InvalidParameterValue (400) and nothing is created; an 80-character name is accepted', t(async () => {
      const c = sqs();
      const bad = [
        { QueueName: `${RUN_ID}-${'x'.repeat(81)}`.slice(0, 81), why: '81 characters' },
        { QueueName: `${RUN_ID}-bad name`, why: 'a space' },
        { QueueName: `${RUN_ID}-bad!name`, why: 'punctuation' },
        { QueueName: `${RUN_ID}-bad/name`, why: 'a slash' },
        { QueueName: `${RUN_ID}-dotted.name`, why: 'a dot in a standard queue name' },
        { QueueName: `${queueName('nofifo')}.fifo`, why: 'a ".fifo" name without FifoQueue' },
        { QueueName: queueName('fifonosuffix'), Attributes: { FifoQueue: 'true' }, why: 'FifoQueue "true" without ".fifo"' },
      ];
      for (const { QueueName, Attributes, why } of bad) {
        await labelled(why, expectSqsError(() => c.send(new CreateQueueCommand({ QueueName, Attributes })), 'InvalidParameterValue'));
      }
      const listed = (await c.send(new ListQueuesCommand({ QueueNamePrefix: RUN_ID }))).QueueUrls ?? [];
      for (const { QueueName } of bad) assert.ok(!listed.some((u) => u.endsWith(`/${QueueName}`)), `${QueueName} was created: ${listed}`);

      const longest = `${queueName('max')}-${'x'.repeat(80)}`.slice(0, 80);
      assert.equal(longest.length, 80);
      const ok = await c.send(new CreateQueueCommand({ QueueName: longest }));
      assert.ok(ok.QueueUrl.endsWith(`/${ACCOUNT}/${longest}`), ok.QueueUrl);
      const fifo = await c.send(new CreateQueueCommand({ QueueName: `${queueName('fifo-ok')}_x.fifo`, Attributes: { FifoQueue: 'true' } }));
      assert.match(fifo.QueueUrl, /_x\.fifo$/);
    }));

    it('a QueueUrl naming any host (AWS\'s own, or localhost on another port) reaches the queue of that name', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'anyhost');
      const viaAws = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${q.name}`;
      const viaLocal = `http://localhost:4566/${ACCOUNT}/${q.name}`;
      const a = await send(c, viaAws, 'via the AWS host name');
      const b = await send(c, viaLocal, 'via localhost:4566');
      const got = await drain(c, q.url);
      assert.deepEqual(got.map((m) => m.MessageId).sort(), [a.MessageId, b.MessageId].sort());
      assert.equal((await queueAttributes(c, viaAws, ['QueueArn'])).QueueArn, queueArn(q.name));
    }));
  });

  describe('attributes', () => {
    it('GetQueueAttributes(All) of a new queue reports its QueueArn, AWS\'s defaults and its CreatedTimestamp; ApproximateNumberOfMessages counts visible messages and ApproximateNumberOfMessagesNotVisible in-flight ones', t(async () => {
      const c = sqs();
      const start = Math.floor(Date.now() / 1000);
      const q = await createQueue(c, 'attrs');
      const end = Math.ceil(Date.now() / 1000);
      const a = await queueAttributes(c, q.url);
      assert.equal(a.QueueArn, queueArn(q.name));
      assert.equal(a.VisibilityTimeout, '30');
      assert.equal(a.MessageRetentionPeriod, '345600');
      assert.equal(a.DelaySeconds, '0');
      assert.equal(a.ReceiveMessageWaitTimeSeconds, '0');
      // 262144 until AWS raised the limit to 1 MiB in 2025.
      assert.ok(['262144', '1048576'].includes(a.MaximumMessageSize), `MaximumMessageSize ${a.MaximumMessageSize}`);
      assert.match(a.CreatedTimestamp ?? '', /^\d{10}$/, `CreatedTimestamp is not epoch seconds: ${a.CreatedTimestamp}`);
      assert.ok(Number(a.CreatedTimestamp) >= start - 1 && Number(a.CreatedTimestamp) <= end + 1, `CreatedTimestamp ${a.CreatedTimestamp} outside [${start}, ${end}]`);
      assert.match(a.LastModifiedTimestamp ?? '', /^\d{10}$/, `LastModifiedTimestamp: ${a.LastModifiedTimestamp}`);
      assert.equal(a.ApproximateNumberOfMessages, '0');
      assert.equal(a.ApproximateNumberOfMessagesNotVisible, '0');
      assert.equal(a.ApproximateNumberOfMessagesDelayed, '0');
      assert.equal(a.FifoQueue, undefined, 'a standard queue has no FifoQueue attribute');

      // Only the attributes asked for.
      const two = await queueAttributes(c, q.url, ['VisibilityTimeout', 'QueueArn']);
      assert.deepEqual(Object.keys(two).sort(), ['QueueArn', 'VisibilityTimeout']);

      for (let i = 0; i < 3; i++) await send(c, q.url, `m${i}`);
      assert.deepEqual(await counts(c, q.url), { visible: '3', inFlight: '0' });
      const [m] = await receive(c, q.url, { MaxNumberOfMessages: 1 });
      assert.ok(m, 'nothing received');
      assert.deepEqual(await counts(c, q.url), { visible: '2', inFlight: '1' });
      await c.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: m.ReceiptHandle }));
      assert.deepEqual(await counts(c, q.url), { visible: '2', inFlight: '0' });
    }));

    it('SetQueueAttributes changes VisibilityTimeout, leaves the other attributes alone, and the new timeout governs the next receive', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'setattr');
      const before = await queueAttributes(c, q.url);
      const set = await c.send(new SetQueueAttributesCommand({ QueueUrl: q.url, Attributes: { VisibilityTimeout: '2' } }));
      assert.equal(set.$metadata.httpStatusCode, 200);
      const a = await queueAttributes(c, q.url);
      assert.equal(a.VisibilityTimeout, '2');
      for (const k of ['QueueArn', 'MessageRetentionPeriod', 'DelaySeconds', 'CreatedTimestamp', 'MaximumMessageSize']) assert.equal(a[k], before[k], k);
      assert.ok(Number(a.LastModifiedTimestamp) >= Number(before.CreatedTimestamp), `LastModifiedTimestamp ${a.LastModifiedTimestamp} before CreatedTimestamp ${before.CreatedTimestamp}`);

      const sent = await send(c, q.url, 'short visibility');
      const [first] = await receive(c, q.url);
      assert.equal(first?.MessageId, sent.MessageId);
      assert.deepEqual(await receive(c, q.url), [], 'visible again at once');
      await sleep(2300);
      const [again] = await receive(c, q.url, { WaitTimeSeconds: 2 });
      assert.equal(again?.MessageId, sent.MessageId, 'not visible again 2 s after a receive under VisibilityTimeout 2');
    }));

    it('an unknown attribute name is InvalidAttributeName (400) in GetQueueAttributes, SetQueueAttributes and CreateQueue; an out-of-range VisibilityTimeout is refused and changes nothing', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'badattr');
      await expectSqsError(() => queueAttributes(c, q.url, ['NoSuchAttribute']), 'InvalidAttributeName');
      await expectSqsError(() => c.send(new SetQueueAttributesCommand({ QueueUrl: q.url, Attributes: { NoSuchAttribute: '1' } })), 'InvalidAttributeName');
      const name = queueName('badattr-create');
      await expectSqsError(() => c.send(new CreateQueueCommand({ QueueName: name, Attributes: { NoSuchAttribute: '1' } })), 'InvalidAttributeName');
      await expectSqsError(() => c.send(new GetQueueUrlCommand({ QueueName: name })), 'QueueDoesNotExist');

      await expectSqsError(() => c.send(new SetQueueAttributesCommand({ QueueUrl: q.url, Attributes: { VisibilityTimeout: '43201' } })), 'InvalidAttributeValue');
      assert.equal((await queueAttributes(c, q.url, ['VisibilityTimeout'])).VisibilityTimeout, '30');
    }));
  });

  describe('messages', () => {
    it('SendMessage returns a MessageId and MD5OfMessageBody, the hex MD5 of the body; ReceiveMessage returns the body unchanged with the same MessageId and MD5OfBody and a ReceiptHandle', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'send');
      const bodies = [
        'plain text',
        '{"json": true, "nested": {"a": [1, 2, 3]}} <xml attr="1"/> & ampersand + plus = equals % percent',
        'ünïcødé 日本語 😀\n\ttabs and\r\nnewlines',
        'y'.repeat(200_000),
      ];
      const ids = {};
      for (const body of bodies) {
        const r = await send(c, q.url, body);
        assert.equal(r.$metadata.httpStatusCode, 200);
        assert.match(r.MessageId, UUID_RE, `MessageId ${r.MessageId}`);
        assert.equal(r.MD5OfMessageBody, md5Hex(Buffer.from(body, 'utf8')), `MD5OfMessageBody of ${JSON.stringify(body.slice(0, 40))}`);
        ids[r.MessageId] = body;
      }
      assert.equal(Object.keys(ids).length, bodies.length, 'MessageIds are not distinct');
      const got = await drain(c, q.url);
      assert.equal(got.length, bodies.length);
      for (const m of got) {
        assert.ok(m.MessageId in ids, `unknown MessageId ${m.MessageId}`);
        assert.equal(m.Body, ids[m.MessageId], `body of ${m.MessageId}`);
        assert.equal(m.MD5OfBody, md5Hex(Buffer.from(m.Body, 'utf8')));
        assert.ok(typeof m.ReceiptHandle === 'string' && m.ReceiptHandle.length > 0, `ReceiptHandle ${m.ReceiptHandle}`);
      }
    }));

    it('a message body with characters SQS does not allow is InvalidMessageContents (400) and nothing is stored', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'badbody');
      await expectSqsError(() => send(c, q.url, 'control \u0001 character'), 'InvalidMessageContents');
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '0' });
    }));

    it('message attributes of type String, Number, Binary and a custom String type round-trip: SendMessage\'s MD5OfMessageAttributes is SQS\'s digest of them, and ReceiveMessage returns them (all with ["All"], the named ones by name, none unasked) with the same digest', t(async () => {
      // The digest helper agrees with the value AWS returns for this attribute (pinned by moto's tests).
      assert.equal(md5OfMessageAttributes({ timestamp: { DataType: 'Number', StringValue: '1493147359900' } }), '235c5c510d26fb653d073faed50ae77c');

      const c = sqs();
      const q = await createQueue(c, 'msgattrs');
      const MessageAttributes = {
        color: { DataType: 'String', StringValue: 'blue' },
        count: { DataType: 'Number', StringValue: '3.14' },
        blob: { DataType: 'Binary', BinaryValue: new Uint8Array([0, 1, 2, 127, 128, 254, 255]) },
        'note.custom_1': { DataType: 'String.custom', StringValue: 'ünï <&>' },
      };
      const body = 'with attributes';
      const sent = await send(c, q.url, body, { MessageAttributes });
      assert.equal(sent.MD5OfMessageBody, md5Hex(body));
      assert.equal(sent.MD5OfMessageAttributes, md5OfMessageAttributes(MessageAttributes));

      const [all] = await receive(c, q.url, { MessageAttributeNames: ['All'], VisibilityTimeout: 30 });
      assert.ok(all, 'nothing received');
      assert.equal(all.MessageId, sent.MessageId);
      assert.deepEqual(attributesView(all.MessageAttributes), attributesView(MessageAttributes));
      assert.equal(all.MD5OfMessageAttributes, md5OfMessageAttributes(MessageAttributes));

      await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q.url, ReceiptHandle: all.ReceiptHandle, VisibilityTimeout: 0 }));
      const [named] = await receive(c, q.url, { MessageAttributeNames: ['color'], VisibilityTimeout: 30 });
      assert.equal(named?.MessageId, sent.MessageId);
      assert.deepEqual(attributesView(named.MessageAttributes), attributesView({ color: MessageAttributes.color }));

      await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q.url, ReceiptHandle: named.ReceiptHandle, VisibilityTimeout: 0 }));
      const [unasked] = await receive(c, q.url);
      assert.equal(unasked?.MessageId, sent.MessageId);
      assert.deepEqual(attributesView(unasked.MessageAttributes), {}, 'message attributes returned without MessageAttributeNames');
    }));

    it('DelaySeconds on a message, or on its queue, hides it until the delay elapses (counted meanwhile in ApproximateNumberOfMessagesDelayed); a message\'s DelaySeconds 0 overrides the queue\'s', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'delay');
      const delayedQueue = await createQueue(c, 'delayq', { DelaySeconds: '2' });
      const t0 = Date.now();
      const a = await send(c, q.url, 'delayed by the message', { DelaySeconds: 2 });
      const b = await send(c, delayedQueue.url, 'delayed by the queue');
      const now = await send(c, delayedQueue.url, 'not delayed', { DelaySeconds: 0 });

      assert.deepEqual(await receive(c, q.url), [], 'a message with DelaySeconds 2 was received at once');
      const early = await receive(c, delayedQueue.url, { MaxNumberOfMessages: 10 });
      assert.deepEqual(early.map((m) => m.MessageId), [now.MessageId], 'only the undelayed message is receivable at once');
      const attrs = await queueAttributes(c, q.url);
      assert.equal(attrs.ApproximateNumberOfMessagesDelayed, '1');
      assert.equal(attrs.ApproximateNumberOfMessages, '0');

      await sleep(Math.max(0, t0 + 2300 - Date.now()));
      const [gotA] = await receive(c, q.url, { WaitTimeSeconds: 2 });
      assert.equal(gotA?.MessageId, a.MessageId, 'the delayed message did not arrive after its delay');
      const [gotB] = await receive(c, delayedQueue.url, { WaitTimeSeconds: 2 });
      assert.equal(gotB?.MessageId, b.MessageId, 'the message delayed by its queue did not arrive after the delay');
      assert.equal((await queueAttributes(c, q.url, ['ApproximateNumberOfMessagesDelayed'])).ApproximateNumberOfMessagesDelayed, '0');
    }));
  });

  describe('receiving', () => {
    it('ReceiveMessage returns at most MaxNumberOfMessages (up to 10) and, across receives, every message exactly once; MaxNumberOfMessages 0 or 11 is InvalidParameterValue (400)', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'max');
      const bodies = Array.from({ length: 15 }, (_, i) => `message ${i}`);
      for (const b of bodies) await send(c, q.url, b);
      const one = await receive(c, q.url, { MaxNumberOfMessages: 1 });
      assert.equal(one.length, 1);
      const ten = await receive(c, q.url, { MaxNumberOfMessages: 10 });
      assert.ok(ten.length >= 1 && ten.length <= 10, `MaxNumberOfMessages 10 returned ${ten.length}`);
      const dflt = await receive(c, q.url);
      assert.ok(dflt.length <= 1, `without MaxNumberOfMessages ${dflt.length} messages came back (the default is 1)`);
      const rest = await drain(c, q.url, { del: false });
      const all = [...one, ...ten, ...dflt, ...rest].map((m) => m.Body);
      assert.deepEqual([...all].sort(), [...bodies].sort(), 'not every message was received exactly once');

      await expectSqsError(() => receive(c, q.url, { MaxNumberOfMessages: 11 }), 'InvalidParameterValue');
      await expectSqsError(() => receive(c, q.url, { MaxNumberOfMessages: 0 }), 'InvalidParameterValue');
    }));

    it('a received message is invisible for the queue\'s VisibilityTimeout, then comes back with a new ReceiptHandle and ApproximateReceiveCount "2"; SentTimestamp and ApproximateFirstReceiveTimestamp are epoch milliseconds and do not change', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'visibility', { VisibilityTimeout: '2' });
      const s0 = Date.now();
      const sent = await send(c, q.url, 'comes back');
      const s1 = Date.now();
      const r0 = Date.now();
      const [first] = await receive(c, q.url, { MessageSystemAttributeNames: ['All'] });
      const r1 = Date.now();
      assert.equal(first?.MessageId, sent.MessageId);
      assert.equal(first.Attributes?.ApproximateReceiveCount, '1');
      assertEpochMs(first.Attributes?.SentTimestamp, s0, s1, 'SentTimestamp');
      assertEpochMs(first.Attributes?.ApproximateFirstReceiveTimestamp, r0, r1, 'ApproximateFirstReceiveTimestamp');
      assert.ok(Number(first.Attributes.ApproximateFirstReceiveTimestamp) >= Number(first.Attributes.SentTimestamp));

      assert.deepEqual(await receive(c, q.url), [], 'received again while invisible');
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '1' });
      await sleep(Math.max(0, r0 + 2300 - Date.now()));
      // The legacy AttributeNames parameter names the same system attributes.
      const [second] = await receive(c, q.url, { AttributeNames: ['All'], WaitTimeSeconds: 2 });
      assert.equal(second?.MessageId, sent.MessageId, 'not visible again after VisibilityTimeout 2');
      assert.equal(second.Body, 'comes back');
      assert.equal(second.Attributes?.ApproximateReceiveCount, '2');
      assert.notEqual(second.ReceiptHandle, first.ReceiptHandle, 'a second receive reuses the receipt handle');
      assert.equal(second.Attributes.SentTimestamp, first.Attributes.SentTimestamp);
      assert.equal(second.Attributes.ApproximateFirstReceiveTimestamp, first.Attributes.ApproximateFirstReceiveTimestamp);
    }));

    it('the VisibilityTimeout given to ReceiveMessage overrides the queue\'s for that receive only', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'override');
      const sent = await send(c, q.url, 'short override');
      const r0 = Date.now();
      const [first] = await receive(c, q.url, { VisibilityTimeout: 2 });
      assert.equal(first?.MessageId, sent.MessageId);
      assert.deepEqual(await receive(c, q.url), []);
      await sleep(Math.max(0, r0 + 2300 - Date.now()));
      const [second] = await receive(c, q.url, { WaitTimeSeconds: 2, MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
      assert.equal(second?.MessageId, sent.MessageId, 'not visible again after a per-receive VisibilityTimeout of 2');
      assert.equal(second.Attributes?.ApproximateReceiveCount, '2');
      // This receive used the queue's 30 s: hidden well past 2 s.
      await sleep(2300);
      assert.deepEqual(await receive(c, q.url), [], 'the queue\'s VisibilityTimeout 30 did not apply to a receive without an override');
    }));

    it('DeleteMessage removes a received message for good: it does not come back after its visibility timeout and the queue counts it nowhere; deleting it again is not an error', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'delete');
      await send(c, q.url, 'deleted');
      const [m] = await receive(c, q.url, { VisibilityTimeout: 1 });
      assert.ok(m, 'nothing received');
      const del = await c.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: m.ReceiptHandle }));
      assert.equal(del.$metadata.httpStatusCode, 200);
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '0' });
      await sleep(1500);
      assert.deepEqual(await receive(c, q.url, { WaitTimeSeconds: 1 }), [], 'a deleted message came back');
      await c.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: m.ReceiptHandle }));
    }));

    it('ChangeMessageVisibility to 0 makes an in-flight message visible at once; a longer timeout keeps it hidden beyond the one it was received with', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'changevis');
      const sent = await send(c, q.url, 'change my visibility');
      const [m] = await receive(c, q.url);
      assert.equal(m?.MessageId, sent.MessageId);
      const changed = await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q.url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
      assert.equal(changed.$metadata.httpStatusCode, 200);
      const [again] = await receive(c, q.url, { VisibilityTimeout: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
      assert.equal(again?.MessageId, sent.MessageId, 'not visible at once after ChangeMessageVisibility 0');
      assert.equal(again.Attributes?.ApproximateReceiveCount, '2');

      await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q.url, ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 10 }));
      await sleep(1600);
      assert.deepEqual(await receive(c, q.url), [], 'visible after the 1 s it was received with although extended to 10 s');
      await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q.url, ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 0 }));
      const [third] = await receive(c, q.url);
      assert.equal(third?.MessageId, sent.MessageId);
    }));

    it('a receipt handle that was never issued is ReceiptHandleIsInvalid (400) for DeleteMessage and ChangeMessageVisibility; changing the visibility of a message whose visibility timeout has run out is MessageNotInflight (400)', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'receipts');
      for (const handle of ['not-a-receipt-handle', crypto.randomBytes(96).toString('base64')]) {
        await expectSqsError(() => c.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: handle })), 'ReceiptHandleIsInvalid');
        await expectSqsError(() => c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q.url, ReceiptHandle: handle, VisibilityTimeout: 5 })), 'ReceiptHandleIsInvalid');
      }
      await send(c, q.url, 'not in flight for long');
      const [m] = await receive(c, q.url, { VisibilityTimeout: 1 });
      assert.ok(m, 'nothing received');
      await sleep(1600);
      await expectSqsError(() => c.send(new ChangeMessageVisibilityCommand({ QueueUrl: q.url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 10 })), 'MessageNotInflight');
    }));
  });

  describe('long polling', () => {
    it('ReceiveMessage with WaitTimeSeconds 5 on an empty queue returns no messages after about 5 s', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'poll-empty');
      const start = Date.now();
      const got = await receive(c, q.url, { WaitTimeSeconds: 5 });
      const elapsed = Date.now() - start;
      assert.deepEqual(got, []);
      assert.ok(elapsed >= 4500, `returned after ${elapsed} ms, before WaitTimeSeconds 5`);
      assert.ok(elapsed <= 8000, `returned after ${elapsed} ms, long after WaitTimeSeconds 5`);
    }));

    it('a long poll with WaitTimeSeconds 10 receives a message sent 1 s after it started within about a second of the send', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'poll-wake');
      const start = Date.now();
      const poll = receive(c, q.url, { WaitTimeSeconds: 10 });
      await sleep(1000);
      const sentAt = Date.now();
      const sent = await send(c, q.url, 'wake up');
      const got = await poll;
      const doneAt = Date.now();
      assert.deepEqual(got.map((m) => m.MessageId), [sent.MessageId]);
      assert.ok(doneAt - sentAt <= 2500, `the long poll returned ${doneAt - sentAt} ms after the send`);
      assert.ok(doneAt - start <= 4000, `the long poll took ${doneAt - start} ms (WaitTimeSeconds 10, message after 1 s)`);
    }));

    it('several concurrent long polls on one queue all return: each message sent meanwhile goes to exactly one of them, the rest end empty at their WaitTimeSeconds, and other requests are answered while they wait', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'poll-many');
      const other = await createQueue(c, 'poll-other');
      const start = Date.now();
      const polls = Array.from({ length: 5 }, () =>
        receive(c, q.url, { WaitTimeSeconds: 3, MaxNumberOfMessages: 1 }).then((messages) => ({ messages, at: Date.now() - start })),
      );
      await sleep(500);
      // The daemon keeps answering while five receives are parked.
      for (const [what, call] of [
        ['GetQueueAttributes', () => queueAttributes(c, other.url)],
        ['SendMessage to another queue', () => send(c, other.url, 'elsewhere')],
        ['ListFunctions', () => box.nimbus.lambda().send(new ListFunctionsCommand({}))],
      ]) {
        const t0 = Date.now();
        await call();
        assert.ok(Date.now() - t0 <= 2000, `${what} took ${Date.now() - t0} ms while long polls were waiting`);
      }
      const a = await send(c, q.url, 'first of two');
      const b = await send(c, q.url, 'second of two');
      const results = await Promise.all(polls);
      const ids = results.flatMap((r) => r.messages.map((m) => m.MessageId));
      assert.deepEqual([...ids].sort(), [a.MessageId, b.MessageId].sort(), `messages delivered: ${JSON.stringify(results)}`);
      for (const r of results) {
        assert.ok(r.at <= 6000, `a long poll took ${r.at} ms (WaitTimeSeconds 3)`);
        if (r.messages.length === 0) assert.ok(r.at >= 2500, `an empty long poll returned after ${r.at} ms, before WaitTimeSeconds 3`);
      }
    }));
  });

  describe('batches', () => {
    it('SendMessageBatch reports each entry: Successful ones carry Id, MessageId, MD5OfMessageBody (and MD5OfMessageAttributes); an entry with characters SQS does not allow is Failed with SenderFault while the others are sent', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'sendbatch');
      const attrs = { k: { DataType: 'String', StringValue: 'v' } };
      const entries = [
        { Id: 'first', MessageBody: 'first body' },
        { Id: 'second_2', MessageBody: 'second body', MessageAttributes: attrs },
        { Id: 'bad-body', MessageBody: 'control \u0001 character' },
        { Id: 'delayed', MessageBody: 'delayed body', DelaySeconds: 0 },
      ];
      const r = await c.send(new SendMessageBatchCommand({ QueueUrl: q.url, Entries: entries }));
      assert.equal(r.$metadata.httpStatusCode, 200);
      const ok = Object.fromEntries((r.Successful ?? []).map((e) => [e.Id, e]));
      assert.deepEqual(Object.keys(ok).sort(), ['delayed', 'first', 'second_2']);
      for (const e of entries.filter((x) => x.Id in ok)) {
        assert.match(ok[e.Id].MessageId, UUID_RE);
        assert.equal(ok[e.Id].MD5OfMessageBody, md5Hex(e.MessageBody), e.Id);
      }
      assert.equal(ok.second_2.MD5OfMessageAttributes, md5OfMessageAttributes(attrs));
      assert.equal(r.Failed?.length, 1, `Failed: ${JSON.stringify(r.Failed)}`);
      assert.equal(r.Failed[0].Id, 'bad-body');
      assert.equal(r.Failed[0].SenderFault, true);
      assert.ok(['InvalidMessageContents', 'InvalidParameterValue'].includes(r.Failed[0].Code), `Code ${r.Failed[0].Code}`);

      const got = await drain(c, q.url, { extra: { MessageAttributeNames: ['All'] } });
      assert.deepEqual(got.map((m) => m.Body).sort(), ['delayed body', 'first body', 'second body']);
      const second = got.find((m) => m.Body === 'second body');
      assert.equal(second.MessageId, ok.second_2.MessageId);
      assert.deepEqual(attributesView(second.MessageAttributes), attributesView(attrs));
    }));

    it('DeleteMessageBatch and ChangeMessageVisibilityBatch report each entry: valid receipt handles succeed, made-up ones are Failed with ReceiptHandleIsInvalid', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'batchhandles');
      const sent = [];
      for (let i = 0; i < 3; i++) sent.push((await send(c, q.url, `m${i}`)).MessageId);
      const got = await drain(c, q.url, { del: false });
      assert.equal(got.length, 3);
      const byId = Object.fromEntries(got.map((m) => [m.MessageId, m]));

      const cv = await c.send(new ChangeMessageVisibilityBatchCommand({
        QueueUrl: q.url,
        Entries: [
          { Id: 'm0', ReceiptHandle: byId[sent[0]].ReceiptHandle, VisibilityTimeout: 0 },
          { Id: 'bogus', ReceiptHandle: 'made-up-receipt-handle', VisibilityTimeout: 0 },
        ],
      }));
      assert.deepEqual((cv.Successful ?? []).map((e) => e.Id), ['m0']);
      assert.equal(cv.Failed?.length, 1, `Failed: ${JSON.stringify(cv.Failed)}`);
      assert.equal(cv.Failed[0].Id, 'bogus');
      assert.equal(cv.Failed[0].Code, 'ReceiptHandleIsInvalid');
      assert.equal(cv.Failed[0].SenderFault, true);
      const [back] = await receive(c, q.url);
      assert.equal(back?.MessageId, sent[0], 'ChangeMessageVisibilityBatch VisibilityTimeout 0 did not make the message visible');

      const del = await c.send(new DeleteMessageBatchCommand({
        QueueUrl: q.url,
        Entries: [
          { Id: 'd0', ReceiptHandle: back.ReceiptHandle },
          { Id: 'd1', ReceiptHandle: byId[sent[1]].ReceiptHandle },
          { Id: 'bogus', ReceiptHandle: 'made-up-receipt-handle' },
          { Id: 'd2', ReceiptHandle: byId[sent[2]].ReceiptHandle },
        ],
      }));
      assert.deepEqual((del.Successful ?? []).map((e) => e.Id).sort(), ['d0', 'd1', 'd2']);
      assert.equal(del.Failed?.length, 1, `Failed: ${JSON.stringify(del.Failed)}`);
      assert.equal(del.Failed[0].Id, 'bogus');
      assert.equal(del.Failed[0].Code, 'ReceiptHandleIsInvalid');
      assert.equal(del.Failed[0].SenderFault, true);
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '0' });
    }));

    it('a batch of more than 10 entries is TooManyEntriesInBatchRequest, one with repeated Ids BatchEntryIdsNotDistinct, an empty one EmptyBatchRequest (all 400) for all three batch actions; an Id outside [A-Za-z0-9_-] is InvalidBatchEntryId; none of them sends anything', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'batcherrors');
      const n = (k) => Array.from({ length: k }, (_, i) => i);
      const actions = {
        SendMessageBatch: (ids) => new SendMessageBatchCommand({ QueueUrl: q.url, Entries: ids.map((Id) => ({ Id, MessageBody: `body ${Id}` })) }),
        DeleteMessageBatch: (ids) => new DeleteMessageBatchCommand({ QueueUrl: q.url, Entries: ids.map((Id) => ({ Id, ReceiptHandle: `handle-${Id}` })) }),
        ChangeMessageVisibilityBatch: (ids) => new ChangeMessageVisibilityBatchCommand({ QueueUrl: q.url, Entries: ids.map((Id) => ({ Id, ReceiptHandle: `handle-${Id}`, VisibilityTimeout: 0 })) }),
      };
      for (const [action, make] of Object.entries(actions)) {
        await labelled(action, expectSqsError(() => c.send(make(n(11).map((i) => `id${i}`))), 'TooManyEntriesInBatchRequest'));
        await labelled(action, expectSqsError(() => c.send(make(['same', 'other', 'same'])), 'BatchEntryIdsNotDistinct'));
        await labelled(action, expectSqsError(() => c.send(make([])), 'EmptyBatchRequest'));
      }
      await expectSqsError(() => c.send(actions.SendMessageBatch(['bad id!'])), 'InvalidBatchEntryId');
      // Ten is allowed.
      const ten = await c.send(actions.SendMessageBatch(n(10).map((i) => `ok_${i}`)));
      assert.equal(ten.Successful?.length, 10);
      assert.deepEqual(await counts(c, q.url), { visible: '10', inFlight: '0' });
    }));
  });

  describe('purge and redrive', () => {
    it('PurgeQueue deletes every message of the queue, visible and in flight', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'purge');
      for (let i = 0; i < 5; i++) await send(c, q.url, `purged ${i}`);
      const [inFlight] = await receive(c, q.url, { VisibilityTimeout: 1 });
      assert.ok(inFlight, 'nothing received');
      assert.deepEqual(await counts(c, q.url), { visible: '4', inFlight: '1' });
      const r = await c.send(new PurgeQueueCommand({ QueueUrl: q.url }));
      assert.equal(r.$metadata.httpStatusCode, 200);
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '0' });
      await sleep(1500);
      assert.deepEqual(await receive(c, q.url, { MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }), [], 'messages survived PurgeQueue');
    }));

    it('with RedrivePolicy {deadLetterTargetArn, maxReceiveCount: 2}, a message received twice without being deleted is not returned by the next receive but moves to the dead-letter queue with its MessageId, body and attributes', t(async () => {
      const c = sqs();
      const dlq = await createQueue(c, 'dlq');
      const dlqArn = (await queueAttributes(c, dlq.url, ['QueueArn'])).QueueArn;
      assert.equal(dlqArn, queueArn(dlq.name));
      const RedrivePolicy = JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 });
      const src = await createQueue(c, 'redrive', { VisibilityTimeout: '1', RedrivePolicy });
      const policy = JSON.parse((await queueAttributes(c, src.url, ['RedrivePolicy'])).RedrivePolicy);
      assert.equal(policy.deadLetterTargetArn, dlqArn);
      assert.equal(Number(policy.maxReceiveCount), 2);

      const MessageAttributes = { origin: { DataType: 'String', StringValue: 'redrive test' } };
      const sent = await send(c, src.url, 'poison', { MessageAttributes });
      const [r1] = await receive(c, src.url, { MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
      assert.equal(r1?.MessageId, sent.MessageId);
      assert.equal(r1.Attributes?.ApproximateReceiveCount, '1');
      await sleep(1300);
      const [r2] = await receive(c, src.url, { WaitTimeSeconds: 2, MessageSystemAttributeNames: ['ApproximateReceiveCount'] });
      assert.equal(r2?.MessageId, sent.MessageId, 'not received a second time');
      assert.equal(r2.Attributes?.ApproximateReceiveCount, '2');
      await sleep(1300);
      const r3 = await receive(c, src.url, { WaitTimeSeconds: 2 });
      assert.deepEqual(r3.map((m) => m.MessageId), [], 'received a third time despite maxReceiveCount 2');

      const [moved] = await receive(c, dlq.url, { WaitTimeSeconds: 2, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] });
      assert.ok(moved, 'the message is not in the dead-letter queue');
      assert.equal(moved.MessageId, sent.MessageId);
      assert.equal(moved.Body, 'poison');
      assert.equal(moved.MD5OfBody, md5Hex('poison'));
      assert.deepEqual(attributesView(moved.MessageAttributes), attributesView(MessageAttributes));
      assert.equal(moved.Attributes?.DeadLetterQueueSourceArn, queueArn(src.name));
      assert.deepEqual(await counts(c, src.url), { visible: '0', inFlight: '0' });
    }));
  });

  describe('FIFO queues', () => {
    it('a FIFO queue delivers the messages of each MessageGroupId in send order, each carrying its MessageGroupId and the SequenceNumber SendMessage returned, increasing within the group', t(async () => {
      const c = sqs();
      const q = await createFifoQueue(c, 'order', { ContentBasedDeduplication: 'true' });
      assert.ok(q.url.endsWith(`/${ACCOUNT}/${q.name}`), q.url);
      const a = await queueAttributes(c, q.url);
      assert.equal(a.FifoQueue, 'true');
      assert.equal(a.ContentBasedDeduplication, 'true');
      assert.equal(a.QueueArn, queueArn(q.name));

      const plan = [['g1', 'a1'], ['g2', 'b1'], ['g1', 'a2'], ['g1', 'a3'], ['g2', 'b2'], ['g1', 'a4'], ['g2', 'b3']];
      const seq = {};
      for (const [MessageGroupId, body] of plan) {
        const r = await send(c, q.url, body, { MessageGroupId });
        assert.match(r.SequenceNumber ?? '', /^\d+$/, `SequenceNumber of ${body}: ${r.SequenceNumber}`);
        assert.equal(r.MD5OfMessageBody, md5Hex(body));
        seq[body] = r.SequenceNumber;
      }
      const got = await drain(c, q.url, { extra: { MessageSystemAttributeNames: ['All'] } });
      const order = { g1: [], g2: [] };
      for (const m of got) {
        const g = m.Attributes?.MessageGroupId;
        assert.ok(g === 'g1' || g === 'g2', `MessageGroupId attribute of ${m.Body}: ${g}`);
        assert.equal(m.Attributes.SequenceNumber, seq[m.Body], `SequenceNumber of ${m.Body}`);
        order[g].push(m.Body);
      }
      assert.deepEqual(order, { g1: ['a1', 'a2', 'a3', 'a4'], g2: ['b1', 'b2', 'b3'] });
      for (const g of ['g1', 'g2']) {
        const nums = order[g].map((b) => BigInt(seq[b]));
        for (let i = 1; i < nums.length; i++) assert.ok(nums[i] > nums[i - 1], `SequenceNumbers of ${g} do not increase: ${nums}`);
      }
    }));

    it('while a FIFO message is in flight, later messages of its group are not delivered though other groups\' are; deleting it releases the next', t(async () => {
      const c = sqs();
      const q = await createFifoQueue(c, 'inflight', { ContentBasedDeduplication: 'true' });
      const x1 = await send(c, q.url, 'x1', { MessageGroupId: 'X' });
      const x2 = await send(c, q.url, 'x2', { MessageGroupId: 'X' });
      const [first] = await receive(c, q.url, { MaxNumberOfMessages: 1 });
      assert.equal(first?.MessageId, x1.MessageId, 'the first message of the group is not delivered first');
      const y1 = await send(c, q.url, 'y1', { MessageGroupId: 'Y' });
      const next = await receive(c, q.url, { MaxNumberOfMessages: 10 });
      assert.deepEqual(next.map((m) => m.Body), ['y1'], 'only the other group\'s message may be delivered while x1 is in flight');
      assert.equal(next[0].MessageId, y1.MessageId);
      assert.deepEqual(await receive(c, q.url, { MaxNumberOfMessages: 10 }), [], 'x2 delivered while x1 is in flight');
      await c.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: first.ReceiptHandle }));
      const released = await receive(c, q.url, { MaxNumberOfMessages: 10 });
      assert.deepEqual(released.map((m) => m.MessageId), [x2.MessageId], 'x2 not delivered after x1 was deleted');
    }));

    it('a FIFO message sent again with the same MessageDeduplicationId within 5 minutes is stored once and both sends return the same MessageId, even after the first was deleted; content-based deduplication does the same for an identical body', t(async () => {
      const c = sqs();
      const q = await createFifoQueue(c, 'dedup', { ContentBasedDeduplication: 'true' });
      const g = { MessageGroupId: 'g' };
      const one = await send(c, q.url, 'one', { ...g, MessageDeduplicationId: 'd1' });
      const oneAgain = await send(c, q.url, 'one', { ...g, MessageDeduplicationId: 'd1' });
      assert.equal(oneAgain.MessageId, one.MessageId);
      const sameId = await send(c, q.url, 'a different body', { ...g, MessageDeduplicationId: 'd1' });
      assert.equal(sameId.MessageId, one.MessageId, 'an explicit MessageDeduplicationId decides, not the body');
      const body = await send(c, q.url, 'same body', g);
      const bodyAgain = await send(c, q.url, 'same body', g);
      assert.equal(bodyAgain.MessageId, body.MessageId);
      assert.notEqual(body.MessageId, one.MessageId);

      const got = await drain(c, q.url);
      assert.deepEqual(got.map((m) => m.Body), ['one', 'same body']);
      const late = await send(c, q.url, 'one', { ...g, MessageDeduplicationId: 'd1' });
      assert.equal(late.MessageId, one.MessageId);
      assert.deepEqual(await receive(c, q.url, { MaxNumberOfMessages: 10 }), [], 'a duplicate sent after the original was deleted was delivered');
    }));

    it('SendMessage to a FIFO queue without MessageGroupId, or (without ContentBasedDeduplication) without MessageDeduplicationId, or with a per-message DelaySeconds is refused (400) and stores nothing', t(async () => {
      const c = sqs();
      const q = await createFifoQueue(c, 'fiforules', { ContentBasedDeduplication: 'true' });
      await expectSqsError(() => send(c, q.url, 'no group'), 'MissingParameter');
      await expectSqsError(() => send(c, q.url, 'per-message delay', { MessageGroupId: 'g', DelaySeconds: 5 }), 'InvalidParameterValue');
      const strict = await createFifoQueue(c, 'fifostrict');
      await expectSqsError(() => send(c, strict.url, 'no dedup id', { MessageGroupId: 'g' }), 'InvalidParameterValue');
      const ok = await send(c, strict.url, 'with dedup id', { MessageGroupId: 'g', MessageDeduplicationId: 'x' });
      assert.match(ok.MessageId, UUID_RE);
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '0' });
      assert.deepEqual(await counts(c, strict.url), { visible: '1', inFlight: '0' });
    }));
  });

  describe('the query protocol', () => {
    it('SendMessage as a form-encoded POST (Action=SendMessage, Version 2012-11-05) is answered with XML <SendMessageResponse><SendMessageResult> carrying MessageId, MD5OfMessageBody and MD5OfMessageAttributes; the JSON SDK receives the message', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'query-send');
      const body = 'from the query protocol: spaces + plus & ampersand = equals <xml> ünï 😀';
      const r = await queryRequest(box.nimbus.endpoint, {
        Action: 'SendMessage',
        QueueUrl: q.url,
        MessageBody: body,
        'MessageAttribute.1.Name': 'color',
        'MessageAttribute.1.Value.DataType': 'String',
        'MessageAttribute.1.Value.StringValue': 'green',
      });
      assertXmlRoot(r, 'SendMessageResponse');
      const result = xmlAt(r.text, 'SendMessageResponse', 'SendMessageResult');
      assert.ok(result !== undefined, `no <SendMessageResult>: ${r.text}`);
      const id = xmlAt(result, 'MessageId');
      assert.match(id ?? '', UUID_RE, `MessageId in ${r.text}`);
      assert.equal(xmlAt(result, 'MD5OfMessageBody'), md5Hex(Buffer.from(body, 'utf8')));
      assert.equal(xmlAt(result, 'MD5OfMessageAttributes'), md5OfMessageAttributes({ color: { DataType: 'String', StringValue: 'green' } }));

      const [m] = await receive(c, q.url, { MessageAttributeNames: ['All'] });
      assert.equal(m?.MessageId, id);
      assert.equal(m.Body, body);
      assert.deepEqual(attributesView(m.MessageAttributes), { color: { DataType: 'String', String: 'green' } });

      // GetQueueUrl over the query protocol too (with the charset botocore adds).
      const u = await queryRequest(box.nimbus.endpoint, { Action: 'GetQueueUrl', QueueName: q.name }, { contentType: 'application/x-www-form-urlencoded; charset=utf-8' });
      assertXmlRoot(u, 'GetQueueUrlResponse');
      assert.ok(xmlUnescape(xmlAt(u.text, 'GetQueueUrlResult', 'QueueUrl') ?? '').endsWith(`/${ACCOUNT}/${q.name}`), u.text);
    }));

    it('ReceiveMessage over the query protocol returns a message sent with the JSON SDK as <ReceiveMessageResponse><ReceiveMessageResult><Message> with its Body XML-escaped; DeleteMessage over the query protocol deletes it', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'query-receive');
      const body = 'sent as JSON: <tag attr="v"> & \'quotes\' ünï';
      const sent = await send(c, q.url, body);
      const r = await queryRequest(box.nimbus.endpoint, { Action: 'ReceiveMessage', QueueUrl: q.url, MaxNumberOfMessages: '1', 'AttributeName.1': 'All' });
      assertXmlRoot(r, 'ReceiveMessageResponse');
      const messages = xmlAll(xmlAt(r.text, 'ReceiveMessageResponse', 'ReceiveMessageResult') ?? '', 'Message');
      assert.equal(messages.length, 1, `want one <Message>: ${r.text}`);
      const m = messages[0];
      assert.equal(xmlAt(m, 'MessageId'), sent.MessageId);
      assert.equal(xmlUnescape(xmlAt(m, 'Body') ?? ''), body);
      assert.ok(!(xmlAt(m, 'Body') ?? '').includes('<'), 'the Body is not XML-escaped');
      assert.equal(xmlAt(m, 'MD5OfBody'), md5Hex(Buffer.from(body, 'utf8')));
      const handle = xmlUnescape(xmlAt(m, 'ReceiptHandle') ?? '');
      assert.ok(handle.length > 0, `no ReceiptHandle: ${m}`);
      const attrs = Object.fromEntries(xmlAll(m, 'Attribute').map((a) => [xmlAt(a, 'Name'), xmlAt(a, 'Value')]));
      assert.equal(attrs.ApproximateReceiveCount, '1', `attributes: ${JSON.stringify(attrs)}`);

      const d = await queryRequest(box.nimbus.endpoint, { Action: 'DeleteMessage', QueueUrl: q.url, ReceiptHandle: handle });
      assertXmlRoot(d, 'DeleteMessageResponse');
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '0' });
    }));

    it('a query-protocol request naming a queue that does not exist is answered 400 with an XML <ErrorResponse><Error> of Type Sender and Code AWS.SimpleQueueService.NonExistentQueue', t(async () => {
      const url = `${box.nimbus.endpoint}/${ACCOUNT}/${queueName('query-missing')}`;
      const r = await queryRequest(box.nimbus.endpoint, { Action: 'SendMessage', QueueUrl: url, MessageBody: 'nowhere to go' });
      assertXmlRoot(r, 'ErrorResponse', 400);
      const error = xmlAt(r.text, 'ErrorResponse', 'Error');
      assert.ok(error !== undefined, `no <Error>: ${r.text}`);
      assert.equal(xmlAt(error, 'Type'), 'Sender');
      assert.equal(xmlAt(error, 'Code'), 'AWS.SimpleQueueService.NonExistentQueue');
      assert.ok((xmlAt(error, 'Message') ?? '').length > 0, `no <Message>: ${r.text}`);
    }));
  });

  describe('boto3 inside a function', () => {
    let fn;
    before(async () => {
      fn = `${RUN_ID}-sqs-boto3`;
      await createFunction(box.nimbus.lambda(), { name: fn, zip: zipFiles({ 'app.py': BOTO3_SQS }), runtime: 'python3.12', handler: 'app.handler', Timeout: 30 });
    }, { timeout: 120_000 });

    it('unchanged boto3 code sends a message to a queue URL carrying the host and port seen from outside, and the JS SDK receives it', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'boto3-send');
      const body = 'sent by boto3: spaces + plus & <xml> ünï';
      const r = await invoke(box.nimbus.lambda(), fn, { op: 'send', url: q.url, body });
      assert.equal(r.functionError, undefined, `${r.text}\n${r.tail}`);
      assert.match(r.json?.MessageId ?? '', UUID_RE, r.text);
      assert.equal(r.json.MD5OfMessageBody, md5Hex(Buffer.from(body, 'utf8')));
      const [m] = await receive(c, q.url, { WaitTimeSeconds: 2 });
      assert.equal(m?.MessageId, r.json.MessageId);
      assert.equal(m.Body, body);
    }));

    it('unchanged boto3 code finds a queue by name, receives a message sent with the JS SDK (with its message attributes) and deletes it', t(async () => {
      const c = sqs();
      const q = await createQueue(c, 'boto3-receive');
      const body = 'sent by the JS SDK to boto3 <&>';
      const sent = await send(c, q.url, body, { MessageAttributes: { color: { DataType: 'String', StringValue: 'purple' } } });
      const r = await invoke(box.nimbus.lambda(), fn, { op: 'receive', name: q.name });
      assert.equal(r.functionError, undefined, `${r.text}\n${r.tail}`);
      assert.ok(r.json.url.endsWith(`/${ACCOUNT}/${q.name}`), r.json.url);
      assert.deepEqual(r.json.messages, [{ MessageId: sent.MessageId, Body: body, MD5OfBody: md5Hex(Buffer.from(body, 'utf8')), ReceiveCount: '1', color: 'purple' }]);
      assert.deepEqual(await counts(c, q.url), { visible: '0', inFlight: '0' });
    }));
  });
});

describe('SQS across a restart', { skip: SKIP_NO_BINARY }, () => {
  it('a restart on the same data dir keeps queues (URL path, ARN, attributes, CreatedTimestamp), their unreceived messages (MessageId, body, message attributes) and FIFO group order; deleted queues and deleted messages stay deleted', { timeout: 180_000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-sqs-restart-'));
    try {
      const MessageAttributes = { color: { DataType: 'String', StringValue: 'blue' }, blob: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) } };
      let q;
      let fifo;
      let gone;
      let before;
      let beforeFifo;
      const kept = {};
      const fifoIds = [];
      await withDaemon({ dataDir }, async (n) => {
        const c = sqsClient(n);
        try {
          q = await createQueue(c, 'durable', { VisibilityTimeout: '17', MessageRetentionPeriod: '3600', DelaySeconds: '0' });
          fifo = await createFifoQueue(c, 'durable', { ContentBasedDeduplication: 'true' });
          gone = await createQueue(c, 'gone');
          await send(c, gone.url, 'in a deleted queue');
          await c.send(new DeleteQueueCommand({ QueueUrl: gone.url }));
          // A message received and deleted before the others are sent, so they stay unreceived.
          const doomed = await send(c, q.url, 'deleted before the restart');
          const [d] = await receive(c, q.url);
          assert.equal(d?.MessageId, doomed.MessageId);
          await c.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: d.ReceiptHandle }));
          for (const body of ['kept 1', 'kept 2 ünï']) kept[(await send(c, q.url, body, { MessageAttributes })).MessageId] = body;
          for (const body of ['f1', 'f2', 'f3']) fifoIds.push((await send(c, fifo.url, body, { MessageGroupId: 'g' })).MessageId);
          before = await queueAttributes(c, q.url);
          beforeFifo = await queueAttributes(c, fifo.url);
          assert.equal(before.ApproximateNumberOfMessages, '2');
        } finally {
          c.destroy();
        }
        await n.stop(); // asserts a clean shutdown
      });
      await withDaemon({ dataDir }, async (n) => {
        const c = sqsClient(n);
        try {
          const url = (await c.send(new GetQueueUrlCommand({ QueueName: q.name }))).QueueUrl;
          assert.equal(new URL(url).pathname, new URL(q.url).pathname);
          const listed = (await c.send(new ListQueuesCommand({ QueueNamePrefix: RUN_ID }))).QueueUrls ?? [];
          assert.ok(listed.some((u) => u.endsWith(`/${q.name}`)), `${q.name} lost across restart: ${listed}`);
          assert.ok(listed.some((u) => u.endsWith(`/${fifo.name}`)), `${fifo.name} lost across restart: ${listed}`);
          assert.ok(!listed.some((u) => u.endsWith(`/${gone.name}`)), 'a deleted queue came back');
          await expectSqsError(() => c.send(new GetQueueUrlCommand({ QueueName: gone.name })), 'QueueDoesNotExist');

          const a = await queueAttributes(c, url);
          for (const k of ['QueueArn', 'VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'MaximumMessageSize', 'CreatedTimestamp', 'LastModifiedTimestamp', 'ApproximateNumberOfMessages']) {
            assert.equal(a[k], before[k], `${k} changed across restart`);
          }
          assert.equal(a.VisibilityTimeout, '17');
          const af = await queueAttributes(c, fifo.url);
          for (const k of ['QueueArn', 'FifoQueue', 'ContentBasedDeduplication', 'CreatedTimestamp']) assert.equal(af[k], beforeFifo[k], `${fifo.name}: ${k} changed across restart`);

          // The URL from before the restart (its old port) still names the queue.
          const got = await drain(c, q.url, { extra: { MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['ApproximateReceiveCount'] } });
          assert.deepEqual(got.map((m) => m.MessageId).sort(), Object.keys(kept).sort(), 'unreceived messages lost, or a deleted one came back');
          for (const m of got) {
            assert.equal(m.Body, kept[m.MessageId]);
            assert.equal(m.MD5OfBody, md5Hex(Buffer.from(m.Body, 'utf8')));
            assert.deepEqual(attributesView(m.MessageAttributes), attributesView(MessageAttributes));
            assert.equal(m.MD5OfMessageAttributes, md5OfMessageAttributes(MessageAttributes));
            assert.equal(m.Attributes?.ApproximateReceiveCount, '1', `${m.MessageId} was never received before`);
          }
          const fifoGot = await drain(c, fifo.url);
          assert.deepEqual(fifoGot.map((m) => m.MessageId), fifoIds, 'FIFO messages lost or out of order across restart');

          // The service still takes messages after the restart.
          const later = await send(c, url, 'after the restart');
          assert.equal((await receive(c, url))[0]?.MessageId, later.MessageId);
        } finally {
          c.destroy();
        }
        await n.stop();
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
