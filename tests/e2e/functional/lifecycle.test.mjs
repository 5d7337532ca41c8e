// Daemon lifecycle: a restart on the same data directory keeps every function
// (configuration and code) invokable; SIGTERM lets in-flight invokes finish,
// stops every environment and leaves no process, cgroup or mount behind;
// --keep-alive reaps idle environments.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetFunctionCommand, ListFunctionsCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import { uniqueName, SKIP_NO_BINARY, sleep, withDaemon } from '../lib/nimbus.mjs';
import { zipFixture, sha256Base64 } from '../lib/zip.mjs';
import { createFunction, invoke, checkPlatformLines } from '../lib/lambda.mjs';

const IS_ROOT = process.getuid?.() === 0;
const HAS_SETPRIV = (() => {
  try {
    return fs.existsSync('/usr/bin/setpriv') || fs.existsSync('/bin/setpriv');
  } catch {
    return false;
  }
})();

describe('daemon lifecycle', { skip: SKIP_NO_BINARY }, () => {
  it('as an ordinary user (uid 65534) nimbus serve runs functions in user-namespace sandboxes and names the limits it cannot enforce',
    { timeout: 120000, skip: !IS_ROOT ? 'needs root to start the daemon as another user' : !HAS_SETPRIV ? 'setpriv (util-linux) not found' : false },
    async () => {
      await withDaemon({ asUid: 65534 }, async (n) => {
        assert.match(n.stderr, /running unprivileged: sandboxes use a user namespace/);
        // This host's cgroups are not delegated to uid 65534: the operator is told.
        assert.match(n.stderr, /(memory|cpu|pids) limit not enforced/);
        const name = uniqueName('rootless');
        const lambda = n.lambda();
        await createFunction(lambda, { name, runtime: 'python3.11', handler: 'app.handler', zip: zipFixture('functions', 'python', 'echo') });
        const r = await invoke(lambda, name, { hello: 'rootless' });
        assert.equal(r.functionError, undefined, r.text);
        assert.deepEqual(r.json.event, { hello: 'rootless' });
      });
    });

  it('restart on the same data dir keeps every function (config + code) and they still run', { timeout: 240000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-restart-'));
    try {
      const fns = [
        { name: uniqueName('rs-py'), zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler', MemorySize: 192, Timeout: 4, Environment: { Variables: { E2E_KEPT: 'yes' } } },
        { name: uniqueName('rs-node'), zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.handler' },
        { name: uniqueName('rs-prov'), zip: zipFixture('functions', 'provided', 'bash'), runtime: 'provided.al2023', handler: 'echo' },
      ];
      const before = {};
      await withDaemon({ dataDir }, async (n) => {
        const lambda = n.lambda();
        for (const f of fns) {
          const { name, zip, runtime, handler, ...rest } = f;
          await createFunction(lambda, { name, zip, runtime, handler, ...rest });
          const r = await invoke(lambda, name, { phase: 'before' });
          assert.equal(r.functionError, undefined, `${name}: ${r.text}`);
          before[name] = (await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Configuration;
        }
        await n.stop(); // asserts a clean shutdown with warm environments
      });
      await withDaemon({ dataDir }, async (n) => {
        const lambda = n.lambda();
        const listed = (await lambda.send(new ListFunctionsCommand({}))).Functions.map((f) => f.FunctionName);
        for (const f of fns) {
          assert.ok(listed.includes(f.name), `${f.name} lost across restart (listed: ${listed})`);
          const c = (await lambda.send(new GetFunctionCommand({ FunctionName: f.name }))).Configuration;
          const b = before[f.name];
          for (const k of ['CodeSha256', 'CodeSize', 'Runtime', 'Handler', 'MemorySize', 'Timeout', 'RevisionId', 'LastModified', 'Role']) {
            assert.deepEqual(c[k], b[k], `${f.name}: ${k} changed across restart`);
          }
          assert.deepEqual(c.Environment, b.Environment);
          assert.equal(c.CodeSha256, sha256Base64(f.zip));
          assert.equal(c.State, 'Active');
          const r = await invoke(lambda, f.name, { phase: 'after' });
          assert.equal(r.functionError, undefined, `${f.name} after restart: ${r.text}`);
          assert.deepEqual(r.json.event, { phase: 'after' });
        }
        const py = await invoke(lambda, fns[0].name, {});
        assert.deepEqual(py.json.customEnv, { E2E_KEPT: 'yes' });
        assert.equal(py.json.memoryLimitInMB, '192');
        await n.stop();
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('SIGTERM: an in-flight invoke finishes, then the daemon exits 0 leaving nothing behind', { timeout: 120000 }, async () => {
    await withDaemon({}, async (n) => {
      const lambda = n.lambda();
      const slow = uniqueName('inflight');
      const warm = uniqueName('warm');
      await createFunction(lambda, { name: slow, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.sleep', Timeout: 20 });
      await createFunction(lambda, { name: warm, zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.handler' });
      await invoke(lambda, warm, {}); // an idle warm environment must be stopped too
      await invoke(lambda, slow, { seconds: 0 });
      const envsBefore = n.descendants().length;
      assert.ok(envsBefore >= 2, `expected sandbox processes under the daemon, saw ${envsBefore}`);
      const pending = lambda.send(new InvokeCommand({ FunctionName: slow, Payload: JSON.stringify({ seconds: 2 }) }));
      await sleep(700);
      const started = Date.now();
      const stopping = n.stop();
      const res = await pending;
      const body = JSON.parse(Buffer.from(res.Payload).toString());
      assert.equal(res.StatusCode, 200);
      assert.equal(res.FunctionError, undefined, `in-flight invoke was not allowed to finish: ${JSON.stringify(body)}`);
      assert.equal(body.slept, 2);
      const report = await stopping; // throws on exit != 0 or leftovers
      assert.equal(report.exit.code, 0);
      assert.ok(Date.now() - started < 25000, 'shutdown took too long');
      assert.ok(report.sampledProcesses >= 2, 'the sampler never saw sandbox processes');
    });
  });

  it('a new request during shutdown is refused or answered, never left hanging', { timeout: 60000 }, async () => {
    await withDaemon({}, async (n) => {
      const lambda = n.lambda();
      const name = uniqueName('late');
      await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.sleep', Timeout: 10 });
      // Finishing in-flight work is asserted by the SIGTERM test; here only the late request matters.
      const inflight = lambda.send(new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ seconds: 1.5 }) })).catch((e) => e);
      await sleep(500);
      const stopping = n.stop();
      await sleep(100);
      const late = await Promise.race([
        lambda.send(new InvokeCommand({ FunctionName: name, Payload: '{"seconds":0}' })).then(() => 'answered', () => 'refused'),
        sleep(20000).then(() => 'hung'),
      ]);
      assert.notEqual(late, 'hung');
      await inflight;
      await stopping;
    });
  });

  it('--keep-alive reaps idle environments: the next invoke is a cold start in a new environment', { timeout: 60000 }, async () => {
    await withDaemon({ keepAlive: 1 }, async (n) => {
      const lambda = n.lambda();
      const name = uniqueName('reap');
      await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler' });
      const a = await invoke(lambda, name, {});
      const b = await invoke(lambda, name, {});
      assert.equal(b.json.count, 2, 'warm within keep-alive');
      const sandboxProcs = n.descendants().length;
      assert.ok(sandboxProcs >= 1);
      await sleep(4000);
      const c = await invoke(lambda, name, {});
      assert.equal(c.json.count, 1, 'environment should have been reaped after 1 s idle');
      assert.notEqual(c.json.logStreamName, a.json.logStreamName);
      checkPlatformLines(c.tail, c.requestId, { coldStart: true });
      await n.stop();
    });
  });
});
