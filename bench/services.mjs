// Nimbus benchmark: the event-source services (issue #5). Starts `nimbus serve` on a
// free port with a temporary data directory and measures, over keep-alive connections
// on 127.0.0.1 with raw HTTP (no SDK overhead; each request is SigV4-signed with an
// admin key written to the data directory before the daemon starts, as the SDKs sign
// it, by bench/sigv4.mjs: the daemon verifies every request):
//   - S3 PutObject and GetObject throughput for 4 KB and 1 MB objects (each PUT is
//     fsync'd before it is answered);
//   - SQS SendMessage throughput (each message fsync'd) and receive+delete throughput
//     (ReceiveMessage of 10 + DeleteMessageBatch);
//   - queue-to-function latency: SendMessage answered -> the function (mapped with an
//     event source mapping) has started, from the SentTimestamp and the handler's clock;
//   - DynamoDB PutItem, GetItem and Query (10 items per page) throughput in items/s,
//     each PutItem fsync'd with its stream record, and the same rows against dynalite
//     (the npm DynamoDB emulator, LevelDB on disk without fsync) started in the same
//     run as the peer;
//   - stream-to-function latency: PutItem answered -> the function (mapped to the
//     table's stream) has started.
// Prints a table; --json writes the figures.
//
// Signing: identical requests (same path, headers and body) are signed once and the
// signature reused (SigV4 allows replays for 15 minutes; re-signed after 5); a request
// with a new body (PutItem, DeleteMessageBatch, ...) is signed when it is made, before
// its latency clock starts but within the row's wall time. dynalite (which verifies
// nothing) gets the same signed requests, so the client's cost is the same for both.
//
// Usage: node bench/services.mjs [--nimbus build/nimbus] [--connections 16]
//          [--seconds 5] [--json out.json]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { Signer, writeAdminKey } from './sigv4.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const NIMBUS = args.nimbus ?? path.resolve(import.meta.dirname, '../build/nimbus');
const CONNECTIONS = Number(args.connections ?? 16);
const SECONDS = Number(args.seconds ?? 5);
const JSON_OUT = args.json;

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
let signer = null;  // the daemon's admin key (main)

function request(port, method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Signs a request for `service` (cached for identical requests) and returns a function
// that sends it.
async function prepare(port, service, method, urlPath, body, headers = {}) {
  const signed = await signer.headers(service, method, `127.0.0.1:${port}`, urlPath, body, headers);
  return () => request(port, method, urlPath, body, signed);
}
async function call(port, service, method, urlPath, body, headers = {}) {
  return (await prepare(port, service, method, urlPath, body, headers))();
}

// Runs the operations `prepare(i)` returns (after signing: `prepare` resolves to a function
// that sends the request and resolves to whether it succeeded) from CONNECTIONS workers
// for SECONDS; operations/s and p50/p99 ms (latency: from sending to the answer).
async function load(prepareOp) {
  const latencies = [];
  const end = Date.now() + SECONDS * 1000;
  let i = 0;
  let failures = 0;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (Date.now() < end) {
      const op = await prepareOp(i++);
      const t0 = performance.now();
      const ok = await op();
      latencies.push(performance.now() - t0);
      if (!ok) failures++;
    }
  }));
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { ops_per_second: Math.round(latencies.length / SECONDS), p50_ms: Number(pct(50).toFixed(2)), p99_ms: Number(pct(99).toFixed(2)), failures };
}

async function s3Rows(port) {
  if ((await call(port, 's3', 'PUT', '/bench-bucket', undefined)).status !== 200) throw new Error('create bucket');
  const rows = {};
  for (const [label, size] of [['4kb', 4096], ['1mb', 1 << 20]]) {
    const body = crypto.randomBytes(size);
    const keys = 64;
    rows[`s3_put_${label}`] = await load(async (i) => {
      const send = await prepare(port, 's3', 'PUT', `/bench-bucket/${label}/${i % keys}`, body);
      return async () => (await send()).status === 200;
    });
    rows[`s3_get_${label}`] = await load(async (i) => {
      const send = await prepare(port, 's3', 'GET', `/bench-bucket/${label}/${i % keys}`, undefined);
      return async () => {
        const r = await send();
        return r.status === 200 && r.body.length === size;
      };
    });
    for (const row of [rows[`s3_put_${label}`], rows[`s3_get_${label}`]]) row.mb_per_second = Number(((row.ops_per_second * size) / (1 << 20)).toFixed(1));
  }
  return rows;
}

// A signed JSON-protocol call (POST / with X-Amz-Target), ready to send: resolves to the
// answer's JSON, rejects on a status other than 200.
async function prepareJson(port, service, target, contentType, payload) {
  const send = await prepare(port, service, 'POST', '/', JSON.stringify(payload), { 'X-Amz-Target': target, 'Content-Type': contentType });
  return async () => {
    const r = await send();
    if (r.status !== 200) throw new Error(`${target}: ${r.status} ${r.body}`);
    return JSON.parse(r.body.toString() || '{}');
  };
}
const sqsCall = (port, action, payload) => prepareJson(port, 'sqs', `AmazonSQS.${action}`, 'application/x-amz-json-1.0', payload);
async function sqs(port, action, payload) {
  return (await sqsCall(port, action, payload))();
}

async function sqsRows(port) {
  const { QueueUrl } = await sqs(port, 'CreateQueue', { QueueName: 'bench' });
  const rows = {};
  const body = 'x'.repeat(256);
  rows.sqs_send = await load(async () => {
    const send = await sqsCall(port, 'SendMessage', { QueueUrl, MessageBody: body });
    return async () => Boolean((await send()).MessageId);
  });
  // Drains what was sent (bounded by 4 x SECONDS): messages received and deleted per second.
  let received = 0;
  let emptyWorkers = 0;
  const t0 = performance.now();
  const deadline = Date.now() + 4 * SECONDS * 1000;
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (Date.now() < deadline) {
      const { Messages = [] } = await sqs(port, 'ReceiveMessage', { QueueUrl, MaxNumberOfMessages: 10 });
      if (!Messages.length) break;
      await sqs(port, 'DeleteMessageBatch', { QueueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) });
      received += Messages.length;
    }
    emptyWorkers++;
  }));
  const elapsed = (performance.now() - t0) / 1000;
  rows.sqs_receive_delete = { messages: received, seconds: Number(elapsed.toFixed(2)), messages_per_second: Math.round(received / elapsed) };
  return rows;
}

// DynamoDB (JSON 1.0) against `port`: Nimbus or the peer.
const ddbCall = (port, action, payload) => prepareJson(port, 'dynamodb', `DynamoDB_20120810.${action}`, 'application/x-amz-json-1.0', payload);
async function ddb(port, action, payload) {
  return (await ddbCall(port, action, payload))();
}

// PutItem, GetItem and Query throughput in items/s on one table (1 KB items).
async function dynamoRows(port, label) {
  await ddb(port, 'CreateTable', {
    TableName: 'bench', BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'N' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
  });
  for (let i = 0; i < 60; i++) {
    const d = await ddb(port, 'DescribeTable', { TableName: 'bench' });
    if (d.Table.TableStatus === 'ACTIVE') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const payload = 'x'.repeat(1000);
  const partitions = 64;
  const rows = {};
  const ok = (send) => () => send().then(() => true, () => false);
  rows[`${label}_put`] = await load(async (i) => ok(await ddbCall(port, 'PutItem', {
    TableName: 'bench', Item: { pk: { S: `p${i % partitions}` }, sk: { N: String(i) }, data: { S: payload } },
  })));
  rows[`${label}_get`] = await load(async (i) => ok(await ddbCall(port, 'GetItem', {
    TableName: 'bench', Key: { pk: { S: `p${i % partitions}` }, sk: { N: String(i % 1000) } },
  })));
  const query = await load(async (i) => {
    const send = await ddbCall(port, 'Query', {
      TableName: 'bench', KeyConditionExpression: 'pk = :p', Limit: 10,
      ExpressionAttributeValues: { ':p': { S: `p${i % partitions}` } },
    });
    return () => send().then((r) => r.Count === 10, () => false);
  });
  query.items_per_second = query.ops_per_second * 10;
  rows[`${label}_query`] = query;
  return rows;
}

// Starts dynalite (the peer) on a free port with a data directory; its port and a stop().
async function startDynalite() {
  const bin = path.resolve(import.meta.dirname, 'node_modules/.bin/dynalite');
  const dir = mkdtempSync(path.join(tmpdir(), 'nimbus-bench-dynalite-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = spawn(bin, ['--port', String(port), '--path', dir, '--createTableMs', '0', '--deleteTableMs', '0'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      await ddb(port, 'ListTables', {});
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Table stream -> function: each item carries its write time; the function logs when
// it ran, and the figure is (handler start - PutItem sent).
async function streamLatencyRow(port) {
  const table = await ddb(port, 'CreateTable', {
    TableName: 'bench-stream', BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' },
  });
  const zip = zipOf({ 'index.mjs': 'export const handler = async (e) => { for (const r of e.Records) console.log("LAT " + (Date.now() - Number(r.dynamodb.NewImage.t.N))); };\n' });
  const created = await call(port, 'lambda', 'POST', '/2015-03-31/functions', JSON.stringify({
    FunctionName: 'bench-stream-consumer', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: 'arn:aws:iam::000000000000:role/bench',
    Code: { ZipFile: zip.toString('base64') },
  }), { 'Content-Type': 'application/json' });
  if (created.status !== 201) throw new Error(`create function: ${created.status} ${created.body}`);
  const mapped = await call(port, 'lambda', 'POST', '/2015-03-31/event-source-mappings/', JSON.stringify({
    FunctionName: 'bench-stream-consumer', EventSourceArn: table.TableDescription.LatestStreamArn, BatchSize: 1, StartingPosition: 'LATEST',
  }), { 'Content-Type': 'application/json' });
  if (mapped.status !== 202) throw new Error(`create mapping: ${mapped.status} ${mapped.body}`);
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 41; i++) {
    await ddb(port, 'PutItem', { TableName: 'bench-stream', Item: { pk: { S: `k${i}` }, t: { N: String(Date.now()) } } });
    await new Promise((r) => setTimeout(r, 150));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const logs = await call(port, 'logs', 'POST', '/', JSON.stringify({ logGroupName: '/aws/lambda/bench-stream-consumer' }), {
    'X-Amz-Target': 'Logs_20140328.FilterLogEvents', 'Content-Type': 'application/x-amz-json-1.1',
  });
  const samples = [];
  for (const e of JSON.parse(logs.body.toString()).events ?? []) {
    const m = e.message.match(/LAT (\d+)/);
    if (m) samples.push(Number(m[1]));
  }
  samples.shift();  // the cold start
  samples.sort((a, b) => a - b);
  const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
  return { stream_to_function: { n: samples.length, p50_ms: pct(50), p99_ms: pct(99) } };
}

function zipOf(files) {
  const dir = mkdtempSync(path.join(tmpdir(), 'nimbus-bench-src-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const zip = path.join(dir, 'f.zip');
  execFileSync('zip', ['-q', '-j', zip, ...Object.keys(files).map((f) => path.join(dir, f))]);
  const bytes = readFileSync(zip);
  rmSync(dir, { recursive: true, force: true });
  return bytes;
}

// Queue -> function: each message carries its send time; the function logs when it
// ran, and the figure is (handler start - SendMessage answered).
async function latencyRow(port) {
  const { QueueUrl } = await sqs(port, 'CreateQueue', { QueueName: 'bench-latency' });
  const zip = zipOf({ 'index.mjs': 'export const handler = async (e) => { for (const r of e.Records) console.log("LAT " + (Date.now() - Number(r.body))); };\n' });
  const created = await call(port, 'lambda', 'POST', '/2015-03-31/functions', JSON.stringify({
    FunctionName: 'bench-consumer', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: 'arn:aws:iam::000000000000:role/bench',
    Code: { ZipFile: zip.toString('base64') },
  }), { 'Content-Type': 'application/json' });
  if (created.status !== 201) throw new Error(`create function: ${created.status} ${created.body}`);
  const mapped = await call(port, 'lambda', 'POST', '/2015-03-31/event-source-mappings/', JSON.stringify({
    FunctionName: 'bench-consumer', EventSourceArn: 'arn:aws:sqs:us-east-1:000000000000:bench-latency', BatchSize: 1,
  }), { 'Content-Type': 'application/json' });
  if (mapped.status !== 202) throw new Error(`create mapping: ${mapped.status} ${mapped.body}`);
  // Warm the environment, then one message at a time.
  const samples = [];
  for (let i = 0; i < 41; i++) {
    await sqs(port, 'SendMessage', { QueueUrl, MessageBody: String(Date.now()) });
    await new Promise((r) => setTimeout(r, 150));
  }
  const logs = await call(port, 'logs', 'POST', '/', JSON.stringify({ logGroupName: '/aws/lambda/bench-consumer' }), {
    'X-Amz-Target': 'Logs_20140328.FilterLogEvents', 'Content-Type': 'application/x-amz-json-1.1',
  });
  for (const e of JSON.parse(logs.body.toString()).events ?? []) {
    const m = e.message.match(/LAT (\d+)/);
    if (m) samples.push(Number(m[1]));
  }
  samples.shift();  // the cold start
  samples.sort((a, b) => a - b);
  const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
  return { sqs_to_function: { n: samples.length, p50_ms: pct(50), p99_ms: pct(99) } };
}

async function main() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nimbus-bench-services-'));
  signer = new Signer(writeAdminKey(dataDir));  // before the daemon starts: it reads the file once
  const proc = spawn(NIMBUS, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.resume();
  const port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (c) => reject(new Error(`nimbus exited ${c}`)));
  });
  try {
    const rows = { ...(await s3Rows(port)), ...(await sqsRows(port)), ...(await latencyRow(port)),
                   ...(await dynamoRows(port, 'ddb')), ...(await streamLatencyRow(port)) };
    const peer = await startDynalite();
    try {
      Object.assign(rows, await dynamoRows(peer.port, 'dynalite'));
    } finally {
      await peer.stop();
    }
    const line = (name, v) => console.log(`${name.padEnd(44)} ${v}`);
    console.log(`services, ${CONNECTIONS} connections, ${SECONDS} s per row (DynamoDB peer: dynalite, same run)`);
    for (const label of ['4kb', '1mb']) {
      for (const op of ['put', 'get']) {
        const r = rows[`s3_${op}_${label}`];
        line(`S3 ${op.toUpperCase()} ${label.toUpperCase()} (ops/s, MB/s, p50/p99 ms)`, `${r.ops_per_second}  ${r.mb_per_second}  ${r.p50_ms}/${r.p99_ms}${r.failures ? `  FAILURES ${r.failures}` : ''}`);
      }
    }
    line('SQS SendMessage (msgs/s, p50/p99 ms)', `${rows.sqs_send.ops_per_second}  ${rows.sqs_send.p50_ms}/${rows.sqs_send.p99_ms}`);
    line('SQS receive 10 + delete batch (msgs/s)', `${rows.sqs_receive_delete.messages_per_second}`);
    line('SQS -> function via mapping (p50/p99 ms)', `${rows.sqs_to_function.p50_ms}/${rows.sqs_to_function.p99_ms} (n=${rows.sqs_to_function.n})`);
    for (const op of ['put', 'get', 'query']) {
      const ours = rows[`ddb_${op}`], theirs = rows[`dynalite_${op}`];
      const items = (r) => r.items_per_second ?? r.ops_per_second;
      line(`DynamoDB ${op === 'query' ? 'Query 10/page' : op === 'put' ? 'PutItem 1 KB' : 'GetItem'} (items/s, p50/p99 ms)`,
        `${items(ours)}  ${ours.p50_ms}/${ours.p99_ms}${ours.failures ? `  FAILURES ${ours.failures}` : ''}   dynalite ${items(theirs)}  ${theirs.p50_ms}/${theirs.p99_ms}   ratio ${(items(ours) / items(theirs)).toFixed(2)}`);
    }
    line('DynamoDB stream -> function (p50/p99 ms)', `${rows.stream_to_function.p50_ms}/${rows.stream_to_function.p99_ms} (n=${rows.stream_to_function.n})`);
    if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), connections: CONNECTIONS, seconds: SECONDS, rows }, null, 2));
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.on('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
