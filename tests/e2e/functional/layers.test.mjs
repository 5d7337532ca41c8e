// Layers with @aws-sdk/client-lambda: PublishLayerVersion, Get/List/Delete,
// ListLayers, GetLayerVersionByArn; functions whose Python module, Node
// package or custom runtime bootstrap comes from a layer under /opt; two
// layers where the later one overrides a file; Layers validation (more than 5,
// unknown ARNs, two versions of one layer, bad packages); a deleted layer
// version still serving the functions that use it; versions snapshotting layers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  PublishLayerVersionCommand,
  GetLayerVersionCommand,
  GetLayerVersionByArnCommand,
  ListLayerVersionsCommand,
  ListLayersCommand,
  DeleteLayerVersionCommand,
  GetFunctionConfigurationCommand,
  UpdateFunctionConfigurationCommand,
  PublishVersionCommand,
} from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, REGION, ACCOUNT } from '../lib/nimbus.mjs';
import { zipFixture, zipFiles, sha256Base64 } from '../lib/zip.mjs';
import { createFunction, waitUpdated, invoke, expectServiceError } from '../lib/lambda.mjs';

const layerArn = (name) => `arn:aws:lambda:${REGION}:${ACCOUNT}:layer:${name}`;

async function publish(lambda, name, zip, extra = {}) {
  return lambda.send(new PublishLayerVersionCommand({ LayerName: name, Content: { ZipFile: zip }, ...extra }));
}

describe('layers (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('publishes a layer whose Python module a function imports from /opt/python', t(async () => {
    const lambda = box.nimbus.lambda();
    const layer = uniqueName('pylib');
    const zip = zipFixture('layers', 'python-lib');
    const v = await publish(lambda, layer, zip, {
      Description: 'a python library',
      CompatibleRuntimes: ['python3.11', 'python3.12'],
      CompatibleArchitectures: ['x86_64'],
      LicenseInfo: 'MIT',
    });
    assert.equal(v.$metadata.httpStatusCode, 201);
    assert.equal(v.LayerArn, layerArn(layer));
    assert.equal(v.LayerVersionArn, `${layerArn(layer)}:1`);
    assert.equal(v.Version, 1);
    assert.equal(v.Description, 'a python library');
    assert.deepEqual(v.CompatibleRuntimes, ['python3.11', 'python3.12']);
    assert.deepEqual(v.CompatibleArchitectures, ['x86_64']);
    assert.equal(v.LicenseInfo, 'MIT');
    assert.match(v.CreatedDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    assert.equal(v.Content.CodeSha256, sha256Base64(zip));
    assert.equal(v.Content.CodeSize, zip.length);
    // Content.Location serves the zip, like GetFunction's Code.Location.
    const fetched = Buffer.from(await (await fetch(v.Content.Location)).arrayBuffer());
    assert.ok(fetched.equals(zip), 'Content.Location serves the layer zip');

    const fn = uniqueName('pylayer');
    const created = await createFunction(lambda, {
      name: fn, zip: zipFixture('layers', 'python-fn'), runtime: 'python3.11', handler: 'app.handler',
      Layers: [v.LayerVersionArn],
    });
    assert.deepEqual(created.Layers, [{ Arn: v.LayerVersionArn, CodeSize: zip.length }]);
    const config = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
    assert.deepEqual(config.Layers, [{ Arn: v.LayerVersionArn, CodeSize: zip.length }]);
    const r = await invoke(lambda, fn, { name: 'nimbus' });
    assert.equal(r.functionError, undefined, r.text);
    assert.deepEqual(r.json, { greeting: 'hello nimbus from a layer', file: '/opt/python/nimbus_layer_lib.py' });

    // Without the layer the import fails: the module really comes from it.
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: fn, Layers: [] }));
    await waitUpdated(lambda, fn);
    const without = await invoke(lambda, fn, { name: 'nimbus' });
    assert.equal(without.functionError, 'Unhandled');
    assert.match(without.text, /nimbus_layer_lib/);
    const cleared = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
    assert.equal(cleared.Layers, undefined);
  }));

  it('a Node layer package is found by require() (CJS) and by import (ESM)', t(async () => {
    const lambda = box.nimbus.lambda();
    const v = await publish(lambda, uniqueName('nodelib'), zipFixture('layers', 'node-lib'), { CompatibleRuntimes: ['nodejs20.x'] });
    const where = '/opt/nodejs/node_modules/nimbus-layer-pkg/index.js';
    const cjs = uniqueName('nodecjs');
    await createFunction(lambda, { name: cjs, zip: zipFixture('layers', 'node-fn-cjs'), runtime: 'nodejs20.x', handler: 'index.handler', Layers: [v.LayerVersionArn] });
    const r = await invoke(lambda, cjs, { text: 'hi' });
    assert.equal(r.functionError, undefined, r.text);
    assert.deepEqual(r.json, { said: 'HI! (from a layer)', where });

    const esm = uniqueName('nodeesm');
    await createFunction(lambda, { name: esm, zip: zipFixture('layers', 'node-fn-esm'), runtime: 'nodejs20.x', handler: 'index.handler', Layers: [v.LayerVersionArn] });
    const e = await invoke(lambda, esm, { text: 'esm' });
    assert.equal(e.functionError, undefined, e.text);
    assert.deepEqual(e.json, { said: 'ESM! (from a layer)', where });
  }));

  it('a provided.al2023 function runs the bootstrap a layer provides (/opt/bootstrap)', t(async () => {
    const lambda = box.nimbus.lambda();
    // The bash custom runtime fixture, shipped as a layer: bootstrap at its root.
    const v = await publish(lambda, uniqueName('runtime'), zipFixture('functions', 'provided', 'bash'));
    const fn = uniqueName('optboot');
    await createFunction(lambda, {
      name: fn, zip: zipFiles({ 'README.txt': 'no bootstrap here\n' }), runtime: 'provided.al2023', handler: 'echo',
      Layers: [v.LayerVersionArn],
    });
    const r = await invoke(lambda, fn, { via: 'layer' });
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.json.runtime, 'provided-bash', r.text);
    assert.deepEqual(r.json.event, { via: 'layer' });

    // Without the layer there is no bootstrap anywhere.
    const bare = uniqueName('noboot');
    await createFunction(lambda, { name: bare, zip: zipFiles({ 'README.txt': 'x\n' }), runtime: 'provided.al2023', handler: 'echo' });
    const missing = await invoke(lambda, bare, {});
    assert.equal(missing.functionError, 'Unhandled');
    assert.match(missing.text, /Runtime\.InvalidEntrypoint/);
  }));

  it('two layers stack at /opt in order: the later one overrides a file; /opt is read-only', t(async () => {
    const lambda = box.nimbus.lambda();
    const a = await publish(lambda, uniqueName('lay-a'), zipFixture('layers', 'override-a'));
    const b = await publish(lambda, uniqueName('lay-b'), zipFixture('layers', 'override-b'));
    const fn = uniqueName('stack');
    await createFunction(lambda, {
      name: fn, zip: zipFixture('layers', 'python-fn'), runtime: 'python3.11', handler: 'app.overrides',
      Layers: [a.LayerVersionArn, b.LayerVersionArn],
    });
    const r = await invoke(lambda, fn, {});
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.json.override, 'from layer b');
    assert.equal(r.json.only_a, 'a only');
    assert.ok(r.json.listing.includes('nimbus_override.py') && r.json.listing.includes('only_in_a.py'), r.text);
    assert.equal(r.json.opt_writable, false);

    // The other order: a on top. Version 1 keeps the layers it was published with.
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: fn }));
    assert.deepEqual(v1.Layers.map((l) => l.Arn), [a.LayerVersionArn, b.LayerVersionArn]);
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: fn, Layers: [b.LayerVersionArn, a.LayerVersionArn] }));
    await waitUpdated(lambda, fn);
    assert.equal((await invoke(lambda, fn, {})).json.override, 'from layer a');
    assert.equal((await invoke(lambda, fn, {}, { Qualifier: '1' })).json.override, 'from layer b');
  }));

  it('gets, lists and deletes layer versions; numbers are never reused; functions keep deleted ones', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('multi');
    const zip = zipFixture('layers', 'python-lib');
    const v1 = await publish(lambda, name, zip, { CompatibleRuntimes: ['python3.11'] });
    const v2 = await publish(lambda, name, zip, { CompatibleRuntimes: ['nodejs20.x'] });
    assert.equal(v2.Version, 2);

    const got = await lambda.send(new GetLayerVersionCommand({ LayerName: name, VersionNumber: 1 }));
    assert.equal(got.LayerVersionArn, v1.LayerVersionArn);
    assert.equal(got.Content.CodeSha256, v1.Content.CodeSha256);
    assert.deepEqual(got.CompatibleRuntimes, ['python3.11']);
    const byArn = await lambda.send(new GetLayerVersionByArnCommand({ Arn: v2.LayerVersionArn }));
    assert.equal(byArn.Version, 2);
    assert.equal(byArn.LayerArn, layerArn(name));

    const all = await lambda.send(new ListLayerVersionsCommand({ LayerName: name }));
    assert.deepEqual(all.LayerVersions.map((x) => x.Version), [2, 1]);
    assert.equal(all.LayerVersions[1].LayerVersionArn, v1.LayerVersionArn);
    const page = await lambda.send(new ListLayerVersionsCommand({ LayerName: name, MaxItems: 1 }));
    assert.deepEqual(page.LayerVersions.map((x) => x.Version), [2]);
    assert.ok(page.NextMarker);
    const next = await lambda.send(new ListLayerVersionsCommand({ LayerName: name, MaxItems: 1, Marker: page.NextMarker }));
    assert.deepEqual(next.LayerVersions.map((x) => x.Version), [1]);
    assert.equal(next.NextMarker, undefined);
    const py = await lambda.send(new ListLayerVersionsCommand({ LayerName: name, CompatibleRuntime: 'python3.11' }));
    assert.deepEqual(py.LayerVersions.map((x) => x.Version), [1]);

    const layers = await lambda.send(new ListLayersCommand({}));
    const mine = layers.Layers.find((l) => l.LayerName === name);
    assert.ok(mine, 'ListLayers includes the layer');
    assert.equal(mine.LayerArn, layerArn(name));
    assert.equal(mine.LatestMatchingVersion.Version, 2);
    const pyLayers = await lambda.send(new ListLayersCommand({ CompatibleRuntime: 'python3.11' }));
    assert.equal(pyLayers.Layers.find((l) => l.LayerName === name).LatestMatchingVersion.Version, 1);

    // A function uses version 1; then version 1 is deleted.
    const fn = uniqueName('keeps');
    await createFunction(lambda, { name: fn, zip: zipFixture('layers', 'python-fn'), runtime: 'python3.11', handler: 'app.handler', Layers: [v1.LayerVersionArn] });
    const del = await lambda.send(new DeleteLayerVersionCommand({ LayerName: name, VersionNumber: 1 }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    await expectServiceError(() => lambda.send(new GetLayerVersionCommand({ LayerName: name, VersionNumber: 1 })),
      { name: 'ResourceNotFoundException', status: 404 });
    const after = await lambda.send(new ListLayerVersionsCommand({ LayerName: name }));
    assert.deepEqual(after.LayerVersions.map((x) => x.Version), [2]);
    const v3 = await publish(lambda, name, zip);
    assert.equal(v3.Version, 3, 'version numbers are never reused');
    // The function still runs with the deleted version's content (new environment).
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: fn, Timeout: 5 }));
    await waitUpdated(lambda, fn);
    const r = await invoke(lambda, fn, { name: 'still' });
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.json.greeting, 'hello still from a layer');
    // New references to it are refused.
    await expectServiceError(() => createFunction(lambda, { name: uniqueName('late'), zip: zipFixture('layers', 'python-fn'), runtime: 'python3.11', handler: 'app.handler', Layers: [v1.LayerVersionArn] }),
      { name: 'InvalidParameterValueException', status: 400, messageMatch: /does not exist/ });
  }));

  it('refuses more than 5 layers, unknown layer versions, two versions of one layer and bad packages', t(async () => {
    const lambda = box.nimbus.lambda();
    const zip = zipFixture('layers', 'python-lib');
    const arns = [];
    for (let i = 0; i < 6; i++) arns.push((await publish(lambda, uniqueName(`six${i}`), zip)).LayerVersionArn);
    const fnZip = zipFixture('layers', 'python-fn');
    const base = { zip: fnZip, runtime: 'python3.11', handler: 'app.handler' };
    await expectServiceError(() => createFunction(lambda, { name: uniqueName('six'), ...base, Layers: arns }),
      { name: 'InvalidParameterValueException', status: 400, messageMatch: /Cannot reference more than 5 layers/ });
    const unknown = `${layerArn(uniqueName('ghost'))}:1`;
    await expectServiceError(() => createFunction(lambda, { name: uniqueName('ghost'), ...base, Layers: [unknown] }),
      { name: 'InvalidParameterValueException', status: 400, messageMatch: new RegExp(`Layer version ${unknown} does not exist`) });
    const five = uniqueName('five');
    await createFunction(lambda, { name: five, ...base, Layers: arns.slice(0, 5) });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: five, Layers: arns })),
      { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: five, Layers: [unknown] })),
      { name: 'InvalidParameterValueException', status: 400 });
    assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: five }))).Layers.length, 5);

    const twice = uniqueName('twice');
    const first = await publish(lambda, twice, zip);
    const second = await publish(lambda, twice, zip);
    await expectServiceError(() => createFunction(lambda, { name: uniqueName('dup'), ...base, Layers: [first.LayerVersionArn, second.LayerVersionArn] }),
      { name: 'InvalidParameterValueException', status: 400, messageMatch: /Two different versions of the same layer/ });

    await expectServiceError(() => publish(lambda, uniqueName('notzip'), Buffer.from('plain text')),
      { name: 'InvalidParameterValueException', status: 400, messageMatch: /Could not unzip uploaded file/ });
    await expectServiceError(() => publish(lambda, 'bad name!', zip), { name: 'ValidationException', status: 400 });
  }));
});
