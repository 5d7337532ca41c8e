// Control plane with @aws-sdk/client-lambda: create Python, Node and provided
// functions from zips, the SDK waiters, GetFunction fields exactly as AWS
// returns them, ListFunctions pagination, code/configuration updates,
// RevisionId preconditions, name forms (ARNs, percent-encoding), delete.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  DeleteFunctionCommand,
  GetAccountSettingsCommand,
  paginateListFunctions,
} from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, ROLE, REGION, ACCOUNT } from '../lib/nimbus.mjs';
import { zipFixture, zipFiles, sha256Base64 } from '../lib/zip.mjs';
import {
  createFunction,
  waitActive,
  waitUpdated,
  invoke,
  expectServiceError,
  functionArn,
  UUID_RE,
} from '../lib/lambda.mjs';

const LAST_MODIFIED_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/;

describe('control plane (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('creates a python3.11 function from a zip; CreateFunction answers 201 with the configuration', t(async () => {
    const lambda = box.nimbus.lambda();
    const zip = zipFixture('functions', 'python', 'echo');
    const name = uniqueName('py');
    const created = await createFunction(lambda, { name, zip, runtime: 'python3.11', handler: 'app.handler', wait: false, Description: 'echo fn' });
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.FunctionName, name);
    assert.equal(created.FunctionArn, functionArn(name));
    assert.equal(created.Runtime, 'python3.11');
    assert.equal(created.Handler, 'app.handler');
    assert.equal(created.Role, ROLE);
    assert.equal(created.Description, 'echo fn');
    assert.equal(created.CodeSha256, sha256Base64(zip));
    assert.equal(created.CodeSize, zip.length);
    assert.equal(created.Timeout, 3);
    assert.equal(created.MemorySize, 128);
    assert.equal(created.Version, '$LATEST');
    assert.equal(created.PackageType, 'Zip');
    assert.deepEqual(created.Architectures, ['x86_64']);
    assert.deepEqual(created.EphemeralStorage, { Size: 512 });
    assert.match(created.LastModified, LAST_MODIFIED_RE);
    assert.match(created.RevisionId, UUID_RE);
    assert.ok(['Pending', 'Active'].includes(created.State), `State ${created.State}`);
    await waitActive(lambda, name);
    const r = await invoke(lambda, name, { marker: 'created' });
    assert.equal(r.status, 200);
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.json.event.marker, 'created');
  }));

  it('creates nodejs20.x and provided.al2023 / provided.al2 functions and waits with FunctionActiveV2', t(async () => {
    const lambda = box.nimbus.lambda();
    const cases = [
      { base: 'node', zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.handler', field: 'runtime', want: 'node' },
      { base: 'bash', zip: zipFixture('functions', 'provided', 'bash'), runtime: 'provided.al2023', handler: 'echo', field: 'runtime', want: 'provided-bash' },
      { base: 'prov-py', zip: zipFixture('functions', 'provided', 'python'), runtime: 'provided.al2', handler: 'handle', field: 'runtime', want: 'provided-python' },
    ];
    for (const c of cases) {
      const name = uniqueName(c.base);
      await createFunction(lambda, { name, zip: c.zip, runtime: c.runtime, handler: c.handler });
      const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
      assert.equal(got.Configuration.State, 'Active');
      assert.equal(got.Configuration.Runtime, c.runtime);
      const r = await invoke(lambda, name, { marker: c.base });
      assert.equal(r.functionError, undefined, `${c.runtime}: ${r.text}\n${r.tail}`);
      assert.equal(r.json[c.field], c.want, r.text);
      assert.equal(r.json.event.marker, c.base);
    }
  }));

  it('GetFunction returns AWS fields: CodeSha256, CodeSize, LastModified, State, LastUpdateStatus, RevisionId, Code.Location', t(async () => {
    const lambda = box.nimbus.lambda();
    const zip = zipFixture('functions', 'python', 'echo');
    const name = uniqueName('get');
    await createFunction(lambda, { name, zip, runtime: 'python3.11', handler: 'app.handler', MemorySize: 256, Timeout: 7, Environment: { Variables: { E2E_A: '1' } } });
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    assert.equal(got.$metadata.httpStatusCode, 200);
    const c = got.Configuration;
    assert.equal(c.FunctionName, name);
    assert.equal(c.FunctionArn, `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`);
    assert.equal(c.CodeSha256, sha256Base64(zip));
    assert.equal(c.CodeSha256.length, 44);
    assert.equal(c.CodeSize, zip.length);
    assert.match(c.LastModified, LAST_MODIFIED_RE);
    assert.equal(c.State, 'Active');
    assert.equal(c.LastUpdateStatus, 'Successful');
    assert.match(c.RevisionId, UUID_RE);
    assert.equal(c.MemorySize, 256);
    assert.equal(c.Timeout, 7);
    assert.deepEqual(c.Environment?.Variables, { E2E_A: '1' });
    assert.equal(c.Version, '$LATEST');
    assert.deepEqual(c.TracingConfig, { Mode: 'PassThrough' });
    assert.equal(c.LoggingConfig?.LogGroup, `/aws/lambda/${name}`);
    assert.equal(got.Code.RepositoryType, 'S3');
    assert.ok(got.Code.Location, 'Code.Location missing');
    const res = await fetch(got.Code.Location);
    assert.equal(res.status, 200, `GET Code.Location ${got.Code.Location}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, zip.length);
    assert.ok(body.equals(zip), 'Code.Location does not serve the uploaded zip');

    const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(cfg.CodeSha256, c.CodeSha256);
    assert.equal(cfg.RevisionId, c.RevisionId);
    assert.equal(cfg.LastModified, c.LastModified);
  }));

  it('accepts the function name as full ARN, partial ARN and with $LATEST qualifier (percent-encoded by the SDK)', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('arn');
    await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler' });
    for (const fn of [functionArn(name), `${ACCOUNT}:function:${name}`, `${name}:$LATEST`, `${functionArn(name)}:$LATEST`]) {
      const got = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
      assert.equal(got.FunctionName, name, fn);
      const r = await invoke(lambda, fn, { marker: 'arn' });
      assert.equal(r.functionError, undefined, `${fn}: ${r.text}`);
      assert.equal(r.executedVersion, '$LATEST');
    }
    const q = await lambda.send(new GetFunctionCommand({ FunctionName: name, Qualifier: '$LATEST' }));
    assert.equal(q.Configuration.FunctionName, name);
  }));

  it('ListFunctions paginates with MaxItems/Marker over more than 3 functions', t(async () => {
    const lambda = box.nimbus.lambda();
    const zip = zipFixture('functions', 'python', 'echo');
    const mine = [];
    for (let i = 0; i < 5; i++) {
      const name = uniqueName(`page${i}`);
      mine.push(name);
      await createFunction(lambda, { name, zip, runtime: 'python3.11', handler: 'app.handler', wait: false });
    }
    const all = [];
    let marker;
    let pages = 0;
    do {
      const page = await lambda.send(new ListFunctionsCommand({ MaxItems: 2, Marker: marker }));
      assert.equal(page.$metadata.httpStatusCode, 200);
      assert.ok(page.Functions.length <= 2, `page of ${page.Functions.length} > MaxItems 2`);
      if (page.NextMarker) assert.equal(page.Functions.length, 2, 'non-final page must be full');
      all.push(...page.Functions.map((f) => f.FunctionName));
      marker = page.NextMarker;
      pages += 1;
      assert.ok(pages < 1000, 'pagination does not terminate');
    } while (marker);
    assert.ok(pages >= 3, `expected >= 3 pages of 2, got ${pages}`);
    assert.equal(new Set(all).size, all.length, `duplicates across pages: ${all}`);
    for (const n of mine) assert.ok(all.includes(n), `${n} missing from paginated listing`);
    // The SDK paginator walks the same pages.
    const viaPaginator = [];
    for await (const page of paginateListFunctions({ client: lambda, pageSize: 3 }, {})) viaPaginator.push(...page.Functions.map((f) => f.FunctionName));
    assert.deepEqual([...viaPaginator].sort(), [...all].sort());
    // One unpaginated call (default page size 50) returns all of them, no NextMarker.
    const one = await lambda.send(new ListFunctionsCommand({}));
    assert.equal(one.NextMarker, undefined);
    assert.deepEqual(one.Functions.map((f) => f.FunctionName).sort(), [...all].sort());
    const f = one.Functions.find((x) => x.FunctionName === mine[0]);
    assert.equal(f.FunctionArn, functionArn(mine[0]));
    assert.equal(f.Runtime, 'python3.11');
    assert.equal(f.CodeSha256, sha256Base64(zip));
  }));

  it('UpdateFunctionCode: new CodeSha256 and RevisionId, FunctionUpdatedV2 waiter, next invoke runs the new code', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('upd');
    const v1 = zipFixture('functions', 'python', 'echo');
    const created = await createFunction(lambda, { name, zip: v1, runtime: 'python3.11', handler: 'app.handler' });
    const r1 = await invoke(lambda, name, {});
    assert.equal(r1.json.version, 'v1', r1.text);
    const v2 = zipFiles({ 'app.py': 'def handler(event, context):\n    return {"version": "v2", "event": event}\n' });
    const upd = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: v2 }));
    assert.equal(upd.$metadata.httpStatusCode, 200);
    assert.equal(upd.CodeSha256, sha256Base64(v2));
    assert.equal(upd.CodeSize, v2.length);
    assert.notEqual(upd.RevisionId, created.RevisionId);
    assert.match(upd.LastModified, LAST_MODIFIED_RE);
    await waitUpdated(lambda, name);
    const r2 = await invoke(lambda, name, { n: 2 });
    assert.equal(r2.functionError, undefined, r2.text);
    assert.deepEqual(r2.json, { version: 'v2', event: { n: 2 } });
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    assert.equal(got.Configuration.CodeSha256, sha256Base64(v2));
    assert.equal(got.Configuration.LastUpdateStatus, 'Successful');
  }));

  it('UpdateFunctionConfiguration: environment, memory, timeout and handler take effect on the next invoke', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('cfg');
    await createFunction(lambda, {
      name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler',
      Environment: { Variables: { E2E_COLOR: 'red', E2E_KEEP: 'x' } },
    });
    const r1 = await invoke(lambda, name, {});
    assert.deepEqual(r1.json.customEnv, { E2E_COLOR: 'red', E2E_KEEP: 'x' });
    assert.equal(r1.json.memoryLimitInMB, '128');
    const upd = await lambda.send(new UpdateFunctionConfigurationCommand({
      FunctionName: name, MemorySize: 256, Timeout: 9, Environment: { Variables: { E2E_COLOR: 'blue' } }, Description: 'changed',
    }));
    assert.equal(upd.MemorySize, 256);
    assert.equal(upd.Timeout, 9);
    assert.deepEqual(upd.Environment?.Variables, { E2E_COLOR: 'blue' });
    await waitUpdated(lambda, name);
    const r2 = await invoke(lambda, name, {});
    assert.equal(r2.functionError, undefined, r2.text);
    // Environment replaces the whole map (E2E_KEEP gone).
    assert.deepEqual(r2.json.customEnv, { E2E_COLOR: 'blue' });
    assert.equal(r2.json.memoryLimitInMB, '256');
    assert.equal(r2.json.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '256');
    assert.ok(r2.json.remainingMs > 3000 && r2.json.remainingMs <= 9000, `remaining ${r2.json.remainingMs} ms with Timeout 9`);
    assert.match(r2.tail, /Memory Size: 256 MB/);
    // Handler change.
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Handler: 'app.fail' }));
    await waitUpdated(lambda, name);
    const r3 = await invoke(lambda, name, { marker: 'h2' });
    assert.equal(r3.functionError, 'Unhandled');
    assert.equal(r3.json.errorType, 'ValueError');
    const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(cfg.Description, 'changed');
    assert.equal(cfg.Handler, 'app.fail');
  }));

  it('RevisionId preconditions: a stale RevisionId gives PreconditionFailedException 412, the current one succeeds', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('rev');
    const created = await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler' });
    const cur = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    const upd = await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Description: 'one', RevisionId: cur.RevisionId }));
    assert.notEqual(upd.RevisionId, cur.RevisionId);
    await waitUpdated(lambda, name);
    await expectServiceError(
      () => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Description: 'two', RevisionId: cur.RevisionId })),
      { name: 'PreconditionFailedException', status: 412 },
    );
    await expectServiceError(
      () => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zipFixture('functions', 'python', 'echo'), RevisionId: created.RevisionId })),
      { name: 'PreconditionFailedException', status: 412 },
    );
    const after = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.equal(after.Description, 'one', 'a failed precondition must not change anything');
    assert.equal(after.RevisionId, upd.RevisionId);
  }));

  it('DeleteFunction: then GetFunction and Invoke give ResourceNotFoundException 404, and the name is reusable', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('del');
    const zip = zipFixture('functions', 'python', 'echo');
    await createFunction(lambda, { name, zip, runtime: 'python3.11', handler: 'app.handler' });
    await invoke(lambda, name, {}); // leave a warm environment behind
    const del = await lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
    assert.ok([200, 204].includes(del.$metadata.httpStatusCode), `DeleteFunction status ${del.$metadata.httpStatusCode}`);
    const err = await expectServiceError(() => lambda.send(new GetFunctionCommand({ FunctionName: name })), { name: 'ResourceNotFoundException', status: 404 });
    assert.match(err.message, new RegExp(`Function not found: arn:aws:lambda:us-east-1:000000000000:function:${name}`));
    await expectServiceError(() => invoke(lambda, name, {}), { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => lambda.send(new DeleteFunctionCommand({ FunctionName: name })), { name: 'ResourceNotFoundException', status: 404 });
    const list = await lambda.send(new ListFunctionsCommand({}));
    assert.ok(!list.Functions.some((f) => f.FunctionName === name), 'deleted function still listed');
    // Same name again, different code.
    const v2 = zipFiles({ 'app.py': 'def handler(e, c):\n    return "reborn"\n' });
    await createFunction(lambda, { name, zip: v2, runtime: 'python3.11', handler: 'app.handler' });
    const r = await invoke(lambda, name, {});
    assert.equal(r.json, 'reborn', r.text);
  }));

  it('GetAccountSettings returns the AWS limits', t(async () => {
    const lambda = box.nimbus.lambda();
    const s = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(s.AccountLimit.CodeSizeZipped, 52428800);
    assert.equal(s.AccountLimit.CodeSizeUnzipped, 262144000);
    assert.equal(typeof s.AccountLimit.ConcurrentExecutions, 'number');
    assert.equal(typeof s.AccountUsage.FunctionCount, 'number');
    assert.ok(s.AccountUsage.FunctionCount >= 1);
  }));

  it('every response carries x-amzn-RequestId', t(async () => {
    const lambda = box.nimbus.lambda();
    const list = await lambda.send(new ListFunctionsCommand({ MaxItems: 1 }));
    assert.match(list.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
  }));
});

// Keep the import used for documentation of the create shape.
void CreateFunctionCommand;
