// The nimbus CLI (client subcommands of the same binary) end to end:
// deploy (directory and .zip, create then update), invoke (payload, --log-tail,
// non-zero exit on a function error), list, delete, logs and logs --follow.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { GetFunctionCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, NIMBUS_BIN, sleep } from '../lib/nimbus.mjs';
import { fixtureDir, zipFixture, sha256Base64, writeTree } from '../lib/zip.mjs';
import { expectServiceError } from '../lib/lambda.mjs';

function ok(r, what) {
  assert.equal(r.code, 0, `${what} exited ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

describe('nimbus CLI', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('deploy a directory, invoke with a payload, list, redeploy (update), delete', t(async () => {
    const n = box.nimbus;
    const name = uniqueName('cli');
    const d = await n.cli(['deploy', name, fixtureDir('functions', 'python', 'echo'), '--runtime', 'python3.11', '--handler', 'app.handler', '--memory', '256', '--timeout', '5', '--env', 'E2E_A=1', '--env', 'E2E_B=two']);
    ok(d, 'nimbus deploy');
    const got = await n.lambda().send(new GetFunctionCommand({ FunctionName: name }));
    assert.equal(got.Configuration.Runtime, 'python3.11');
    assert.equal(got.Configuration.Handler, 'app.handler');
    assert.equal(got.Configuration.MemorySize, 256);
    assert.equal(got.Configuration.Timeout, 5);
    assert.deepEqual(got.Configuration.Environment?.Variables, { E2E_A: '1', E2E_B: 'two' });

    const inv = await n.cli(['invoke', name, '--payload', '{"marker":"from-cli"}']);
    ok(inv, 'nimbus invoke');
    const out = JSON.parse(inv.stdout);
    assert.deepEqual(out.event, { marker: 'from-cli' });
    assert.equal(out.functionName, name);
    assert.deepEqual(out.customEnv, { E2E_A: '1', E2E_B: 'two' });

    const tail = await n.cli(['invoke', name, '--payload', '{"marker":"tail"}', '--log-tail']);
    ok(tail, 'nimbus invoke --log-tail');
    const all = tail.stdout + tail.stderr;
    assert.match(all, /START RequestId: [0-9a-f-]{36} Version: \$LATEST/);
    assert.match(all, /REPORT RequestId: [0-9a-f-]{36}\tDuration: /);
    assert.match(all, /echo-print [0-9a-f-]{36} tail/);

    const list = await n.cli(['list']);
    ok(list, 'nimbus list');
    assert.match(list.stdout, new RegExp(`\\b${name}\\b`));

    // Redeploy = update: new code, new handler.
    const v2 = writeTree({ 'app.py': 'def handler(e, c):\n    return {"v": 2}\n' });
    try {
      ok(await n.cli(['deploy', name, v2, '--runtime', 'python3.11', '--handler', 'app.handler']), 'nimbus deploy (update)');
    } finally {
      fs.rmSync(v2, { recursive: true, force: true });
    }
    const inv2 = await n.cli(['invoke', name, '--payload', '{}']);
    ok(inv2, 'nimbus invoke after update');
    assert.deepEqual(JSON.parse(inv2.stdout), { v: 2 });

    ok(await n.cli(['delete', name]), 'nimbus delete');
    await expectServiceError(() => n.lambda().send(new GetFunctionCommand({ FunctionName: name })), { name: 'ResourceNotFoundException', status: 404 });
    const list2 = await n.cli(['list']);
    ok(list2, 'nimbus list after delete');
    assert.doesNotMatch(list2.stdout, new RegExp(`\\b${name}\\b`));
  }));

  it('deploy a .zip file; CodeSha256 is the zip\'s', t(async () => {
    const n = box.nimbus;
    const name = uniqueName('cli-zip');
    const zip = zipFixture('functions', 'node', 'cjs-async');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-cli-'));
    try {
      const file = path.join(tmp, 'fn.zip');
      fs.writeFileSync(file, zip);
      ok(await n.cli(['deploy', name, file, '--runtime', 'nodejs20.x', '--handler', 'index.handler']), 'nimbus deploy zip');
      const got = await n.lambda().send(new GetFunctionCommand({ FunctionName: name }));
      assert.equal(got.Configuration.CodeSha256, sha256Base64(zip));
      const inv = await n.cli(['invoke', name, '--payload', '{"k":"zip"}']);
      ok(inv, 'nimbus invoke');
      assert.deepEqual(JSON.parse(inv.stdout).event, { k: 'zip' });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }));

  it('invoke exits non-zero on a function error and prints the error payload', t(async () => {
    const n = box.nimbus;
    const name = uniqueName('cli-err');
    ok(await n.cli(['deploy', name, fixtureDir('functions', 'python', 'echo'), '--runtime', 'python3.11', '--handler', 'app.fail']), 'deploy');
    const inv = await n.cli(['invoke', name, '--payload', '{"marker":"bad"}']);
    assert.notEqual(inv.code, 0, `function error must give a non-zero exit\nstdout: ${inv.stdout}`);
    assert.match(inv.stdout + inv.stderr, /ValueError/);
    assert.match(inv.stdout + inv.stderr, /boom bad/);
  }));

  it('invoke / delete of an unknown function fail with the error name', t(async () => {
    const n = box.nimbus;
    const inv = await n.cli(['invoke', uniqueName('ghost'), '--payload', '{}']);
    assert.notEqual(inv.code, 0);
    assert.match(inv.stdout + inv.stderr, /ResourceNotFoundException|Function not found/);
    const del = await n.cli(['delete', uniqueName('ghost')]);
    assert.notEqual(del.code, 0);
  }));

  it('--endpoint flag works without NIMBUS_ENDPOINT; a dead endpoint fails cleanly', t(async () => {
    const n = box.nimbus;
    const env = { NIMBUS_ENDPOINT: '' };
    const a = await n.cli(['list', '--endpoint', n.endpoint], { env });
    const b = a.code === 0 ? a : await n.cli(['--endpoint', n.endpoint, 'list'], { env });
    ok(b, 'nimbus list --endpoint');
    const dead = await n.cli(['list'], { env: { NIMBUS_ENDPOINT: 'http://127.0.0.1:1' }, timeoutMs: 30000 });
    assert.notEqual(dead.code, 0, 'list against a closed port must fail');
    assert.equal(dead.timedOut, false, 'list against a closed port hung');
  }));

  it('logs shows START/END/REPORT and output; logs --follow streams new invocations', t(async () => {
    const n = box.nimbus;
    const name = uniqueName('cli-logs');
    ok(await n.cli(['deploy', name, fixtureDir('functions', 'python', 'echo'), '--runtime', 'python3.11', '--handler', 'app.handler']), 'deploy');
    ok(await n.cli(['invoke', name, '--payload', '{"marker":"logs-one"}']), 'invoke');
    let logs;
    for (let i = 0; i < 20; i++) {
      logs = await n.cli(['logs', name]);
      if (/REPORT RequestId/.test(logs.stdout)) break;
      await sleep(250);
    }
    ok(logs, 'nimbus logs');
    assert.match(logs.stdout, /START RequestId: [0-9a-f-]{36} Version: \$LATEST/);
    assert.match(logs.stdout, /END RequestId: [0-9a-f-]{36}/);
    assert.match(logs.stdout, /REPORT RequestId: [0-9a-f-]{36}/);
    assert.match(logs.stdout, /logs-one/);

    const follow = spawn(NIMBUS_BIN, ['logs', name, '--follow'], { env: { ...process.env, NIMBUS_ENDPOINT: n.endpoint }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follow.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    follow.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    try {
      await sleep(1000);
      assert.equal(follow.exitCode, null, `logs --follow exited early: ${out}`);
      ok(await n.cli(['invoke', name, '--payload', '{"marker":"followed-marker"}']), 'invoke');
      const deadline = Date.now() + 15000;
      while (!/followed-marker/.test(out) && Date.now() < deadline) await sleep(200);
      assert.match(out, /followed-marker/, `logs --follow did not show the new invocation:\n${out}`);
    } finally {
      follow.kill('SIGINT');
      await sleep(300);
      if (follow.exitCode === null) follow.kill('SIGKILL');
    }
  }));
});
