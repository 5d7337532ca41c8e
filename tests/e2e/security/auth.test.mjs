// Every API request is authenticated (issue 8, scope 1), proven against the real binary
// with real clients:
//   - first start: <data>/credentials.json is created (0600) with one admin key (AKIA + 16,
//     a 40-character secret); stderr names the file and never shows the secret; the key works
//     with the SDK; a second start keeps it;
//   - unsigned, wrongly signed, unknown-key and skewed requests are refused by every API
//     (Lambda, S3, SQS, DynamoDB, Logs, CloudWatch, EventBridge) with the error name and
//     status each SDK knows from AWS, and nothing they asked for is created;
//   - S3 presigned URLs (@aws-sdk/s3-request-presigner) put and get objects; tampered or
//     expired ones are refused in S3's XML; aws-chunked uploads with signed chunks are stored
//     decoded, and one with a wrong chunk signature is refused and stores nothing;
//   - an invoke-only key invokes and does nothing else; AWS_IAM function URLs verify the
//     signature and tell the function who signed;
//   - functions' own (session) credentials reach the APIs; a wrong secret does not;
//   - GetFunction's Code.Location is a presigned URL; /metrics takes HTTP Basic with an admin key;
//   - --auth=dev accepts anything, warns, and is refused off loopback.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LambdaClient,
  ListFunctionsCommand,
  GetFunctionCommand,
  CreateFunctionUrlConfigCommand,
} from '@aws-sdk/client-lambda';
import {
  S3Client,
  CreateBucketCommand,
  ListBucketsCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SQSClient, CreateQueueCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { DynamoDBClient, CreateTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CreateLogGroupCommand, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchClient, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { EventBridgeClient, PutRuleCommand, ListRulesCommand } from '@aws-sdk/client-eventbridge';
import { AwsSmithyRpcV2CborProtocol } from '@aws-sdk/core/protocols';
import {
  Nimbus,
  withDaemon,
  withLogs,
  seedCredentials,
  runCommand,
  sleep,
  SKIP_NO_BINARY,
  NIMBUS_BIN,
  REGION,
  CREDENTIALS,
  RUN_ID,
} from '../lib/nimbus.mjs';
import { createFunction, invoke, rawRequest, assertRawError, expectServiceError } from '../lib/lambda.mjs';
import { signedHeaders, presignedUrl, signedChunkedUpload, basicAuthorization } from '../lib/sign.mjs';
import { httpRequest } from '../lib/http.mjs';
import { zipFiles } from '../lib/zip.mjs';

// An invoke-only key, seeded next to the admin key.
const INVOKER = { accessKeyId: 'AKIANIMBUSE2EINVOKE0', secretAccessKey: 'invoke/e2e+Secret/Access/Key0123456789ab' };
const WRONG_SECRET = { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'wrong/e2e+Secret/Access/Key0123456789abc' };
const UNKNOWN_KEY = { accessKeyId: 'AKIANIMBUSE2EUNKNOWN', secretAccessKey: CREDENTIALS.secretAccessKey };

// A function URL's event, and the credentials its function was given.
const ECHO = `export const handler = async (event) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ rawPath: event.rawPath, authorizer: event.requestContext?.authorizer ?? null }),
});
`;

// Calls the APIs with the function's own credentials (from its environment, as the SDK's
// default chain finds them), then with the same key and token but another secret.
const SELF_CALLER = `import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';

export const handler = async (event) => {
  const own = new LambdaClient({});
  const names = (await own.send(new ListFunctionsCommand({}))).Functions.map((f) => f.FunctionName);
  await new S3Client({ forcePathStyle: true }).send(new PutObjectCommand({ Bucket: event.bucket, Key: event.key, Body: 'from inside' }));
  const env = process.env;
  let wrong;
  try {
    await new LambdaClient({
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: 'x'.repeat(40), sessionToken: env.AWS_SESSION_TOKEN },
      maxAttempts: 1,
    }).send(new ListFunctionsCommand({}));
    wrong = { name: 'none' };
  } catch (e) {
    wrong = { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  let noToken;
  try {
    await new LambdaClient({
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
      maxAttempts: 1,
    }).send(new ListFunctionsCommand({}));
    noToken = { name: 'none' };
  } catch (e) {
    noToken = { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  return {
    names,
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretLength: (env.AWS_SECRET_ACCESS_KEY ?? '').length,
    hasToken: (env.AWS_SESSION_TOKEN ?? '').length > 0,
    wrong,
    noToken,
  };
};
`;

function s3Client(endpoint, credentials = CREDENTIALS, extra = {}) {
  return new S3Client({ endpoint, region: REGION, credentials, forcePathStyle: true, maxAttempts: 1, ...extra });
}

function clients(endpoint, credentials, extra = {}) {
  const common = { endpoint, region: REGION, credentials, maxAttempts: 1, ...extra };
  return {
    lambda: new LambdaClient(common),
    s3: s3Client(endpoint, credentials, extra),
    sqs: new SQSClient(common),
    dynamodb: new DynamoDBClient(common),
    cloudwatch: new CloudWatchClient(common),
    events: new EventBridgeClient(common),
  };
}

// S3's XML error: <Error><Code>…</Code>…</Error>.
function s3ErrorCode(text) {
  return text.match(/<Error>\s*<Code>([^<]*)<\/Code>/)?.[1];
}

describe('a fresh data directory', { skip: SKIP_NO_BINARY }, () => {
  it('gets a private key file with one admin key; stderr names it without the secret; a restart keeps it', async (tc) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-auth-fresh-'));
    try {
      const file = path.join(dataDir, 'credentials.json');
      let key;
      let firstText;
      await withDaemon({ dataDir, seedKeys: false }, async (n) => {
        assert.ok(fs.existsSync(file), `${file} was not created`);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600, `mode of ${file}`);
        firstText = fs.readFileSync(file, 'utf8');
        const parsed = JSON.parse(firstText);
        const keys = parsed.AccessKeys;
        assert.ok(Array.isArray(keys) && keys.length === 1, `want one key in ${firstText.replace(/"SecretAccessKey":"[^"]*"/g, '"SecretAccessKey":"…"')}`);
        key = keys[0];
        assert.match(key.AccessKeyId, /^AKIA[A-Z0-9]{16}$/);
        assert.equal(key.SecretAccessKey.length, 40);
        assert.equal(key.Policy, 'admin');
        assert.match(n.stderr, /created an admin access key in /);
        assert.ok(n.stderr.includes(file), `stderr does not name ${file}:\n${n.stderr}`);
        assert.ok(!n.stderr.includes(key.SecretAccessKey), 'stderr shows the secret');
        assert.ok(!n.stdout.includes(key.SecretAccessKey), 'stdout shows the secret');
        const credentials = { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
        const listed = await n.lambda({ credentials }).send(new ListFunctionsCommand({}));
        assert.deepEqual(listed.Functions, []);
        // The harness' usual key is not in this store.
        await expectServiceError(() => n.lambda().send(new ListFunctionsCommand({})), { name: 'UnrecognizedClientException', status: 403 });
        tc.diagnostic(`created ${key.AccessKeyId} in ${file}`);
      });
      await withDaemon({ dataDir, seedKeys: false }, async (n) => {
        assert.equal(fs.readFileSync(file, 'utf8'), firstText, 'the key file changed on the second start');
        assert.doesNotMatch(n.stderr, /created an admin access key/);
        assert.ok(!n.stderr.includes(key.SecretAccessKey), 'stderr shows the secret');
        const credentials = { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
        await n.lambda({ credentials }).send(new ListFunctionsCommand({}));
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('request authentication', { skip: SKIP_NO_BINARY }, () => {
  const box = { nimbus: null };
  const t = (fn) => withLogs(box, fn);
  let dataDir;
  let endpoint;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-auth-'));
    seedCredentials(dataDir, [
      { ...CREDENTIALS, policy: 'admin' },
      { ...INVOKER, policy: 'invoke' },
    ]);
    box.nimbus = await Nimbus.start({ dataDir });
    endpoint = box.nimbus.endpoint;
  }, { timeout: 60000 });

  after(async () => {
    try {
      if (box.nimbus) await box.nimbus.stop();
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, { timeout: 60000 });

  it('an unsigned Lambda request is 403 MissingAuthenticationToken in Lambda\'s JSON', t(async () => {
    const r = await rawRequest(endpoint, 'GET', '/2015-03-31/functions/', { auth: 'none' });
    assertRawError(r, 'MissingAuthenticationToken', 403);
    assert.equal(r.json.message, 'Missing Authentication Token');
    const create = await rawRequest(endpoint, 'POST', '/2015-03-31/functions', {
      auth: 'none', body: JSON.stringify({ FunctionName: `${RUN_ID}-unsigned` }), headers: { 'content-type': 'application/json' },
    });
    assertRawError(create, 'MissingAuthenticationToken', 403);
    await expectServiceError(() => box.nimbus.lambda().send(new GetFunctionCommand({ FunctionName: `${RUN_ID}-unsigned` })), { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('an unsigned S3 request is 403 AccessDenied in S3\'s XML, and creates nothing', t(async () => {
    const bucket = `${RUN_ID}-unsigned`.toLowerCase();
    // Unsigned, only the virtual host says a request is for S3.
    const r = await httpRequest(box.nimbus.port, { method: 'PUT', host: `${bucket}.s3.localhost:${box.nimbus.port}`, path: '/' });
    assert.equal(r.status, 403, r.text);
    assert.match(r.headers['content-type'], /application\/xml/);
    assert.equal(s3ErrorCode(r.text), 'AccessDenied', r.text);
    const put = await httpRequest(box.nimbus.port, { method: 'PUT', host: `${bucket}.s3.localhost:${box.nimbus.port}`, path: '/key', body: 'data' });
    assert.equal(put.status, 403, put.text);
    assert.equal(s3ErrorCode(put.text), 'AccessDenied', put.text);
    // Path-style and without a signature nothing says which API it is for: it is
    // refused for its missing authentication, not answered 404.
    for (const [method, path] of [['PUT', `/${bucket}`], ['PUT', `/${bucket}/key`], ['GET', `/${bucket}/key`], ['POST', '/']]) {
      const raw = await httpRequest(box.nimbus.port, { method, host: `127.0.0.1:${box.nimbus.port}`, path, body: method === 'GET' ? undefined : 'Action=ListQueues' });
      assert.equal(raw.status, 403, `${method} ${path}: ${raw.text}`);
      assert.match(raw.text, /Missing Authentication Token/, `${method} ${path}`);
    }
    const listed = await s3Client(endpoint).send(new ListBucketsCommand({}));
    assert.ok(!(listed.Buckets ?? []).some((b) => b.Name === bucket), 'the unsigned CreateBucket created the bucket');
  }));

  it('every API refuses a wrong secret with its SDK\'s error name and creates nothing', t(async (tc) => {
    const wrong = clients(endpoint, WRONG_SECRET);
    const right = clients(endpoint, CREDENTIALS);
    const name = `${RUN_ID}-wrong`;
    const cases = [
      ['lambda', () => wrong.lambda.send(new ListFunctionsCommand({})), 'InvalidSignatureException'],
      ['s3', () => wrong.s3.send(new CreateBucketCommand({ Bucket: name.toLowerCase() })), 'SignatureDoesNotMatch'],
      ['sqs', () => wrong.sqs.send(new CreateQueueCommand({ QueueName: name })), ['InvalidSignatureException', 'SignatureDoesNotMatch']],
      ['dynamodb', () => wrong.dynamodb.send(new CreateTableCommand({
        TableName: name, BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }],
      })), 'InvalidSignatureException'],
      ['logs', () => box.nimbus.logs({ credentials: WRONG_SECRET }).send(new CreateLogGroupCommand({ logGroupName: `/e2e/${name}` })), 'InvalidSignatureException'],
      ['cloudwatch', () => wrong.cloudwatch.send(new ListMetricsCommand({ Namespace: 'AWS/Lambda' })), ['InvalidSignatureException', 'SignatureDoesNotMatch']],
      ['cloudwatch (rpc-v2-cbor)', () => new CloudWatchClient({ endpoint, region: REGION, credentials: WRONG_SECRET, maxAttempts: 1, protocol: AwsSmithyRpcV2CborProtocol })
        .send(new ListMetricsCommand({ Namespace: 'AWS/Lambda' })), 'InvalidSignatureException'],
      ['events', () => wrong.events.send(new PutRuleCommand({ Name: name, ScheduleExpression: 'rate(1 hour)' })), 'InvalidSignatureException'],
    ];
    for (const [service, call, want] of cases) {
      const err = await expectServiceError(call, { name: want, status: 403 });
      tc.diagnostic(`${service}: ${err.name} (${err.$metadata?.httpStatusCode}): ${err.message.split('\n')[0]}`);
    }
    const buckets = await right.s3.send(new ListBucketsCommand({}));
    assert.ok(!(buckets.Buckets ?? []).some((b) => b.Name === name.toLowerCase()), 'bucket created');
    const queues = await right.sqs.send(new ListQueuesCommand({ QueueNamePrefix: name }));
    assert.deepEqual(queues.QueueUrls ?? [], [], 'queue created');
    const tables = await right.dynamodb.send(new ListTablesCommand({}));
    assert.ok(!tables.TableNames.includes(name), 'table created');
    const groups = await box.nimbus.logs().send(new DescribeLogGroupsCommand({ logGroupNamePrefix: `/e2e/${name}` }));
    assert.deepEqual(groups.logGroups ?? [], [], 'log group created');
    const rules = await right.events.send(new ListRulesCommand({ NamePrefix: name }));
    assert.deepEqual(rules.Rules ?? [], [], 'rule created');
  }));

  it('an unknown access key is UnrecognizedClientException (S3: InvalidAccessKeyId)', t(async () => {
    const unknown = clients(endpoint, UNKNOWN_KEY);
    await expectServiceError(() => unknown.lambda.send(new ListFunctionsCommand({})), { name: 'UnrecognizedClientException', status: 403 });
    await expectServiceError(() => unknown.s3.send(new ListBucketsCommand({})), { name: 'InvalidAccessKeyId', status: 403 });
    await expectServiceError(() => unknown.dynamodb.send(new ListTablesCommand({})), { name: 'UnrecognizedClientException', status: 403 });
    await expectServiceError(() => unknown.events.send(new ListRulesCommand({})), { name: 'UnrecognizedClientException', status: 403 });
    const raw = await rawRequest(endpoint, 'GET', '/2015-03-31/functions/', { credentials: UNKNOWN_KEY });
    assertRawError(raw, 'UnrecognizedClientException', 403);
  }));

  it('a signature 20 minutes old is refused as expired; 10 minutes off is accepted', t(async (tc) => {
    const lambda20 = box.nimbus.lambda({ systemClockOffset: -20 * 60 * 1000 });
    const err = await expectServiceError(() => lambda20.send(new ListFunctionsCommand({})), {
      name: 'InvalidSignatureException', status: 403, messageMatch: /Signature expired/,
    });
    tc.diagnostic(`lambda, 20 min: ${err.message}`);
    const s3Old = s3Client(endpoint, CREDENTIALS, { systemClockOffset: -20 * 60 * 1000 });
    await expectServiceError(() => s3Old.send(new ListBucketsCommand({})), { name: 'RequestTimeTooSkewed', status: 403 });
    const ahead = box.nimbus.lambda({ systemClockOffset: 20 * 60 * 1000 });
    await expectServiceError(() => ahead.send(new ListFunctionsCommand({})), { name: 'InvalidSignatureException', status: 403, messageMatch: /not yet current/ });
    // By hand, with lib/sign.mjs's signing date.
    const url = `${endpoint}/2015-03-31/functions/`;
    const old = await fetch(url, { headers: await signedHeaders(url, { credentials: CREDENTIALS, signingDate: new Date(Date.now() - 20 * 60 * 1000) }) });
    assert.equal(old.status, 403);
    assert.equal(old.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
    assert.match((await old.json()).message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z/);
    // Within AWS's 15 minutes either way.
    await box.nimbus.lambda({ systemClockOffset: -10 * 60 * 1000 }).send(new ListFunctionsCommand({}));
    await box.nimbus.lambda({ systemClockOffset: 10 * 60 * 1000 }).send(new ListFunctionsCommand({}));
    await s3Client(endpoint, CREDENTIALS, { systemClockOffset: -10 * 60 * 1000 }).send(new ListBucketsCommand({}));
    const recent = await fetch(url, { headers: await signedHeaders(url, { credentials: CREDENTIALS, signingDate: new Date(Date.now() - 10 * 60 * 1000) }) });
    assert.equal(recent.status, 200, await recent.text());
  }));

  describe('S3', () => {
    const bucket = `${RUN_ID}-auth-s3`.toLowerCase();
    let s3;
    before(async () => {
      s3 = s3Client(endpoint);
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    });

    async function objectText(Key) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
      return r.Body.transformToString();
    }

    it('presigned URLs put and get an object with plain fetch; tampered and expired ones are refused in S3\'s XML', t(async (tc) => {
      const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: 'presigned.txt' }), { expiresIn: 300 });
      assert.match(putUrl, /X-Amz-Signature=[0-9a-f]{64}/);
      const put = await fetch(putUrl, { method: 'PUT', body: 'put through a presigned URL' });
      assert.equal(put.status, 200, await put.text());
      assert.equal(await objectText('presigned.txt'), 'put through a presigned URL');

      const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'presigned.txt' }), { expiresIn: 300 });
      const got = await fetch(getUrl);
      assert.equal(got.status, 200);
      assert.equal(await got.text(), 'put through a presigned URL');

      // One character of the signature changed.
      const tampered = getUrl.replace(/(X-Amz-Signature=)([0-9a-f])/, (_, p, c) => p + (c === '0' ? '1' : '0'));
      assert.notEqual(tampered, getUrl);
      const bad = await fetch(tampered);
      const badText = await bad.text();
      assert.equal(bad.status, 403, badText);
      assert.equal(s3ErrorCode(badText), 'SignatureDoesNotMatch', badText);
      // A PUT URL does not GET, nor another key.
      const wrongMethod = await fetch(putUrl);
      assert.equal(wrongMethod.status, 403);
      assert.equal(s3ErrorCode(await wrongMethod.text()), 'SignatureDoesNotMatch');
      const otherKey = await fetch(getUrl.replace('presigned.txt', 'other.txt'));
      assert.equal(otherKey.status, 403);
      // A tampered PUT stores nothing.
      const badPut = await fetch(putUrl.replace(/(X-Amz-Signature=)([0-9a-f])/, (_, p, c) => p + (c === '0' ? '1' : '0')), { method: 'PUT', body: 'overwritten' });
      assert.equal(badPut.status, 403);
      assert.equal(await objectText('presigned.txt'), 'put through a presigned URL');

      // Expired: valid for 1 s, used after 2 s.
      const shortUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'presigned.txt' }), { expiresIn: 1 });
      await sleep(2100);
      const expired = await fetch(shortUrl);
      const expiredText = await expired.text();
      assert.equal(expired.status, 403, expiredText);
      assert.equal(s3ErrorCode(expiredText), 'AccessDenied', expiredText);
      assert.match(expiredText, /<Message>Request has expired<\/Message>/);
      tc.diagnostic(`expired: ${expiredText}`);
      // Signed an hour ago for 15 minutes (lib/sign.mjs's signing date).
      const stale = await presignedUrl(`${endpoint}/${bucket}/presigned.txt`, { credentials: CREDENTIALS, expiresIn: 900, signingDate: new Date(Date.now() - 3600 * 1000) });
      const staleRes = await fetch(stale);
      assert.equal(staleRes.status, 403);
      assert.equal(s3ErrorCode(await staleRes.text()), 'AccessDenied');
      // A presigned URL of an invoke-only key is still that key's: refused.
      const invokerUrl = await getSignedUrl(s3Client(endpoint, INVOKER), new GetObjectCommand({ Bucket: bucket, Key: 'presigned.txt' }), { expiresIn: 300 });
      const denied = await fetch(invokerUrl);
      assert.equal(denied.status, 403);
      assert.equal(s3ErrorCode(await denied.text()), 'AccessDenied');
    }));

    it('an aws-chunked upload with signed chunks is stored decoded; a wrong chunk signature is refused and stores nothing', t(async () => {
      const data = crypto.randomBytes(200 * 1024 + 123);
      const url = `${endpoint}/${bucket}/chunked.bin`;
      const { headers, body } = await signedChunkedUpload(url, data, { chunkSize: 64 * 1024, credentials: CREDENTIALS });
      const put = await fetch(url, { method: 'PUT', headers, body });
      assert.equal(put.status, 200, await put.text());
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'chunked.bin' }));
      const back = Buffer.from(await got.Body.transformToByteArray());
      assert.equal(back.length, data.length);
      assert.ok(back.equals(data), 'stored bytes differ from the payload');
      assert.equal(got.ContentEncoding, undefined, 'aws-chunked must not be stored as the Content-Encoding');

      for (const alterChunk of [0, 2, 4]) {
        const badUrl = `${endpoint}/${bucket}/chunked-bad-${alterChunk}.bin`;
        const bad = await signedChunkedUpload(badUrl, data, { chunkSize: 64 * 1024, credentials: CREDENTIALS, alterChunk });
        const res = await fetch(badUrl, { method: 'PUT', headers: bad.headers, body: bad.body });
        const text = await res.text();
        assert.equal(res.status, 403, `chunk ${alterChunk}: ${text}`);
        assert.equal(s3ErrorCode(text), 'SignatureDoesNotMatch', text);
        await expectServiceError(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `chunked-bad-${alterChunk}.bin` })), { name: 'NotFound', status: 404 });
      }
      // The SDK's own uploads (whatever framing it picks) still work.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'sdk.bin', Body: data }));
      const sdk = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'sdk.bin' }))).Body.transformToByteArray());
      assert.ok(sdk.equals(data));
    }));
  });

  describe('an invoke-only key, function URLs and functions\' own credentials', () => {
    const echo = `${RUN_ID}-auth-echo`;
    let urlId;
    before(async () => {
      const lambda = box.nimbus.lambda();
      await createFunction(lambda, { name: echo, zip: zipFiles({ 'index.mjs': ECHO }), runtime: 'nodejs20.x', handler: 'index.handler' });
      const created = await lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: echo, AuthType: 'AWS_IAM' }));
      urlId = new URL(created.FunctionUrl).hostname.split('.')[0];
    }, { timeout: 120000 });

    it('an invoke-only key invokes and is AccessDenied for everything else', t(async () => {
      const invoker = clients(endpoint, INVOKER);
      const r = await invoke(invoker.lambda, echo, { rawPath: '/direct' });
      assert.equal(r.status, 200);
      assert.equal(r.functionError, undefined, r.text);
      assert.equal(r.json.statusCode, 200);
      const event = await invoke(invoker.lambda, echo, {}, { InvocationType: 'Event' });
      assert.equal(event.status, 202);
      await expectServiceError(() => invoker.lambda.send(new ListFunctionsCommand({})), { name: 'AccessDeniedException', status: 403, messageMatch: /invoke-only/ });
      await expectServiceError(() => invoker.lambda.send(new GetFunctionCommand({ FunctionName: echo })), { name: 'AccessDeniedException', status: 403 });
      await expectServiceError(() => invoker.s3.send(new ListBucketsCommand({})), { name: 'AccessDenied', status: 403 });
      await expectServiceError(() => invoker.dynamodb.send(new ListTablesCommand({})), { name: 'AccessDeniedException', status: 403 });
      await expectServiceError(() => invoker.sqs.send(new ListQueuesCommand({})), { name: 'AccessDenied', status: 403 });
      // Basic auth on /metrics is for admin keys only.
      const metrics = await rawRequest(endpoint, 'GET', '/metrics', { auth: 'basic', credentials: INVOKER });
      assert.equal(metrics.status, 401);
    }));

    it('an AWS_IAM function URL refuses unsigned and wrongly signed requests and tells the function who signed', t(async () => {
      const url = `${endpoint}/lambda-url/${urlId}/whoami`;
      const unsigned = await fetch(url);
      assert.equal(unsigned.status, 403);
      assert.deepEqual(await unsigned.json(), { Message: 'Forbidden' });
      const wrong = await fetch(url, { headers: await signedHeaders(url, { credentials: { ...INVOKER, secretAccessKey: WRONG_SECRET.secretAccessKey }, service: 'lambda' }) });
      assert.equal(wrong.status, 403);
      assert.deepEqual(await wrong.json(), { Message: 'Forbidden' });
      const unknown = await fetch(url, { headers: await signedHeaders(url, { credentials: UNKNOWN_KEY, service: 'lambda' }) });
      assert.equal(unknown.status, 403);
      const forS3 = await fetch(url, { headers: await signedHeaders(url, { credentials: INVOKER, service: 's3' }) });
      assert.equal(forS3.status, 403, 'a signature for another service');

      const signed = await fetch(url, { headers: await signedHeaders(url, { credentials: INVOKER, service: 'lambda' }) });
      const text = await signed.text();
      assert.equal(signed.status, 200, text);
      const body = JSON.parse(text);
      assert.equal(body.authorizer?.iam?.accessKey, INVOKER.accessKeyId, text);
      assert.equal(body.authorizer.iam.accountId, '000000000000');
      // By Host, as a browser or curl would address it.
      const hostUrl = `http://${urlId}.lambda-url.localhost:${box.nimbus.port}/byhost`;
      const byHost = await httpRequest(box.nimbus.port, {
        host: `${urlId}.lambda-url.localhost:${box.nimbus.port}`, path: '/byhost',
        headers: Object.fromEntries(Object.entries(await signedHeaders(hostUrl, { credentials: CREDENTIALS, service: 'lambda' })).filter(([k]) => k !== 'host')),
      });
      assert.equal(byHost.status, 200, byHost.text);
      assert.equal(JSON.parse(byHost.text).authorizer.iam.accessKey, CREDENTIALS.accessKeyId);
      assert.equal(JSON.parse(byHost.text).rawPath, '/byhost');
    }));

    it('a function\'s own session credentials reach Lambda and S3; a wrong secret or a missing token does not', t(async (tc) => {
      const lambda = box.nimbus.lambda();
      const name = `${RUN_ID}-auth-self`;
      const bucket = `${RUN_ID}-auth-self`.toLowerCase();
      await s3Client(endpoint).send(new CreateBucketCommand({ Bucket: bucket }));
      await createFunction(lambda, { name, zip: zipFiles({ 'index.mjs': SELF_CALLER }), runtime: 'nodejs20.x', handler: 'index.handler', Timeout: 30 });
      const r = await invoke(lambda, name, { bucket, key: 'self.txt' });
      assert.equal(r.functionError, undefined, `${r.text}\n${r.tail}`);
      tc.diagnostic(`inside: ${JSON.stringify({ ...r.json, names: r.json.names.length })}`);
      assert.ok(r.json.names.includes(name), JSON.stringify(r.json));
      assert.match(r.json.accessKeyId, /^ASIA[A-Z0-9]{16}$/);
      assert.equal(r.json.secretLength, 40);
      assert.equal(r.json.hasToken, true);
      assert.deepEqual(r.json.wrong, { name: 'InvalidSignatureException', status: 403 });
      assert.deepEqual(r.json.noToken, { name: 'UnrecognizedClientException', status: 403 });
      const obj = await s3Client(endpoint).send(new GetObjectCommand({ Bucket: bucket, Key: 'self.txt' }));
      assert.equal(await obj.Body.transformToString(), 'from inside');
      // The session key is not a long-term key of the store.
      const file = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8'));
      assert.ok(!file.AccessKeys.some((k) => k.AccessKeyId === r.json.accessKeyId));
    }));
  });

  it('GetFunction\'s Code.Location is a presigned URL: it works unsigned, and not with its signature altered', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = `${RUN_ID}-auth-code`;
    const zip = zipFiles({ 'index.mjs': 'export const handler = async () => 1;\n' });
    await createFunction(lambda, { name, zip, runtime: 'nodejs20.x', handler: 'index.handler' });
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    const location = got.Code.Location;
    assert.match(location, /X-Amz-Signature=[0-9a-f]{64}/);
    assert.match(location, /X-Amz-Expires=600/);
    const res = await fetch(location);
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(crypto.createHash('sha256').update(bytes).digest('base64'), got.Configuration.CodeSha256);
    const tampered = location.replace(/(X-Amz-Signature=)([0-9a-f])/, (_, p, c) => p + (c === '0' ? '1' : '0'));
    const bad = await fetch(tampered);
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
    const bare = await fetch(location.slice(0, location.indexOf('?')));
    assert.equal(bare.status, 403);
  }));

  it('/metrics is 401 with a Basic challenge without credentials, 200 with an admin key\'s', t(async () => {
    const none = await fetch(`${endpoint}/metrics`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm="nimbus"/);
    const admin = await fetch(`${endpoint}/metrics`, { headers: { authorization: basicAuthorization(CREDENTIALS) } });
    assert.equal(admin.status, 200);
    assert.match(await admin.text(), /nimbus_async_events_pending/);
    const invoker = await fetch(`${endpoint}/metrics`, { headers: { authorization: basicAuthorization(INVOKER) } });
    assert.equal(invoker.status, 401);
    const wrong = await fetch(`${endpoint}/metrics`, { headers: { authorization: basicAuthorization(WRONG_SECRET) } });
    assert.equal(wrong.status, 401);
    const health = await fetch(`${endpoint}/health`);
    assert.equal(health.status, 200);
  }));
});

describe('--auth=dev', { skip: SKIP_NO_BINARY }, () => {
  it('accepts made-up credentials on loopback and warns on stderr', async () => {
    await withDaemon({ args: ['--auth=dev'], seedKeys: false }, async (n) => {
      assert.match(n.stderr, /dev mode \(--auth=dev\): requests are not verified/);
      const test = { accessKeyId: 'test', secretAccessKey: 'test' };
      const listed = await n.lambda({ credentials: test }).send(new ListFunctionsCommand({}));
      assert.deepEqual(listed.Functions, []);
      await s3Client(n.endpoint, test).send(new CreateBucketCommand({ Bucket: `${RUN_ID}-dev`.toLowerCase() }));
      const unsigned = await rawRequest(n.endpoint, 'GET', '/2015-03-31/functions/', { auth: 'none' });
      assert.equal(unsigned.status, 200, unsigned.text);
      const metrics = await fetch(`${n.endpoint}/metrics`);
      assert.equal(metrics.status, 200);
    });
  });

  it('is refused when listening on a non-loopback address', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-auth-dev-'));
    try {
      const r = await runCommand(NIMBUS_BIN, ['serve', '--auth=dev', '--listen', '0.0.0.0:0', '--data-dir', dataDir], { timeoutMs: 20000 });
      assert.equal(r.timedOut, false, 'nimbus kept running');
      assert.notEqual(r.code, 0, `exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /loopback/, r.stderr);
      assert.match(r.stderr, /0\.0\.0\.0/, r.stderr);
      assert.doesNotMatch(r.stdout, /listening on/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
