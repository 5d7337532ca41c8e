// Versions, aliases and concurrency with @aws-sdk/client-lambda: PublishVersion
// (snapshots, no-op republish, preconditions), ListVersionsByFunction,
// qualifiers everywhere, DeleteFunction of a version, aliases with weighted
// routing measured over 200 invokes, reserved concurrency throttling and
// provisioned concurrency on an alias.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  PublishVersionCommand,
  ListVersionsByFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  DeleteFunctionCommand,
  CreateAliasCommand,
  GetAliasCommand,
  UpdateAliasCommand,
  DeleteAliasCommand,
  ListAliasesCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  GetFunctionConcurrencyCommand,
  DeleteFunctionConcurrencyCommand,
  GetAccountSettingsCommand,
  PutProvisionedConcurrencyConfigCommand,
  GetProvisionedConcurrencyConfigCommand,
  ListProvisionedConcurrencyConfigsCommand,
  DeleteProvisionedConcurrencyConfigCommand,
} from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY } from '../lib/nimbus.mjs';
import { copyFixture, zipDir, sha256Base64 } from '../lib/zip.mjs';
import { createFunction, waitUpdated, invoke, expectServiceError, functionArn, UUID_RE } from '../lib/lambda.mjs';

// The `versioned` fixture with its VERSION constant set to `version`.
function versionedZip(version) {
  const dir = copyFixture('functions', 'python', 'versioned');
  try {
    const file = `${dir}/app.py`;
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('VERSION = "v1"', `VERSION = "${version}"`));
    return zipDir(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function createVersioned(lambda, name, extra = {}) {
  await createFunction(lambda, { name, zip: versionedZip('v1'), runtime: 'python3.11', handler: 'app.handler', ...extra });
}

async function updateCode(lambda, name, version) {
  await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: versionedZip(version) }));
  await waitUpdated(lambda, name);
}

describe('versions and aliases (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('publishes version 1 as a snapshot; republishing without changes returns 1; changes make 2', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('pub');
    await createVersioned(lambda, name);
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: name, Description: 'first' }));
    assert.equal(v1.$metadata.httpStatusCode, 201);
    assert.equal(v1.Version, '1');
    assert.equal(v1.FunctionArn, `${functionArn(name)}:1`);
    assert.equal(v1.Description, 'first');
    assert.equal(v1.State, 'Active');
    assert.match(v1.RevisionId, UUID_RE);
    const again = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    assert.equal(again.Version, '1');
    assert.equal(again.RevisionId, v1.RevisionId);

    await updateCode(lambda, name, 'v2');
    const v2 = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    assert.equal(v2.Version, '2');
    assert.notEqual(v2.CodeSha256, v1.CodeSha256);
    // A configuration change alone is a change too.
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: { FUNCTION_TAG: 'three' } } }));
    await waitUpdated(lambda, name);
    const v3 = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    assert.equal(v3.Version, '3');

    // The snapshots keep their code and configuration.
    const r1 = await invoke(lambda, name, {}, { Qualifier: '1' });
    assert.equal(r1.executedVersion, '1');
    assert.equal(r1.json.version, 'v1');
    assert.equal(r1.json.tag, '');
    assert.equal(r1.json.functionVersion, '1');
    assert.equal(r1.json.envVersion, '1');
    assert.equal(r1.json.invokedArn, `${functionArn(name)}:1`);
    const r3 = await invoke(lambda, `${name}:3`, {});
    assert.equal(r3.executedVersion, '3');
    assert.equal(r3.json.version, 'v2');
    assert.equal(r3.json.tag, 'three');
    const latest = await invoke(lambda, name, {});
    assert.equal(latest.executedVersion, '$LATEST');
    assert.equal(latest.json.version, 'v2');
  }));

  it('Publish=true on CreateFunction and UpdateFunctionCode publishes and returns the version', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('pubflag');
    const created = await createFunction(lambda, { name, zip: versionedZip('v1'), runtime: 'python3.11', handler: 'app.handler', Publish: true });
    assert.equal(created.Version, '1');
    assert.equal(created.FunctionArn, `${functionArn(name)}:1`);
    const updated = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: versionedZip('v2'), Publish: true }));
    assert.equal(updated.Version, '2');
    await waitUpdated(lambda, name);
    const r = await invoke(lambda, name, {}, { Qualifier: '2' });
    assert.equal(r.json.version, 'v2');
  }));

  it('PublishVersion preconditions: CodeSha256 mismatch → 400, RevisionId mismatch → 412', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('precond');
    await createVersioned(lambda, name);
    const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    await expectServiceError(() => lambda.send(new PublishVersionCommand({ FunctionName: name, CodeSha256: sha256Base64(Buffer.from('other')) })), {
      name: 'InvalidParameterValueException',
      status: 400,
      messageMatch: /CodeSHA256 .* is different from current CodeSHA256 in \$LATEST/,
    });
    await expectServiceError(() => lambda.send(new PublishVersionCommand({ FunctionName: name, RevisionId: '00000000-0000-0000-0000-000000000000' })), {
      name: 'PreconditionFailedException',
      status: 412,
    });
    const ok = await lambda.send(new PublishVersionCommand({ FunctionName: name, CodeSha256: cfg.CodeSha256, RevisionId: cfg.RevisionId }));
    assert.equal(ok.Version, '1');
  }));

  it('ListVersionsByFunction lists $LATEST first then 1..N, with Marker/MaxItems', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('list');
    await createVersioned(lambda, name);
    for (const v of ['a', 'b', 'c']) {
      await updateCode(lambda, name, v);
      await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    }
    const all = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: name }));
    assert.deepEqual(all.Versions.map((v) => v.Version), ['$LATEST', '1', '2', '3']);
    assert.equal(all.Versions[0].FunctionArn, `${functionArn(name)}:$LATEST`);
    assert.equal(all.Versions[2].FunctionArn, `${functionArn(name)}:2`);
    assert.equal(all.NextMarker, undefined);
    const p1 = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: name, MaxItems: 2 }));
    assert.deepEqual(p1.Versions.map((v) => v.Version), ['$LATEST', '1']);
    assert.ok(p1.NextMarker);
    const p2 = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: name, MaxItems: 2, Marker: p1.NextMarker }));
    assert.deepEqual(p2.Versions.map((v) => v.Version), ['2', '3']);
    assert.equal(p2.NextMarker, undefined);
  }));

  it('qualifiers everywhere: name:N, ?Qualifier=, full and partial ARNs; conflicts → 400; unknown → 404', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('qual');
    await createVersioned(lambda, name, { Publish: true });
    for (const [fn, q] of [[`${name}:1`, undefined], [name, '1'], [`${functionArn(name)}:1`, undefined], [`000000000000:function:${name}:1`, undefined], [functionArn(name), '1']]) {
      const got = await lambda.send(new GetFunctionCommand({ FunctionName: fn, Qualifier: q }));
      assert.equal(got.Configuration.Version, '1', fn);
      assert.equal(got.Configuration.FunctionArn, `${functionArn(name)}:1`, fn);
      const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn, Qualifier: q }));
      assert.equal(cfg.Version, '1', fn);
      const r = await invoke(lambda, fn, {}, q ? { Qualifier: q } : {});
      assert.equal(r.executedVersion, '1', fn);
    }
    await expectServiceError(() => lambda.send(new GetFunctionCommand({ FunctionName: `${name}:1`, Qualifier: '2' })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new InvokeCommand({ FunctionName: `${name}:1`, Qualifier: '$LATEST' })), { name: 'InvalidParameterValueException', status: 400 });
    const err = await expectServiceError(() => lambda.send(new GetFunctionCommand({ FunctionName: name, Qualifier: '9' })), { name: 'ResourceNotFoundException', status: 404 });
    assert.match(err.message, new RegExp(`function:${name}:9`));
    await expectServiceError(() => lambda.send(new InvokeCommand({ FunctionName: name, Qualifier: 'nosuchalias' })), { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('DeleteFunction of a version: 409 while an alias points to it, 400 for $LATEST, numbers never reused', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('delv');
    await createVersioned(lambda, name, { Publish: true });
    await updateCode(lambda, name, 'v2');
    await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '1' }));
    const err = await expectServiceError(() => lambda.send(new DeleteFunctionCommand({ FunctionName: name, Qualifier: '1' })), { name: 'ResourceConflictException', status: 409 });
    assert.match(err.message, /live/);
    await expectServiceError(() => lambda.send(new DeleteFunctionCommand({ FunctionName: name, Qualifier: '$LATEST' })), { name: 'InvalidParameterValueException', status: 400 });
    // Version 2 has no alias: it goes, and stays gone.
    await lambda.send(new DeleteFunctionCommand({ FunctionName: `${name}:2` }));
    await expectServiceError(() => lambda.send(new GetFunctionCommand({ FunctionName: name, Qualifier: '2' })), { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => invoke(lambda, name, {}, { Qualifier: '2' }), { name: 'ResourceNotFoundException', status: 404 });
    await updateCode(lambda, name, 'v3');
    const v = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    assert.equal(v.Version, '3', 'version numbers are never reused');
    // $LATEST and version 1 still work.
    assert.equal((await invoke(lambda, name, {}, { Qualifier: '1' })).json.version, 'v1');
    assert.equal((await invoke(lambda, name, {})).json.version, 'v3');
    await lambda.send(new DeleteAliasCommand({ FunctionName: name, Name: 'live' }));
    await lambda.send(new DeleteFunctionCommand({ FunctionName: name, Qualifier: '1' }));
    const left = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: name }));
    assert.deepEqual(left.Versions.map((x) => x.Version), ['$LATEST', '3']);
  }));

  it('aliases: create, get, update, list, delete; errors with AWS types', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('alias');
    await createVersioned(lambda, name, { Publish: true });
    await updateCode(lambda, name, 'v2');
    await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    const created = await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '1', Description: 'prod' }));
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.AliasArn, `${functionArn(name)}:live`);
    assert.equal(created.Name, 'live');
    assert.equal(created.FunctionVersion, '1');
    assert.equal(created.Description, 'prod');
    assert.match(created.RevisionId, UUID_RE);
    const got = await lambda.send(new GetAliasCommand({ FunctionName: name, Name: 'live' }));
    assert.equal(got.RevisionId, created.RevisionId);

    const r = await invoke(lambda, name, {}, { Qualifier: 'live' });
    assert.equal(r.executedVersion, '1');
    assert.equal(r.json.version, 'v1');
    assert.equal(r.json.invokedArn, `${functionArn(name)}:live`);
    const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: `${name}:live` }));
    assert.equal(cfg.Version, '1');
    assert.equal(cfg.FunctionArn, `${functionArn(name)}:live`);

    await expectServiceError(() => lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '2' })), { name: 'ResourceConflictException', status: 409, messageMatch: /Alias already exists/ });
    await expectServiceError(() => lambda.send(new CreateAliasCommand({ FunctionName: name, Name: '123', FunctionVersion: '1' })), { name: 'ValidationException', status: 400 });
    await expectServiceError(() => lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'ghost', FunctionVersion: '9' })), { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'same', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { 1: 0.5 } } })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'latest', FunctionVersion: '$LATEST', RoutingConfig: { AdditionalVersionWeights: { 1: 0.5 } } })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'toomuch', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { 2: 1.5 } } })), { name: 'ValidationException', status: 400 });
    await expectServiceError(() => lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'unpub', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { 7: 0.5 } } })), { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => lambda.send(new GetAliasCommand({ FunctionName: name, Name: 'nope' })), { name: 'ResourceNotFoundException', status: 404, messageMatch: /Alias not found/ });

    await expectServiceError(() => lambda.send(new UpdateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '2', RevisionId: '00000000-0000-0000-0000-000000000000' })), { name: 'PreconditionFailedException', status: 412 });
    const updated = await lambda.send(new UpdateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '2', RevisionId: created.RevisionId }));
    assert.equal(updated.FunctionVersion, '2');
    assert.equal(updated.Description, 'prod');
    assert.notEqual(updated.RevisionId, created.RevisionId);
    const r2 = await invoke(lambda, name, {}, { Qualifier: 'live' });
    assert.equal(r2.executedVersion, '2');
    assert.equal(r2.json.version, 'v2');

    await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'beta', FunctionVersion: '$LATEST' }));
    const list = await lambda.send(new ListAliasesCommand({ FunctionName: name }));
    assert.deepEqual(list.Aliases.map((a) => a.Name), ['beta', 'live']);
    const only2 = await lambda.send(new ListAliasesCommand({ FunctionName: name, FunctionVersion: '2' }));
    assert.deepEqual(only2.Aliases.map((a) => a.Name), ['live']);
    const page = await lambda.send(new ListAliasesCommand({ FunctionName: name, MaxItems: 1 }));
    assert.deepEqual(page.Aliases.map((a) => a.Name), ['beta']);
    const rest = await lambda.send(new ListAliasesCommand({ FunctionName: name, MaxItems: 1, Marker: page.NextMarker }));
    assert.deepEqual(rest.Aliases.map((a) => a.Name), ['live']);

    const del = await lambda.send(new DeleteAliasCommand({ FunctionName: name, Name: 'beta' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    await expectServiceError(() => lambda.send(new GetAliasCommand({ FunctionName: name, Name: 'beta' })), { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('an alias splitting traffic 80/20 between two versions lands within ±10 % over 200 invokes', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('split');
    await createVersioned(lambda, name, { Publish: true });
    await updateCode(lambda, name, 'v2');
    await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    const alias = await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'canary', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { 2: 0.2 } } }));
    assert.deepEqual(alias.RoutingConfig, { AdditionalVersionWeights: { 2: 0.2 } });
    const counts = { 1: 0, 2: 0 };
    for (let i = 0; i < 200; i += 1) {
      const r = await invoke(lambda, name, {}, { Qualifier: 'canary', LogType: 'None' });
      assert.equal(r.functionError, undefined, r.text);
      // What ran is what the header says.
      assert.equal(r.json.version, r.executedVersion === '1' ? 'v1' : 'v2');
      assert.equal(r.json.invokedArn, `${functionArn(name)}:canary`);
      counts[r.executedVersion] += 1;
    }
    assert.equal(counts[1] + counts[2], 200, JSON.stringify(counts));
    assert.ok(counts[2] >= 20 && counts[2] <= 60, `version 2 ran ${counts[2]} of 200 times (want 40 ± 20): ${JSON.stringify(counts)}`);
    // Routing removed: everything goes to the primary version.
    await lambda.send(new UpdateAliasCommand({ FunctionName: name, Name: 'canary', RoutingConfig: { AdditionalVersionWeights: {} } }));
    for (let i = 0; i < 10; i += 1) {
      assert.equal((await invoke(lambda, name, {}, { Qualifier: 'canary', LogType: 'None' })).executedVersion, '1');
    }
  }));
});

describe('concurrency (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('Put/Get/DeleteFunctionConcurrency, GetFunction Concurrency, account settings and the 100-unreserved rule', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('resv');
    await createVersioned(lambda, name);
    const before = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(before.AccountLimit.UnreservedConcurrentExecutions, before.AccountLimit.ConcurrentExecutions);
    const none = await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: name }));
    assert.equal(none.ReservedConcurrentExecutions, undefined);
    const put = await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 50 }));
    assert.equal(put.ReservedConcurrentExecutions, 50);
    assert.equal((await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: name }))).ReservedConcurrentExecutions, 50);
    assert.deepEqual((await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Concurrency, { ReservedConcurrentExecutions: 50 });
    const after = await lambda.send(new GetAccountSettingsCommand({}));
    assert.equal(after.AccountLimit.UnreservedConcurrentExecutions, before.AccountLimit.ConcurrentExecutions - 50);
    const limit = before.AccountLimit.ConcurrentExecutions;
    const err = await expectServiceError(() => lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: limit - 99 })), { name: 'InvalidParameterValueException', status: 400 });
    assert.equal(err.message, "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].");
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: limit - 100 }));
    await expectServiceError(() => lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: uniqueName('ghost'), ReservedConcurrentExecutions: 1 })), { name: 'ResourceNotFoundException', status: 404 });
    const del = await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: name }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    assert.equal((await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Concurrency, undefined);
    assert.equal((await lambda.send(new GetAccountSettingsCommand({}))).AccountLimit.UnreservedConcurrentExecutions, limit);
  }));

  it('reserved concurrency 0 throttles every invoke with 429 ReservedFunctionConcurrentInvocationLimitExceeded', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('zero');
    await createVersioned(lambda, name);
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 0 }));
    const err = await expectServiceError(() => invoke(lambda, name, {}), { name: 'TooManyRequestsException', status: 429 });
    assert.equal(err.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    await lambda.send(new DeleteFunctionConcurrencyCommand({ FunctionName: name }));
    assert.equal((await invoke(lambda, name, {})).status, 200);
  }));

  it('reserved concurrency 1: a second parallel sync invoke of a 2-second function gets 429', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('one');
    await createVersioned(lambda, name, { Timeout: 10 });
    await lambda.send(new PutFunctionConcurrencyCommand({ FunctionName: name, ReservedConcurrentExecutions: 1 }));
    const first = invoke(lambda, name, { sleep: 2 });
    await new Promise((r) => setTimeout(r, 500));
    const err = await expectServiceError(() => invoke(lambda, name, {}), { name: 'TooManyRequestsException', status: 429 });
    assert.equal(err.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    const r = await first;
    assert.equal(r.status, 200);
    assert.equal(r.functionError, undefined, r.text);
  }));

  it('provisioned concurrency on an alias: Put 202 IN_PROGRESS, Get READY, the function sees provisioned-concurrency', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('prov');
    await createVersioned(lambda, name, { Publish: true });
    await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '1' }));
    await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'edge', FunctionVersion: '$LATEST' }));
    await expectServiceError(() => lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: '$LATEST', ProvisionedConcurrentExecutions: 1 })), {
      name: 'InvalidParameterValueException', status: 400, messageMatch: /Provisioned Concurrency Configs cannot be applied to unpublished function versions/,
    });
    await expectServiceError(() => lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: 'edge', ProvisionedConcurrentExecutions: 1 })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: 'live' })), { name: 'ProvisionedConcurrencyConfigNotFoundException', status: 404 });
    const put = await lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: 'live', ProvisionedConcurrentExecutions: 2 }));
    assert.equal(put.$metadata.httpStatusCode, 202);
    assert.equal(put.RequestedProvisionedConcurrentExecutions, 2);
    assert.equal(put.Status, 'IN_PROGRESS');
    assert.equal(typeof put.LastModified, 'string');
    const got = await lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: 'live' }));
    assert.equal(got.Status, 'READY');
    assert.equal(got.RequestedProvisionedConcurrentExecutions, 2);
    assert.equal(got.AllocatedProvisionedConcurrentExecutions, 2);
    const list = await lambda.send(new ListProvisionedConcurrencyConfigsCommand({ FunctionName: name }));
    assert.deepEqual(list.ProvisionedConcurrencyConfigs.map((c) => c.FunctionArn), [`${functionArn(name)}:live`]);
    // Version 1 is provisioned through the alias: a second config on it conflicts.
    await expectServiceError(() => lambda.send(new PutProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: '1', ProvisionedConcurrentExecutions: 1 })), { name: 'ResourceConflictException', status: 409 });

    // The environments initialise in the background; the Invoker interface does
    // not report when they are ready, so give them time (a Python cold start
    // takes well under a second here). An invoke arriving before that would
    // start an on-demand environment instead.
    await new Promise((res) => setTimeout(res, 3000));
    const r = await invoke(lambda, name, {}, { Qualifier: 'live' });
    assert.equal(r.executedVersion, '1');
    assert.equal(r.json.initType, 'provisioned-concurrency', r.text);
    // $LATEST is not provisioned.
    assert.equal((await invoke(lambda, name, {})).json.initType, 'on-demand');

    const del = await lambda.send(new DeleteProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: 'live' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    await expectServiceError(() => lambda.send(new GetProvisionedConcurrencyConfigCommand({ FunctionName: name, Qualifier: 'live' })), { name: 'ProvisionedConcurrencyConfigNotFoundException', status: 404 });
  }));
});
