// Functions call the services with their runtime's own SDK, unchanged (issue #5, scope
// 7): Python's boto3 (Debian's, which the runtime provides) and Node's AWS SDK v3 (the
// clients the runtime provides, imported from an ES module and required from CommonJS).
// Inside the sandbox the only network is loopback; Nimbus serves its APIs there at
// AWS_ENDPOINT_URL, and the function's credentials and region are in its environment.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { S3Client, CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { useNimbus, withLogs, SKIP_NO_BINARY, REGION, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const PYTHON = `import boto3

s3 = boto3.client("s3")


def handler(event, context):
    s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=event["body"].encode())
    back = s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read().decode()
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    return {"back": back, "me": context.function_name in names}
`;

const NODE_ESM = `import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';

const s3 = new S3Client({});

export const handler = async (event) => {
  await s3.send(new PutObjectCommand({ Bucket: event.bucket, Key: event.key, Body: event.body }));
  const r = await s3.send(new GetObjectCommand({ Bucket: event.bucket, Key: event.key }));
  return { back: await r.Body.transformToString() };
};
`;

const NODE_CJS = `const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');
const { LambdaClient, GetFunctionCommand } = require('@aws-sdk/client-lambda');

exports.handler = async (event, context) => {
  await new S3Client({}).send(new PutObjectCommand({ Bucket: event.bucket, Key: event.key, Body: event.body }));
  const me = await new LambdaClient({}).send(new GetFunctionCommand({ FunctionName: context.functionName }));
  return { runtime: me.Configuration.Runtime };
};
`;

describe('the SDK inside functions', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let s3;
  let bucket;

  before(async () => {
    s3 = new S3Client({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true, maxAttempts: 1 });
    bucket = `${RUN_ID}-sdk-inside`.toLowerCase();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  async function objectText(Key) {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    return r.Body.transformToString();
  }

  it('unchanged boto3 code puts and gets an object and lists functions', t(async () => {
    const name = `${RUN_ID}-boto3`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'app.py': PYTHON }), runtime: 'python3.12', handler: 'app.handler', Timeout: 30 });
    const r = await invoke(box.nimbus.lambda(), name, { bucket, key: 'from/python.txt', body: 'written by boto3' });
    assert.equal(r.functionError, undefined, `${r.text}\n${r.tail}`);
    assert.deepEqual(r.json, { back: 'written by boto3', me: true });
    assert.equal(await objectText('from/python.txt'), 'written by boto3');
  }));

  it('unchanged AWS SDK v3 code in an ES module puts and gets an object', t(async () => {
    const name = `${RUN_ID}-sdk-esm`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'index.mjs': NODE_ESM }), runtime: 'nodejs20.x', handler: 'index.handler', Timeout: 30 });
    const r = await invoke(box.nimbus.lambda(), name, { bucket, key: 'from/node-esm.txt', body: 'written by the SDK (ESM)' });
    assert.equal(r.functionError, undefined, `${r.text}\n${r.tail}`);
    assert.deepEqual(r.json, { back: 'written by the SDK (ESM)' });
    assert.equal(await objectText('from/node-esm.txt'), 'written by the SDK (ESM)');
  }));

  it('unchanged AWS SDK v3 code in CommonJS puts an object and reads its own configuration from Lambda', t(async () => {
    const name = `${RUN_ID}-sdk-cjs`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'index.js': NODE_CJS }), runtime: 'nodejs20.x', handler: 'index.handler', Timeout: 30 });
    const r = await invoke(box.nimbus.lambda(), name, { bucket, key: 'from/node-cjs.txt', body: 'written by the SDK (CJS)' });
    assert.equal(r.functionError, undefined, `${r.text}\n${r.tail}`);
    assert.deepEqual(r.json, { runtime: 'nodejs20.x' });
    assert.equal(await objectText('from/node-cjs.txt'), 'written by the SDK (CJS)');
  }));
});
