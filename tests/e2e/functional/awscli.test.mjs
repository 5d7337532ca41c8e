// The AWS CLI (`aws lambda ...`, v1 on our machines; v2 also handled) against
// nimbus: create-function with fileb://, the function-active-v2 and
// function-updated-v2 waiters, invoke with a tail log, get-function,
// list-functions pagination, update-function-code, delete-function, errors;
// and the invocation semantics of issue #3: publish-version, aliases, invoke
// with a qualifier, concurrency, async (Event) invocation with an event invoke
// config, and layers; s3, dynamodb and dynamodbstreams commands.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, ROLE, CREDENTIALS, runCommand } from '../lib/nimbus.mjs';
import { zipFixture, zipFiles, sha256Base64 } from '../lib/zip.mjs';

function awsVersion() {
  try {
    return execFileSync('aws', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 }).trim();
  } catch {
    return null;
  }
}

const VERSION = awsVersion();

describe('AWS CLI', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let tmp;
  let v2;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-awscli-'));
    v2 = VERSION?.startsWith('aws-cli/2') ?? false;
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function aws(args, { expectOk = true } = {}) {
    const r = await runCommand('aws', [...args, '--endpoint-url', box.nimbus.endpoint, '--region', 'us-east-1', '--output', 'json'], {
      timeoutMs: 120000,
      env: {
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_MAX_ATTEMPTS: '1',
        AWS_RETRY_MODE: 'standard',
        AWS_CONFIG_FILE: path.join(tmp, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, 'no-credentials'),
        AWS_PAGER: '',
      },
    });
    if (expectOk) assert.equal(r.code, 0, `aws ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  }
  const json = (r) => JSON.parse(r.stdout);
  const payloadArgs = (p) => (v2 ? ['--cli-binary-format', 'raw-in-base64-out', '--payload', p] : ['--payload', p]);

  it('create-function (fileb://), wait function-active-v2, invoke with tail log, get-function', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const name = uniqueName('cli-aws');
    const zip = zipFixture('functions', 'python', 'echo');
    const zipPath = path.join(tmp, 'echo.zip');
    fs.writeFileSync(zipPath, zip);
    const created = json(await aws(['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.handler',
      '--role', ROLE, '--zip-file', `fileb://${zipPath}`, '--environment', 'Variables={E2E_CLI=yes}']));
    assert.equal(created.FunctionName, name);
    assert.equal(created.CodeSha256, sha256Base64(zip));
    await aws(['lambda', 'wait', 'function-active-v2', '--function-name', name]);

    const outFile = path.join(tmp, 'out.json');
    const inv = json(await aws(['lambda', 'invoke', '--function-name', name, ...payloadArgs('{"marker":"awscli"}'), '--log-type', 'Tail', outFile]));
    assert.equal(inv.StatusCode, 200);
    assert.equal(inv.ExecutedVersion, '$LATEST');
    assert.equal(inv.FunctionError, undefined);
    const result = JSON.parse(fs.readFileSync(outFile, 'utf8'));
    assert.deepEqual(result.event, { marker: 'awscli' });
    assert.deepEqual(result.customEnv, { E2E_CLI: 'yes' });
    const tail = Buffer.from(inv.LogResult, 'base64').toString('utf8');
    assert.match(tail, new RegExp(`^START RequestId: ${result.requestId} Version: \\$LATEST$`, 'm'));
    assert.match(tail, new RegExp(`^END RequestId: ${result.requestId}$`, 'm'));
    assert.match(tail, new RegExp(`^REPORT RequestId: ${result.requestId}\\tDuration: \\d+\\.\\d\\d ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB\\t`, 'm'));

    const got = json(await aws(['lambda', 'get-function', '--function-name', name]));
    assert.equal(got.Configuration.State, 'Active');
    assert.equal(got.Configuration.LastUpdateStatus, 'Successful');
    assert.equal(got.Configuration.CodeSize, zip.length);
    assert.match(got.Configuration.LastModified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    assert.ok(got.Code.Location);

    const cfg = json(await aws(['lambda', 'get-function-configuration', '--function-name', name]));
    assert.equal(cfg.Handler, 'app.handler');
  }));

  it('invoke of a failing function reports FunctionError Unhandled and writes the error JSON', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const name = uniqueName('cli-aws-fail');
    const zipPath = path.join(tmp, 'fail.zip');
    fs.writeFileSync(zipPath, zipFixture('functions', 'python', 'echo'));
    await aws(['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.fail', '--role', ROLE, '--zip-file', `fileb://${zipPath}`]);
    await aws(['lambda', 'wait', 'function-active-v2', '--function-name', name]);
    const outFile = path.join(tmp, 'fail-out.json');
    const inv = json(await aws(['lambda', 'invoke', '--function-name', name, ...payloadArgs('{"marker":"x"}'), outFile]));
    assert.equal(inv.StatusCode, 200);
    assert.equal(inv.FunctionError, 'Unhandled');
    const err = JSON.parse(fs.readFileSync(outFile, 'utf8'));
    assert.equal(err.errorType, 'ValueError');
    assert.equal(err.errorMessage, 'boom x');
  }));

  it('list-functions paginates (--max-items / --starting-token, --page-size)', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const zipPath = path.join(tmp, 'list.zip');
    fs.writeFileSync(zipPath, zipFixture('functions', 'python', 'echo'));
    const names = [];
    for (let i = 0; i < 4; i++) {
      const name = uniqueName(`cli-list${i}`);
      names.push(name);
      await aws(['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.handler', '--role', ROLE, '--zip-file', `fileb://${zipPath}`]);
    }
    const seen = [];
    let token;
    let pages = 0;
    do {
      const args = ['lambda', 'list-functions', '--max-items', '2'];
      if (token) args.push('--starting-token', token);
      const page = json(await aws(args));
      assert.ok(page.Functions.length <= 2);
      seen.push(...page.Functions.map((f) => f.FunctionName));
      token = page.NextToken;
      pages += 1;
      assert.ok(pages < 500);
    } while (token);
    assert.ok(pages >= 2, `only ${pages} page(s)`);
    assert.equal(new Set(seen).size, seen.length, 'duplicates across pages');
    for (const n of names) assert.ok(seen.includes(n), `${n} missing`);
    // --page-size 1 makes the CLI follow NextMarker across many requests.
    const all = json(await aws(['lambda', 'list-functions', '--page-size', '1']));
    assert.deepEqual(all.Functions.map((f) => f.FunctionName).sort(), [...seen].sort());
  }));

  it('update-function-code, wait function-updated-v2, invoke sees new code, delete-function', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const name = uniqueName('cli-aws-upd');
    const p1 = path.join(tmp, 'u1.zip');
    const p2 = path.join(tmp, 'u2.zip');
    fs.writeFileSync(p1, zipFixture('functions', 'python', 'echo'));
    const z2 = zipFiles({ 'app.py': 'def handler(e, c):\n    return {"updated": True, "e": e}\n' });
    fs.writeFileSync(p2, z2);
    await aws(['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.handler', '--role', ROLE, '--zip-file', `fileb://${p1}`]);
    await aws(['lambda', 'wait', 'function-active-v2', '--function-name', name]);
    const upd = json(await aws(['lambda', 'update-function-code', '--function-name', name, '--zip-file', `fileb://${p2}`]));
    assert.equal(upd.CodeSha256, sha256Base64(z2));
    await aws(['lambda', 'wait', 'function-updated-v2', '--function-name', name]);
    const outFile = path.join(tmp, 'upd-out.json');
    await aws(['lambda', 'invoke', '--function-name', name, ...payloadArgs('{"n":1}'), outFile]);
    assert.deepEqual(JSON.parse(fs.readFileSync(outFile, 'utf8')), { updated: true, e: { n: 1 } });
    await aws(['lambda', 'delete-function', '--function-name', name]);
    const gone = await aws(['lambda', 'get-function', '--function-name', name], { expectOk: false });
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /An error occurred \(ResourceNotFoundException\) when calling the GetFunction operation(?: \(reached max retries: \d+\))?: Function not found: arn:aws:lambda:us-east-1:000000000000:function:/);
  }));

  it('s3api and s3 commands work against the object store (create-bucket, cp, ls, get), and a service Nimbus does not serve (kinesis) says so plainly', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const bucket = `cli-bucket-${Date.now()}`;
    await aws(['s3api', 'create-bucket', '--bucket', bucket]);
    const listed = JSON.parse((await aws(['s3api', 'list-buckets'])).stdout);
    assert.ok(listed.Buckets.some((b) => b.Name === bucket), JSON.stringify(listed));
    const src = path.join(tmp, 'cli-object.txt');
    fs.writeFileSync(src, 'hello from the aws cli\n');
    await aws(['s3', 'cp', src, `s3://${bucket}/dir/hello.txt`]);
    const ls = await aws(['s3', 'ls', `s3://${bucket}/dir/`]);
    assert.match(ls.stdout, /\s23 hello\.txt/);
    const back = path.join(tmp, 'cli-object-back.txt');
    await aws(['s3', 'cp', `s3://${bucket}/dir/hello.txt`, back]);
    assert.equal(fs.readFileSync(back, 'utf8'), 'hello from the aws cli\n');
    // A file above the CLI's 8 MiB threshold goes up as a multipart upload.
    const big = path.join(tmp, 'cli-big.bin');
    fs.writeFileSync(big, Buffer.alloc(20 * 1024 * 1024, 7));
    await aws(['s3', 'cp', big, `s3://${bucket}/big.bin`]);
    const head = JSON.parse((await aws(['s3api', 'head-object', '--bucket', bucket, '--key', 'big.bin'])).stdout);
    assert.equal(head.ContentLength, 20 * 1024 * 1024);
    assert.match(head.ETag, /-\d+"$/, 'a multipart ETag');
    const missing = await aws(['s3api', 'get-object', '--bucket', bucket, '--key', 'nope', path.join(tmp, 'nope')], { expectOk: false });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /\(NoSuchKey\) when calling the GetObject operation/);
    const kinesis = await aws(['kinesis', 'list-streams'], { expectOk: false });
    assert.notEqual(kinesis.code, 0);
    assert.match(kinesis.stderr, /\(UnknownServiceException\) when calling the ListStreams operation(?: \(reached max retries: \d+\))?: This Nimbus server does not serve the kinesis API/);
  }));

  it('dynamodb and dynamodbstreams commands work against the table service (create-table, wait, put-item, update-item, query, scan, list-streams, get-records, delete-table)', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const table = `cli-table-${Date.now()}`;
    const created = json(await aws(['dynamodb', 'create-table', '--table-name', table,
      '--attribute-definitions', 'AttributeName=Artist,AttributeType=S', 'AttributeName=Song,AttributeType=S',
      '--key-schema', 'AttributeName=Artist,KeyType=HASH', 'AttributeName=Song,KeyType=RANGE',
      '--billing-mode', 'PAY_PER_REQUEST', '--stream-specification', 'StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES']));
    assert.equal(created.TableDescription.TableName, table);
    await aws(['dynamodb', 'wait', 'table-exists', '--table-name', table]);
    await aws(['dynamodb', 'put-item', '--table-name', table, '--item', '{"Artist":{"S":"No One"},"Song":{"S":"Call Me"},"Year":{"N":"2015"}}']);
    await aws(['dynamodb', 'put-item', '--table-name', table, '--item', '{"Artist":{"S":"No One"},"Song":{"S":"Hold On"},"Year":{"N":"2016"}}']);
    const updated = json(await aws(['dynamodb', 'update-item', '--table-name', table, '--key', '{"Artist":{"S":"No One"},"Song":{"S":"Call Me"}}',
      '--update-expression', 'ADD Plays :one', '--expression-attribute-values', '{":one":{"N":"1"}}', '--return-values', 'UPDATED_NEW']));
    assert.deepEqual(updated.Attributes, { Plays: { N: '1' } });
    const query = json(await aws(['dynamodb', 'query', '--table-name', table, '--key-condition-expression', 'Artist = :a AND begins_with(Song, :s)',
      '--expression-attribute-values', '{":a":{"S":"No One"},":s":{"S":"Ca"}}']));
    assert.equal(query.Count, 1);
    assert.equal(query.Items[0].Plays.N, '1');
    // The CLI pages a scan itself (--page-size): every item once.
    const scan = json(await aws(['dynamodb', 'scan', '--table-name', table, '--page-size', '1']));
    assert.equal(scan.Count, 2);
    const failed = await aws(['dynamodb', 'put-item', '--table-name', table, '--item', '{"Artist":{"S":"No One"},"Song":{"S":"Call Me"}}',
      '--condition-expression', 'attribute_not_exists(Artist)'], { expectOk: false });
    assert.match(failed.stderr, /\(ConditionalCheckFailedException\) when calling the PutItem operation.*: The conditional request failed/);
    const streams = json(await aws(['dynamodbstreams', 'list-streams', '--table-name', table]));
    assert.equal(streams.Streams.length, 1);
    const arn = streams.Streams[0].StreamArn;
    const shard = json(await aws(['dynamodbstreams', 'describe-stream', '--stream-arn', arn])).StreamDescription.Shards[0].ShardId;
    const iterator = json(await aws(['dynamodbstreams', 'get-shard-iterator', '--stream-arn', arn, '--shard-id', shard, '--shard-iterator-type', 'TRIM_HORIZON'])).ShardIterator;
    const records = json(await aws(['dynamodbstreams', 'get-records', '--shard-iterator', iterator])).Records;
    assert.deepEqual(records.map((r) => r.eventName), ['INSERT', 'INSERT', 'MODIFY']);
    await aws(['dynamodb', 'delete-table', '--table-name', table]);
    const gone = await aws(['dynamodb', 'describe-table', '--table-name', table], { expectOk: false });
    assert.match(gone.stderr, /\(ResourceNotFoundException\) when calling the DescribeTable operation/);
  }));

  it('errors name the exception: duplicate create (ResourceConflictException), MemorySize 10241 (InvalidParameterValueException)', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const name = uniqueName('cli-aws-dup');
    const zipPath = path.join(tmp, 'dup.zip');
    fs.writeFileSync(zipPath, zipFixture('functions', 'python', 'echo'));
    const args = ['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.handler', '--role', ROLE, '--zip-file', `fileb://${zipPath}`];
    await aws(args);
    const dup = await aws(args, { expectOk: false });
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /\(ResourceConflictException\) when calling the CreateFunction operation(?: \(reached max retries: \d+\))?: Function already exist: /);
    const mem = await aws(['lambda', 'create-function', '--function-name', uniqueName('cli-aws-mem'), '--runtime', 'python3.11', '--handler', 'app.handler', '--role', ROLE, '--zip-file', `fileb://${zipPath}`, '--memory-size', '10241'], { expectOk: false });
    assert.notEqual(mem.code, 0);
    assert.match(mem.stderr, /\(InvalidParameterValueException\) when calling the CreateFunction operation/);
    const inv = await aws(['lambda', 'invoke', '--function-name', uniqueName('cli-aws-ghost'), path.join(tmp, 'ghost.json')], { expectOk: false });
    assert.match(inv.stderr, /\(ResourceNotFoundException\) when calling the Invoke operation/);
  }));

  it('publish-version, create-alias, invoke the alias, put-function-concurrency 0 throttles', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const name = uniqueName('cli-aws-ver');
    const zipPath = path.join(tmp, 'versioned.zip');
    fs.writeFileSync(zipPath, zipFixture('functions', 'python', 'versioned'));
    await aws(['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.handler',
      '--role', ROLE, '--zip-file', `fileb://${zipPath}`]);
    await aws(['lambda', 'wait', 'function-active-v2', '--function-name', name]);
    const v1 = json(await aws(['lambda', 'publish-version', '--function-name', name, '--description', 'first']));
    assert.equal(v1.Version, '1');
    assert.match(v1.FunctionArn, new RegExp(`:function:${name}:1$`));
    const versions = json(await aws(['lambda', 'list-versions-by-function', '--function-name', name]));
    assert.deepEqual(versions.Versions.map((v) => v.Version), ['$LATEST', '1']);
    const alias = json(await aws(['lambda', 'create-alias', '--function-name', name, '--name', 'live', '--function-version', '1']));
    assert.match(alias.AliasArn, new RegExp(`:function:${name}:live$`));
    const out = path.join(tmp, 'alias.json');
    const inv = json(await aws(['lambda', 'invoke', '--function-name', name, '--qualifier', 'live', ...payloadArgs('{}'), out]));
    assert.equal(inv.StatusCode, 200);
    assert.equal(inv.ExecutedVersion, '1');
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).functionVersion, '1');

    await aws(['lambda', 'put-function-concurrency', '--function-name', name, '--reserved-concurrent-executions', '0']);
    const throttled = await aws(['lambda', 'invoke', '--function-name', name, ...payloadArgs('{}'), path.join(tmp, 't.json')], { expectOk: false });
    assert.notEqual(throttled.code, 0);
    assert.match(throttled.stderr, /\(TooManyRequestsException\) when calling the Invoke operation/);
    await aws(['lambda', 'delete-function-concurrency', '--function-name', name]);
    const again = json(await aws(['lambda', 'invoke', '--function-name', name, ...payloadArgs('{}'), path.join(tmp, 'a.json')]));
    assert.equal(again.StatusCode, 200);
  }));

  it('invoke --invocation-type Event returns 202 and the event runs; put-function-event-invoke-config round trips', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const name = uniqueName('cli-aws-async');
    const zipPath = path.join(tmp, 'echo-async.zip');
    fs.writeFileSync(zipPath, zipFixture('functions', 'python', 'echo'));
    await aws(['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.handler',
      '--role', ROLE, '--zip-file', `fileb://${zipPath}`]);
    await aws(['lambda', 'wait', 'function-active-v2', '--function-name', name]);
    const cfg = json(await aws(['lambda', 'put-function-event-invoke-config', '--function-name', name,
      '--maximum-retry-attempts', '1', '--maximum-event-age-in-seconds', '120']));
    assert.equal(cfg.MaximumRetryAttempts, 1);
    assert.equal(cfg.MaximumEventAgeInSeconds, 120);
    assert.match(cfg.FunctionArn, new RegExp(`:function:${name}:\\$LATEST$`));
    const got = json(await aws(['lambda', 'get-function-event-invoke-config', '--function-name', name]));
    assert.equal(got.MaximumRetryAttempts, 1);
    const marker = `awscli-event-${Date.now()}`;
    const inv = json(await aws(['lambda', 'invoke', '--function-name', name, '--invocation-type', 'Event',
      ...payloadArgs(JSON.stringify({ marker })), path.join(tmp, 'event.json')]));
    assert.equal(inv.StatusCode, 202);
    // The echo handler prints the event: wait for it in the function's log.
    let seen = false;
    for (let i = 0; i < 100 && !seen; i++) {
      const logs = await aws(['logs', 'filter-log-events', '--log-group-name', `/aws/lambda/${name}`], { expectOk: false });
      seen = logs.code === 0 && logs.stdout.includes(marker);
      if (!seen) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(seen, `the Event invocation's payload ${marker} never showed up in the function's log`);
    await aws(['lambda', 'delete-function-event-invoke-config', '--function-name', name]);
  }));

  it('publish-layer-version and a function that imports a module from the layer', t(async (tc) => {
    if (!VERSION) return tc.skip('aws CLI not found (aws --version failed)');
    const layerZip = path.join(tmp, 'layer.zip');
    fs.writeFileSync(layerZip, zipFixture('layers', 'python-lib'));
    const layerName = uniqueName('cli-aws-layer');
    const layer = json(await aws(['lambda', 'publish-layer-version', '--layer-name', layerName, '--zip-file', `fileb://${layerZip}`,
      '--compatible-runtimes', 'python3.11']));
    assert.equal(layer.Version, 1);
    assert.match(layer.LayerVersionArn, new RegExp(`:layer:${layerName}:1$`));
    const name = uniqueName('cli-aws-uses-layer');
    const fnZip = path.join(tmp, 'layer-fn.zip');
    fs.writeFileSync(fnZip, zipFixture('layers', 'python-fn'));
    const created = json(await aws(['lambda', 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler', 'app.handler',
      '--role', ROLE, '--zip-file', `fileb://${fnZip}`, '--layers', layer.LayerVersionArn]));
    assert.equal(created.Layers[0].Arn, layer.LayerVersionArn);
    await aws(['lambda', 'wait', 'function-active-v2', '--function-name', name]);
    const out = path.join(tmp, 'layer-out.json');
    const inv = json(await aws(['lambda', 'invoke', '--function-name', name, ...payloadArgs('{"name":"cli"}'), out]));
    assert.equal(inv.FunctionError, undefined, fs.readFileSync(out, 'utf8'));
    const result = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.match(result.file, /^\/opt\/python\//);
  }));
});
