// Access keys (issue #8) end to end: `nimbus keys create --invoke-only` makes a
// key that may invoke functions and nothing else (the Lambda SDK gets
// AccessDeniedException for everything but Invoke, and `nimbus keys` is denied
// to it); `nimbus keys list` shows every key without a secret; a deleted key is
// refused from its next request on (UnrecognizedClientException); the last admin
// key cannot be deleted; and without AWS_* variables the CLI signs with the
// admin key of NIMBUS_DATA_DIR's credentials.json, or says where keys come from.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetFunctionCommand, ListFunctionsCommand, CreateFunctionCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, CREDENTIALS, ROLE } from '../lib/nimbus.mjs';
import { createFunction, invoke, expectServiceError, rawRequest, assertRawError } from '../lib/lambda.mjs';
import { zipFixture } from '../lib/zip.mjs';

function ok(r, what) {
  assert.equal(r.code, 0, `${what} exited ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

describe('access keys', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  // The invoke-only key the first test creates, used by the later ones.
  let invokeKey;
  let fn;

  it('`nimbus keys create --invoke-only` makes a key that invokes functions and is denied everything else', t(async () => {
    const n = box.nimbus;
    fn = uniqueName('keys');
    await createFunction(n.lambda(), { name: fn, zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.handler' });

    const created = await n.cli(['keys', 'create', '--invoke-only']);
    ok(created, 'nimbus keys create --invoke-only');
    const id = /^AccessKeyId:\s+(AKIA[A-Z2-7]{16})$/m.exec(created.stdout)?.[1];
    const secret = /^SecretAccessKey:\s+(\S{40})$/m.exec(created.stdout)?.[1];
    assert.ok(id && secret, `no id and secret in:\n${created.stdout}`);
    assert.match(created.stdout, /^Policy:\s+invoke-only$/m);
    assert.ok(created.stdout.includes(`\nexport AWS_ACCESS_KEY_ID=${id} AWS_SECRET_ACCESS_KEY=${secret}\n`), created.stdout);
    assert.match(created.stderr, new RegExp(`created invoke-only access key ${id}; its secret is shown only this once`));
    invokeKey = { accessKeyId: id, secretAccessKey: secret };

    const asInvoker = n.lambda({ credentials: invokeKey });
    const r = await invoke(asInvoker, fn, { hello: 'keys' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.functionError, undefined, r.text);

    for (const [what, call] of [
      ['GetFunction', () => asInvoker.send(new GetFunctionCommand({ FunctionName: fn }))],
      ['ListFunctions', () => asInvoker.send(new ListFunctionsCommand({}))],
      ['CreateFunction', () => asInvoker.send(new CreateFunctionCommand({ FunctionName: uniqueName('denied'), Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: zipFixture('functions', 'node', 'cjs-async') } }))],
    ]) {
      const e = await expectServiceError(call, { name: 'AccessDeniedException', status: 403 });
      assert.match(e.message, new RegExp(`user/${id} is not authorized .*invoke-only`), what);
    }

    // The keys API is for admins only: through the CLI and signed by hand.
    const listed = await n.cli(['keys', 'list'], { env: { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret } });
    assert.equal(listed.code, 1, listed.stdout);
    assert.match(listed.stderr, /^nimbus: AccessDeniedException: User: .* is not authorized to perform GET \/nimbus\/keys/);
    assert.doesNotMatch(listed.stderr, /hint:/);
    const made = await n.cli(['keys', 'create'], { env: { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret } });
    assert.equal(made.code, 1, made.stdout);
    assert.match(made.stderr, /AccessDeniedException/);
    const raw = await rawRequest(n.endpoint, 'DELETE', `/nimbus/keys/${CREDENTIALS.accessKeyId}`, { credentials: invokeKey });
    assertRawError(raw, 'AccessDeniedException', 403);
  }));

  it('`nimbus keys list` shows every key with its policy and never a secret', t(async () => {
    const n = box.nimbus;
    assert.ok(invokeKey, 'the first test made no key');
    const table = await n.cli(['keys', 'list']);
    ok(table, 'nimbus keys list');
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0], /^ACCESS KEY ID\s+POLICY\s+CREATED$/);
    assert.ok(lines.some((l) => new RegExp(`^${CREDENTIALS.accessKeyId}\\s+admin\\s+\\d{4}-\\d\\d-\\d\\dT`).test(l)), table.stdout);
    assert.ok(lines.some((l) => new RegExp(`^${invokeKey.accessKeyId}\\s+invoke-only\\s+\\d{4}-\\d\\d-\\d\\dT`).test(l)), table.stdout);
    assert.equal(lines.length, 3, table.stdout);

    const json = await n.cli(['keys', 'list', '--json']);
    ok(json, 'nimbus keys list --json');
    const keys = JSON.parse(json.stdout).AccessKeys;
    assert.deepEqual(keys.map((k) => [k.AccessKeyId, k.Policy]).sort(), [[CREDENTIALS.accessKeyId, 'admin'], [invokeKey.accessKeyId, 'invoke']].sort());
    for (const k of keys) {
      assert.deepEqual(Object.keys(k).sort(), ['AccessKeyId', 'Created', 'Policy']);
      assert.ok(Number.isInteger(k.Created) && k.Created > 1.7e12, JSON.stringify(k));
    }
    for (const out of [table.stdout, json.stdout]) {
      assert.ok(!out.includes(CREDENTIALS.secretAccessKey) && !out.includes(invokeKey.secretAccessKey), 'a secret was listed');
    }
  }));

  it('a deleted key is refused from its next request on', t(async () => {
    const n = box.nimbus;
    assert.ok(invokeKey, 'the first test made no key');
    const asInvoker = n.lambda({ credentials: invokeKey });
    assert.equal((await invoke(asInvoker, fn, {})).status, 200);
    const deleted = await n.cli(['keys', 'delete', invokeKey.accessKeyId]);
    ok(deleted, 'nimbus keys delete');
    assert.match(deleted.stderr, new RegExp(`deleted access key ${invokeKey.accessKeyId}`));
    await expectServiceError(() => invoke(asInvoker, fn, {}), { name: 'UnrecognizedClientException', status: 403 });

    const again = await n.cli(['keys', 'delete', invokeKey.accessKeyId]);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `nimbus: ResourceNotFoundException: The access key ${invokeKey.accessKeyId} does not exist\n`);
    const list = await n.cli(['keys', 'list', '--json']);
    ok(list, 'nimbus keys list');
    assert.deepEqual(JSON.parse(list.stdout).AccessKeys.map((k) => k.AccessKeyId), [CREDENTIALS.accessKeyId]);
  }));

  it('the last admin key cannot be deleted', t(async () => {
    const n = box.nimbus;
    const r = await n.cli(['keys', 'delete', CREDENTIALS.accessKeyId]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stderr, `nimbus: ResourceConflictException: ${CREDENTIALS.accessKeyId} is the last admin key; create another before deleting it\n`);
    ok(await n.cli(['keys', 'list']), 'nimbus keys list with the admin key still there');
  }));

  it('without AWS_* variables the CLI signs with the admin key of the data directory, or says where keys come from', t(async () => {
    const n = box.nimbus;
    const noAwsEnv = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    const fromFile = await n.cli(['keys', 'list'], { env: { ...noAwsEnv, NIMBUS_DATA_DIR: n.dataDir } });
    ok(fromFile, 'nimbus keys list with NIMBUS_DATA_DIR');
    assert.match(fromFile.stdout, new RegExp(`^${CREDENTIALS.accessKeyId}\\s+admin`, 'm'));
    // `nimbus keys env` hands that key to the AWS CLI and SDKs (read locally, no request).
    const env = await n.cli(['keys', 'env'], { env: { ...noAwsEnv, NIMBUS_DATA_DIR: n.dataDir } });
    ok(env, 'nimbus keys env');
    assert.equal(env.stdout, `export AWS_ACCESS_KEY_ID=${CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${CREDENTIALS.secretAccessKey}\n`);

    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-nokeys-'));
    try {
      const r = await n.cli(['list'], { env: { ...noAwsEnv, NIMBUS_DATA_DIR: empty } });
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /^nimbus: UnrecognizedClientException: The security token included in the request is invalid\.\nhint: no credentials found/);
      assert.ok(r.stderr.includes(path.join(empty, 'credentials.json')), r.stderr);
      assert.match(r.stderr, /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
      const env = await n.cli(['keys', 'env'], { env: { ...noAwsEnv, NIMBUS_DATA_DIR: empty } });
      assert.equal(env.code, 1, env.stdout);
      assert.match(env.stderr, /no access key found: AWS_ACCESS_KEY_ID is not set and .*credentials\.json cannot be read/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  }));
});
