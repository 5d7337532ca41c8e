// Every input error with AWS's error name and HTTP status, through the SDK
// (which surfaces x-amzn-ErrorType as err.name) and, for bodies an SDK cannot
// produce, through raw HTTP.
//
// Which name AWS uses: constraints of the service model (name/role/handler
// patterns, MemorySize >= 128, Timeout >= 1, EphemeralStorage 512..10240) are
// rejected by AWS's request validation as ValidationException (400, "1
// validation error detected: Value ... at 'memorySize' failed to satisfy
// constraint ..."); checks done by Lambda itself (runtime enum "or be a valid
// ARN", MemorySize quota <= 10240, Timeout <= 900, environment size and
// reserved keys, zip content) answer InvalidParameterValueException (400).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  CreateFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  UpdateFunctionConfigurationCommand,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, ROLE } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, expectServiceError, rawRequest, assertRawError, invoke } from '../lib/lambda.mjs';

describe('validation errors', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let zip;
  let existing;
  before(() => {
    zip = zipFixture('functions', 'python', 'echo');
  });

  const base = () => ({
    FunctionName: uniqueName('val'),
    Role: ROLE,
    Runtime: 'python3.11',
    Handler: 'app.handler',
    Code: { ZipFile: zip },
  });

  async function expectCreateRejected(overrides, name, status) {
    const lambda = box.nimbus.lambda();
    const input = { ...base(), ...overrides };
    await expectServiceError(() => lambda.send(new CreateFunctionCommand(input)), { name, status });
    // Nothing was created.
    if (typeof input.FunctionName === 'string' && /^[a-zA-Z0-9-_]{1,64}$/.test(input.FunctionName)) {
      await expectServiceError(() => lambda.send(new GetFunctionCommand({ FunctionName: input.FunctionName })), { name: 'ResourceNotFoundException', status: 404 });
    }
  }

  const cases = [
    ['function name with a space', { FunctionName: 'bad name' }, 'ValidationException', 400],
    ['function name with a slash', { FunctionName: 'bad/name' }, 'ValidationException', 400],
    ['function name of 65 characters', { FunctionName: 'a'.repeat(65) }, ['ValidationException', 'InvalidParameterValueException'], 400],
    ['unknown runtime', { Runtime: 'cobol85' }, 'InvalidParameterValueException', 400],
    ['handler with whitespace', { Handler: 'app handler' }, 'ValidationException', 400],
    ['handler longer than 128 characters', { Handler: `app.${'h'.repeat(130)}` }, 'ValidationException', 400],
    ['role that is not an IAM role ARN', { Role: 'not-a-role' }, 'ValidationException', 400],
    ['role with a short account id', { Role: 'arn:aws:iam::123:role/x' }, 'ValidationException', 400],
    ['MemorySize 127', { MemorySize: 127 }, 'ValidationException', 400],
    ['MemorySize 10241', { MemorySize: 10241 }, 'InvalidParameterValueException', 400],
    ['Timeout 0', { Timeout: 0 }, 'ValidationException', 400],
    ['Timeout 901', { Timeout: 901 }, 'InvalidParameterValueException', 400],
    ['EphemeralStorage 511', { EphemeralStorage: { Size: 511 } }, 'ValidationException', 400],
    ['EphemeralStorage 10241', { EphemeralStorage: { Size: 10241 } }, 'ValidationException', 400],
    ['environment larger than 4 KB', { Environment: { Variables: { E2E_BIG: 'x'.repeat(4100) } } }, 'InvalidParameterValueException', 400],
    ['environment of many keys totalling > 4 KB', { Environment: { Variables: Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`E2E_K${i}`, 'v'.repeat(50)])) } }, 'InvalidParameterValueException', 400],
    ['reserved environment key AWS_REGION', { Environment: { Variables: { AWS_REGION: 'eu-west-1' } } }, 'InvalidParameterValueException', 400],
    ['reserved environment key AWS_LAMBDA_RUNTIME_API', { Environment: { Variables: { AWS_LAMBDA_RUNTIME_API: 'x:1' } } }, 'InvalidParameterValueException', 400],
    ['reserved environment key _HANDLER', { Environment: { Variables: { _HANDLER: 'x.y' } } }, 'InvalidParameterValueException', 400],
    ['a body that is not a zip', { Code: { ZipFile: Buffer.from('this is not a zip archive at all') } }, 'InvalidParameterValueException', 400],
  ];
  for (const [label, overrides, name, status] of cases) {
    it(`CreateFunction with ${label} → ${[name].flat().join('|')} ${status}`, t(() => expectCreateRejected(overrides, name, status)));
  }

  it('a 4 KB environment that fits is accepted (the limit is not off by a lot)', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('env-ok');
    await createFunction(lambda, { name, zip, runtime: 'python3.11', handler: 'app.handler', Environment: { Variables: { E2E_OK: 'x'.repeat(3900) } } });
    const r = await invoke(lambda, name, {});
    assert.equal(r.json.customEnv.E2E_OK.length, 3900);
  }));

  it('boundaries are accepted: MemorySize 128 and 10240, Timeout 1 and 900, EphemeralStorage 512 and 10240', t(async () => {
    const lambda = box.nimbus.lambda();
    for (const o of [{ MemorySize: 128, Timeout: 1, EphemeralStorage: { Size: 512 } }, { MemorySize: 10240, Timeout: 900, EphemeralStorage: { Size: 10240 } }]) {
      const input = { ...base(), ...o };
      const out = await lambda.send(new CreateFunctionCommand(input));
      assert.equal(out.MemorySize, o.MemorySize);
      assert.equal(out.Timeout, o.Timeout);
      assert.deepEqual(out.EphemeralStorage, o.EphemeralStorage);
    }
  }));

  it('duplicate CreateFunction → ResourceConflictException 409 "Function already exist: NAME"', t(async () => {
    const lambda = box.nimbus.lambda();
    existing = uniqueName('dup');
    await createFunction(lambda, { name: existing, zip, runtime: 'python3.11', handler: 'app.handler' });
    const err = await expectServiceError(
      () => lambda.send(new CreateFunctionCommand({ ...base(), FunctionName: existing })),
      { name: 'ResourceConflictException', status: 409 },
    );
    assert.match(err.message, new RegExp(`Function already exist: ${existing}`));
  }));

  it('UpdateFunctionConfiguration validates too (MemorySize 10241, reserved key) and changes nothing', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('val-upd');
    await createFunction(lambda, { name, zip, runtime: 'python3.11', handler: 'app.handler' });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, MemorySize: 10241 })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: { AWS_REGION: 'x' } } })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Timeout: 901 })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: Buffer.from('not a zip') })), { name: 'InvalidParameterValueException', status: 400 });
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    assert.equal(got.Configuration.MemorySize, 128);
    assert.equal(got.Configuration.Timeout, 3);
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: uniqueName('nope'), MemorySize: 256 })), { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('Code.ZipFile that is not base64 → 400 (raw HTTP)', t(async () => {
    const name = uniqueName('b64');
    const body = JSON.stringify({ FunctionName: name, Role: ROLE, Runtime: 'python3.11', Handler: 'app.handler', Code: { ZipFile: '%%% not base64 %%%' } });
    const r = await rawRequest(box.nimbus.endpoint, 'POST', '/2015-03-31/functions', { body, headers: { 'content-type': 'application/json' } });
    assertRawError(r, ['InvalidParameterValueException', 'InvalidRequestContentException'], 400);
    const lambda = box.nimbus.lambda();
    await expectServiceError(() => lambda.send(new GetFunctionCommand({ FunctionName: name })), { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('CreateFunction body that is not JSON → 400 (raw HTTP)', t(async () => {
    const r = await rawRequest(box.nimbus.endpoint, 'POST', '/2015-03-31/functions', { body: '{"FunctionName": ', headers: { 'content-type': 'application/json' } });
    assertRawError(r, ['InvalidRequestContentException', 'SerializationException', 'InvalidParameterValueException'], 400);
  }));

  it('error responses carry x-amzn-ErrorType and a {"Type","Message"} body (raw HTTP)', t(async () => {
    const r = await rawRequest(box.nimbus.endpoint, 'GET', `/2015-03-31/functions/${uniqueName('missing')}`);
    assertRawError(r, 'ResourceNotFoundException', 404);
    assert.equal(r.json.Type, 'User');
    assert.match(r.json.Message, /^Function not found: arn:aws:lambda:us-east-1:000000000000:function:/);
    assert.match(r.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  }));

  it('zip larger than 50 MB → 413 RequestEntityTooLargeException', { timeout: 300000 }, t(async () => {
    // 51 MB of incompressible data, stored (-0) so the zip itself is > 50 MB.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-big-'));
    try {
      fs.writeFileSync(path.join(dir, 'app.py'), 'def handler(e, c):\n    return 1\n');
      fs.writeFileSync(path.join(dir, 'blob.bin'), crypto.randomBytes(51 * 1024 * 1024));
      execFileSync('zip', ['-q', '-0', '-r', '-X', path.join(dir, 'big.zip'), 'app.py', 'blob.bin'], { cwd: dir });
      const big = fs.readFileSync(path.join(dir, 'big.zip'));
      assert.ok(big.length > 52428800);
      const lambda = box.nimbus.lambda();
      const name = uniqueName('big');
      await expectServiceError(
        () => lambda.send(new CreateFunctionCommand({ ...base(), FunctionName: name, Code: { ZipFile: big } })),
        { name: ['RequestEntityTooLargeException', 'RequestTooLargeException'], status: 413 },
      );
      assert.ok(box.nimbus.alive(), 'daemon died on a large upload');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }));

  it('zip that unpacks to more than 250 MB → InvalidParameterValueException 400', { timeout: 300000 }, t(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-bomb-'));
    try {
      fs.writeFileSync(path.join(dir, 'app.py'), 'def handler(e, c):\n    return 1\n');
      const fd = fs.openSync(path.join(dir, 'zeros.bin'), 'w');
      const mb = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 260; i++) fs.writeSync(fd, mb);
      fs.closeSync(fd);
      execFileSync('zip', ['-q', '-9', '-r', '-X', path.join(dir, 'bomb.zip'), 'app.py', 'zeros.bin'], { cwd: dir });
      const bomb = fs.readFileSync(path.join(dir, 'bomb.zip'));
      assert.ok(bomb.length < 5 * 1024 * 1024);
      const lambda = box.nimbus.lambda();
      const err = await expectServiceError(
        () => lambda.send(new CreateFunctionCommand({ ...base(), Code: { ZipFile: bomb } })),
        { name: 'InvalidParameterValueException', status: 400 },
      );
      assert.match(err.message, /262144000/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }));

  describe('invoke errors', () => {
    let fn;
    let sink; // returns a small result whatever the event size
    before(async () => {
      fn = uniqueName('inv-val');
      sink = uniqueName('inv-sink');
      await createFunction(box.nimbus.lambda(), { name: fn, zip, runtime: 'python3.11', handler: 'app.handler' });
      await createFunction(box.nimbus.lambda(), { name: sink, zip, runtime: 'python3.11', handler: 'app.big', MemorySize: 512, Timeout: 20 });
    });

    it('payload larger than 6 MB → 413 RequestEntityTooLargeException', t(async () => {
      const lambda = box.nimbus.lambda();
      const payload = JSON.stringify({ data: 'x'.repeat(6 * 1024 * 1024) });
      await expectServiceError(
        () => lambda.send(new InvokeCommand({ FunctionName: fn, Payload: payload })),
        { name: ['RequestEntityTooLargeException', 'RequestTooLargeException'], status: 413 },
      );
    }));

    it('a payload just under 6 MB is accepted', t(async () => {
      const lambda = box.nimbus.lambda();
      const payload = JSON.stringify({ bytes: 2, data: 'y'.repeat(6291456 - 100) });
      assert.ok(Buffer.byteLength(payload) <= 6291456);
      const res = await lambda.send(new InvokeCommand({ FunctionName: sink, Payload: payload, LogType: 'None' }));
      const body = Buffer.from(res.Payload ?? []).toString();
      assert.equal(res.StatusCode, 200);
      assert.equal(res.FunctionError, undefined, body.slice(0, 500));
      assert.equal(body, '"xx"');
    }));

    it('invalid JSON payload → 400 InvalidRequestContentException', t(async () => {
      const lambda = box.nimbus.lambda();
      const err = await expectServiceError(
        () => lambda.send(new InvokeCommand({ FunctionName: fn, Payload: '{"unterminated": ' })),
        { name: 'InvalidRequestContentException', status: 400 },
      );
      assert.match(err.message, /Could not parse request body into json/);
    }));

    it('unknown function → 404 ResourceNotFoundException', t(async () => {
      const lambda = box.nimbus.lambda();
      const name = uniqueName('ghost');
      const err = await expectServiceError(() => lambda.send(new InvokeCommand({ FunctionName: name, Payload: '{}' })), { name: 'ResourceNotFoundException', status: 404 });
      assert.match(err.message, new RegExp(`function:${name}`));
    }));

    it('qualifier in the name conflicting with the Qualifier parameter → 400 InvalidParameterValueException', t(async () => {
      const lambda = box.nimbus.lambda();
      await expectServiceError(
        () => lambda.send(new InvokeCommand({ FunctionName: `${fn}:$LATEST`, Qualifier: 'prod', Payload: '{}' })),
        { name: 'InvalidParameterValueException', status: 400 },
      );
    }));

    it('unpublished version qualifier → 404 ResourceNotFoundException', t(async () => {
      const lambda = box.nimbus.lambda();
      await expectServiceError(() => lambda.send(new InvokeCommand({ FunctionName: fn, Qualifier: '7', Payload: '{}' })), { name: 'ResourceNotFoundException', status: 404 });
    }));

    it('an empty body is accepted as an event', t(async () => {
      const r = await rawRequest(box.nimbus.endpoint, 'POST', `/2015-03-31/functions/${fn}/invocations`, { body: '' });
      assert.equal(r.status, 200, r.text);
    }));
  });
});
