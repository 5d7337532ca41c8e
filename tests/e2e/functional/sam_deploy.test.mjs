// `nimbus deploy` of an AWS SAM template (issue #7, scope 6), end to end: one
// command deploys three functions (Python and Node), a layer, a bucket, a queue and
// a table with S3, SQS, DynamoDB stream, HttpApi and Schedule events, and every
// trigger then works: an object put runs a function (which imports the layer), a
// queue message and a table write run another, an HTTP call through the stack's
// HTTP API is answered by the third, and the schedule fires within its first
// minute. A second deploy of the unchanged template changes nothing; a changed
// function is the only thing a third deploy updates; `--watch` redeploys after a
// file edit and stops cleanly on SIGINT. Templates with an unknown resource or
// event type fail before anything is created.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { SQSClient, SendMessageCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetFunctionCommand, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import {
  useNimbus, withLogs, waitFor, sleep, runCommand, SKIP_NO_BINARY, NIMBUS_BIN, REGION, CREDENTIALS, RUN_ID,
} from '../lib/nimbus.mjs';
import { invoke } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';
import { httpRequest } from '../lib/http.mjs';
import { writeTree } from '../lib/zip.mjs';

// The first tick of a rate(1 minute) schedule comes at the next minute boundary
// after the rule is created (at most 60 s), then an asynchronous invoke.
const SCHEDULE_WAIT_MS = 70_000;
const TRIGGER_WAIT_MS = 30_000;

const STACK = `${RUN_ID}-shop`;

const TEMPLATE = `
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: three functions and their triggers
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        GREETING: !Ref Greeting
Resources:
  Uploads:
    Type: AWS::S3::Bucket
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - AttributeName: id
          AttributeType: S
      KeySchema:
        - AttributeName: id
          KeyType: HASH
      BillingMode: PAY_PER_REQUEST
      StreamSpecification:
        StreamViewType: NEW_IMAGE
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  OnUpload:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: on_upload/
      Handler: app.handler
      Runtime: python3.12
      Layers:
        - !Ref Shared
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: in/
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Input: '{"tick": true}'
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: index.handler
      Runtime: nodejs20.x
      Events:
        Job:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: api/
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          QUEUE_URL: !Ref Jobs
          TABLE: !Ref Orders
      Events:
        Hello:
          Type: HttpApi
          Properties:
            Path: /hello/{name}
            Method: GET
`;

const ON_UPLOAD = `import json
import shared

def handler(event, context):
    print("EVENT " + json.dumps({"layer": shared.tag(), "event": event}, sort_keys=True))
    return "ok"
`;

const WORKER = (version) => `exports.handler = async (event) => {
  console.log("EVENT " + JSON.stringify({ version: ${version}, event }));
  return { version: ${version} };
};
`;

const API = (word) => `import json
import os

def handler(event, context):
    name = event["pathParameters"]["name"]
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"${word}": name, "greeting": os.environ["GREETING"], "queue": os.environ["QUEUE_URL"],
                            "table": os.environ["TABLE"], "route": event["routeKey"]}),
    }
`;

function ok(r, what) {
  assert.equal(r.code, 0, `${what} exited ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

// The "<change> <logical id> ..." lines a deploy printed, as {change, id, rest}.
function changeLines(stdout) {
  return stdout
    .split('\n')
    .map((l) => l.match(/^(created|updated|unchanged|deleted|stale)\s+(\S+)\s+(.*)$/))
    .filter(Boolean)
    .map((m) => ({ change: m[1], id: m[2], rest: m[3] }));
}

describe('nimbus deploy of a SAM template', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let dir;
  let s3;
  let sqs;
  let ddb;
  let deployedAt;
  let apiId;

  const deploy = (args = [], options = {}) =>
    runCommand(NIMBUS_BIN, ['deploy', '--stack-name', STACK, ...args], {
      cwd: dir, env: { NIMBUS_ENDPOINT: box.nimbus.endpoint }, timeoutMs: 180_000, ...options,
    });
  // What a function printed as "EVENT <json>" (Node's console.log puts a timestamp,
  // request id and level in front).
  const events = async (fn) =>
    (await logMessages(box.nimbus.logs(), fn))
      .filter((m) => m.includes('EVENT {'))
      .map((m) => JSON.parse(m.slice(m.indexOf('EVENT {') + 6)));
  const callApi = (name) => httpRequest(box.nimbus.port, { path: `/execute-api/${apiId}/hello/${name}` });

  before(() => {
    dir = writeTree({
      'template.yaml': TEMPLATE,
      'layer/python/shared.py': 'def tag():\n    return "from-layer"\n',
      'on_upload/app.py': ON_UPLOAD,
      'worker/index.js': WORKER(1),
      'api/app.py': API('hello'),
    });
    const cfg = { endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 };
    s3 = new S3Client({ ...cfg, forcePathStyle: true });
    sqs = new SQSClient(cfg);
    ddb = new DynamoDBClient(cfg);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('deploys the whole template with one command, creating every resource and event', t(async () => {
    deployedAt = Date.now();
    const r = await deploy();
    ok(r, 'nimbus deploy');
    const lines = changeLines(r.stdout);
    const created = (id) => lines.find((l) => l.id === id && l.change === 'created');
    for (const id of ['Uploads', 'Jobs', 'Orders', 'Shared', 'OnUpload', 'Worker', 'Api', 'OnUpload.Upload', 'OnUpload.Tick',
      'Worker.Job', 'Worker.Changes', 'Api.Hello', 'ServerlessHttpApi']) {
      assert.ok(created(id), `no "created ${id}" line in:\n${r.stdout}`);
    }
    assert.match(r.stdout, new RegExp(`^stack ${STACK}: 13 created, 0 updated, 0 unchanged$`, 'm'));
    const endpoint = r.stdout.match(/^HTTP API endpoint: (http:\/\/(\w+)\.execute-api\.localhost:\d+)\/ \(or (\S+)\)$/m);
    assert.ok(endpoint, `no endpoint line in:\n${r.stdout}`);
    apiId = endpoint[2];
    assert.equal(endpoint[3], `${box.nimbus.endpoint}/execute-api/${apiId}/`);

    const fn = await box.nimbus.lambda().send(new GetFunctionCommand({ FunctionName: `${STACK}-Api` }));
    assert.equal(fn.Configuration.Runtime, 'python3.12');
    assert.equal(fn.Configuration.Timeout, 10);
    assert.equal(fn.Configuration.MemorySize, 256);
    assert.equal(fn.Configuration.Environment.Variables.GREETING, 'hello');
    assert.deepEqual(fn.Tags, { 'nimbus:stack': STACK, 'nimbus:logical-id': 'Api' });
    const upload = await box.nimbus.lambda().send(new GetFunctionCommand({ FunctionName: `${STACK}-OnUpload` }));
    assert.match(upload.Configuration.Layers[0].Arn, new RegExp(`:layer:${STACK}-Shared:1$`));
  }));

  it('an object put under the prefix runs the Python function, which imports the layer', t(async () => {
    const Bucket = `${STACK}-uploads`.toLowerCase();
    await s3.send(new PutObjectCommand({ Bucket, Key: 'in/a.txt', Body: 'hi' }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'elsewhere/b.txt', Body: 'no' }));
    const got = await waitFor(() => events(`${STACK}-OnUpload`), (e) => e.some((x) => x.event.Records), TRIGGER_WAIT_MS, 250);
    const records = got.filter((x) => x.event.Records);
    assert.equal(records.length, 1, JSON.stringify(got));
    assert.equal(records[0].layer, 'from-layer');
    assert.equal(records[0].event.Records[0].s3.bucket.name, Bucket);
    assert.equal(records[0].event.Records[0].s3.object.key, 'in/a.txt');
  }));

  it('a queue message and a table write run the Node function', t(async () => {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: `${STACK}-Jobs` }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'job-1' }));
    await ddb.send(new PutItemCommand({ TableName: `${STACK}-Orders`, Item: { id: { S: 'order-1' }, total: { N: '42' } } }));
    const got = await waitFor(
      () => events(`${STACK}-Worker`),
      (e) => e.some((x) => x.event.Records?.[0]?.eventSource === 'aws:sqs') && e.some((x) => x.event.Records?.[0]?.eventSource === 'aws:dynamodb'),
      TRIGGER_WAIT_MS, 250);
    const message = got.find((x) => x.event.Records?.[0]?.eventSource === 'aws:sqs');
    assert.ok(message, JSON.stringify(got));
    assert.equal(message.event.Records[0].body, 'job-1');
    const change = got.find((x) => x.event.Records?.[0]?.eventSource === 'aws:dynamodb');
    assert.ok(change, JSON.stringify(got));
    assert.equal(change.event.Records[0].dynamodb.NewImage.id.S, 'order-1');
  }));

  it('an HTTP call through the stack\'s HTTP API is answered by its function', t(async () => {
    const res = await callApi('world');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.text), {
      hello: 'world',
      greeting: 'hello',
      queue: `${box.nimbus.endpoint}/000000000000/${STACK}-Jobs`,
      table: `${STACK}-Orders`,
      route: 'GET /hello/{name}',
    });
    const other = await httpRequest(box.nimbus.port, { path: `/execute-api/${apiId}/nope` });
    assert.equal(other.status, 404);
  }));

  it('a second deploy of the unchanged template changes nothing', t(async () => {
    const before = (await box.nimbus.lambda().send(new GetFunctionCommand({ FunctionName: `${STACK}-Worker` }))).Configuration;
    const r = await deploy();
    ok(r, 'nimbus deploy (unchanged)');
    const lines = changeLines(r.stdout);
    assert.equal(lines.length, 13, r.stdout);
    assert.deepEqual(lines.filter((l) => l.change !== 'unchanged'), [], r.stdout);
    assert.match(r.stdout, new RegExp(`^stack ${STACK}: no changes \\(13 unchanged\\)$`, 'm'));
    const after = (await box.nimbus.lambda().send(new GetFunctionCommand({ FunctionName: `${STACK}-Worker` }))).Configuration;
    assert.equal(after.RevisionId, before.RevisionId);
    assert.equal(after.LastModified, before.LastModified);
  }));

  it('the schedule fires within its first minute with the event\'s Input', t(async () => {
    const left = Math.max(0, deployedAt + SCHEDULE_WAIT_MS - Date.now());
    const got = await waitFor(() => events(`${STACK}-OnUpload`), (e) => e.some((x) => x.event.tick === true), left, 1000);
    assert.ok(got.some((x) => x.event.tick === true), `no scheduled invocation within ${SCHEDULE_WAIT_MS} ms of the deploy: ${JSON.stringify(got)}`);
  }));

  it('after one function\'s code changes, a deploy updates only that function', t(async () => {
    fs.writeFileSync(path.join(dir, 'api', 'app.py'), API('bonjour'));
    const r = await deploy();
    ok(r, 'nimbus deploy (changed code)');
    const changed = changeLines(r.stdout).filter((l) => l.change !== 'unchanged');
    assert.equal(changed.length, 1, r.stdout);
    assert.equal(changed[0].change, 'updated');
    assert.equal(changed[0].id, 'Api');
    assert.match(changed[0].rest, /\(code\)$/);
    assert.match(r.stdout, new RegExp(`^stack ${STACK}: 0 created, 1 updated, 12 unchanged$`, 'm'));
    const res = await callApi('monde');
    assert.equal(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text).bonjour, 'monde');
  }));

  it('a parameter override changes every function that uses it', t(async () => {
    const r = await deploy(['--parameter-overrides', 'Greeting=salut']);
    ok(r, 'nimbus deploy --parameter-overrides');
    const changed = changeLines(r.stdout).filter((l) => l.change !== 'unchanged');
    assert.deepEqual(changed.map((l) => `${l.change} ${l.id}`).sort(), ['updated Api', 'updated OnUpload', 'updated Worker'], r.stdout);
    assert.ok(changed.every((l) => /\(Environment\)$/.test(l.rest)), r.stdout);
    assert.equal(JSON.parse((await callApi('x')).text).greeting, 'salut');
  }));

  it('--watch redeploys after a file edit and stops on SIGINT', t(async () => {
    const child = spawn(NIMBUS_BIN, ['deploy', '--watch', '--stack-name', STACK, '--parameter-overrides', 'Greeting=salut'], {
      cwd: dir, env: { ...process.env, NIMBUS_ENDPOINT: box.nimbus.endpoint }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const until = async (what, re, ms) => {
      const deadline = Date.now() + ms;
      while (!re.test(what()) && Date.now() < deadline && child.exitCode === null) await sleep(100);
      assert.match(what(), re, `stdout:\n${out}\nstderr:\n${err}`);
    };
    try {
      await until(() => err, /watching for changes/, 60_000);
      assert.match(out, new RegExp(`^stack ${STACK}: no changes`, 'm'));
      fs.writeFileSync(path.join(dir, 'worker', 'index.js'), WORKER(2));
      await until(() => out, /^updated\s+Worker\s+AWS::Serverless::Function\s+\S+ \(code\)$/m, 30_000);
      await until(() => out, new RegExp(`stack ${STACK}: 0 created, 1 updated`), 30_000);
      assert.match(err, /changed: \S*worker\/index\.js; deploying/);
      const r = await invoke(box.nimbus.lambda(), `${STACK}-Worker`, { probe: true });
      assert.deepEqual(r.json, { version: 2 });
      child.kill('SIGINT');
      const { code, signal } = await exited;
      assert.equal(signal, null, `stderr:\n${err}`);
      assert.equal(code, 0, `stderr:\n${err}`);
      assert.match(err, /stopped watching/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }));

  it('an unknown resource or event type fails before anything is created', t(async () => {
    const bad = writeTree({
      'template.yaml': `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.12}
  Topic:
    Type: AWS::SNS::Topic
`,
      'src/app.py': 'def handler(e, c):\n    return 1\n',
    });
    const badEvent = writeTree({
      'template.yaml': `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Events:
        OnTopic: {Type: SNS, Properties: {Topic: arn:aws:sns:us-east-1:000000000000:t}}
`,
      'src/app.py': 'def handler(e, c):\n    return 1\n',
    });
    try {
      const env = { NIMBUS_ENDPOINT: box.nimbus.endpoint };
      const r1 = await runCommand(NIMBUS_BIN, ['deploy', '--stack-name', `${RUN_ID}-bad`], { cwd: bad, env });
      assert.equal(r1.code, 1, r1.stderr);
      assert.match(r1.stderr, /^nimbus: template\.yaml: Resources\.Topic: resource type AWS::SNS::Topic is not supported/m);
      const r2 = await runCommand(NIMBUS_BIN, ['deploy', '--template', path.join(badEvent, 'template.yaml'), '--stack-name', `${RUN_ID}-bad`], { env });
      assert.equal(r2.code, 1, r2.stderr);
      assert.match(r2.stderr, /Resources\.Fn\.Properties\.Events\.OnTopic: event type SNS is not supported/);
      const { Functions } = await box.nimbus.lambda().send(new ListFunctionsCommand({}));
      assert.deepEqual(Functions.filter((f) => f.FunctionName.startsWith(`${RUN_ID}-bad`)), []);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
      fs.rmSync(badEvent, { recursive: true, force: true });
    }
  }));

  it('deploy NAME PATH and template deploys refuse each other\'s options', t(async () => {
    const env = { NIMBUS_ENDPOINT: box.nimbus.endpoint };
    const noPath = await runCommand(NIMBUS_BIN, ['deploy', 'fn'], { env });
    assert.equal(noPath.code, 1);
    assert.match(noPath.stderr, /deploy NAME PATH: PATH \(a directory or \.zip file\) is missing/);
    const noRuntime = await runCommand(NIMBUS_BIN, ['deploy', 'fn', dir], { env });
    assert.equal(noRuntime.code, 1);
    assert.match(noRuntime.stderr, /deploy NAME PATH needs --runtime and --handler/);
    const mixed = await runCommand(NIMBUS_BIN, ['deploy', 'fn', dir, '--runtime', 'python3.12', '--handler', 'a.b', '--watch'], { env });
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /--watch are for template deploys/);
    const templateWithRuntime = await runCommand(NIMBUS_BIN, ['deploy', '--runtime', 'python3.12'], { env, cwd: dir });
    assert.equal(templateWithRuntime.code, 1);
    assert.match(templateWithRuntime.stderr, /--runtime, --handler, --memory, --timeout, --env and --role are for deploy NAME PATH/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-empty-'));
    try {
      const none = await runCommand(NIMBUS_BIN, ['deploy'], { env, cwd: empty });
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no template\.yaml in .*: give --template FILE, or NAME PATH/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  }));
});
