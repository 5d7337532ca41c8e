// Resource limits against hostile functions: a fork bomb is contained by the
// pids limit, a memory hog gets Runtime.OutOfMemory, a /tmp filler hits ENOSPC
// inside without growing the host disk; the daemon and neighbouring functions
// keep working throughout, and nothing is left behind.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { DeleteFunctionCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, sleep, waitFor, NIMBUS_BIN } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, invoke, checkPlatformLines } from '../lib/lambda.mjs';
import { isRoot, processesInEnvironments, hostCgroupLimits, isNamespaceInit } from '../lib/procs.mjs';
import { environmentIds } from '../lib/logs.mjs';

const MiB = 1024 * 1024;
const NEEDS_ROOT = isRoot() ? false : 'needs root: cgroup memory/pids limits are enforced only when nimbus runs as root (or with delegated cgroups), and the host-side checks read other users\' /proc entries';

// Host processes of a function's environments (found by their cgroups), without
// each sandbox's init (PID 1 of its namespace: a clone of the daemon, or of the
// Python zygote).
async function functionProcs(nimbus, functionName) {
  const procs = processesInEnvironments(await environmentIds(nimbus.logs(), functionName));
  return procs.filter((p) => p.cmdline?.[0] !== NIMBUS_BIN && !isNamespaceInit(p.pid));
}
async function countProcs(nimbus, functionName) {
  return (await functionProcs(nimbus, functionName)).length;
}

function diskUsed(dir) {
  const s = fs.statfsSync(dir);
  return (s.blocks - s.bfree) * s.bsize;
}

describe('resource limits (hostile functions)', { skip: SKIP_NO_BINARY || NEEDS_ROOT }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let neighbour;

  before(async () => {
    neighbour = uniqueName('neighbour');
    await createFunction(box.nimbus.lambda(), { name: neighbour, zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.handler' });
  });

  async function neighbourWorks(label) {
    const r = await invoke(box.nimbus.lambda(), neighbour, { marker: label });
    assert.equal(r.functionError, undefined, `neighbour failed ${label}: ${r.text}`);
    assert.deepEqual(r.json.event, { marker: label });
  }

  it('fork bomb is contained by the pids limit; daemon and a neighbour keep working; deleting it leaves nothing', { timeout: 180000 }, t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('forkbomb');
    await createFunction(lambda, { name, zip: zipFixture('hostile', 'forkbomb'), runtime: 'python3.11', handler: 'app.handler', MemorySize: 3008, Timeout: 60 });
    await neighbourWorks('before bomb');
    let maxProcs = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxProcs = Math.max(maxProcs, await countProcs(box.nimbus, name));
        await sleep(250);
      }
    })();
    let r;
    try {
      r = await invoke(lambda, name, {});
    } finally {
      sampling = false;
      await sampler;
    }
    maxProcs = Math.max(maxProcs, await countProcs(box.nimbus, name));
    assert.ok(box.nimbus.alive(), 'daemon died during the fork bomb');
    if (r.functionError === undefined) {
      assert.equal(r.json.error, 'EAGAIN', `fork stopped by something other than the pids limit: ${r.text}`);
      assert.ok(r.json.parentForks < 1024, `parent forked ${r.json.parentForks} times`);
    }
    assert.ok(maxProcs <= 1024, `saw ${maxProcs} processes of the bomb on the host (limit 1024)`);
    assert.ok(maxProcs >= 10, `saw only ${maxProcs} processes of the bomb: were they found at all?`);
    const procs = await functionProcs(box.nimbus, name);
    if (procs.length) assert.ok([1024, 1025].includes(hostCgroupLimits(procs[0].pid).pidsMax), 'pids.max is not 1024 (+1 for the init)');
    await neighbourWorks('during/after bomb');
    const other = uniqueName('after-bomb');
    await createFunction(lambda, { name: other, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler' });
    const o = await invoke(lambda, other, {});
    assert.equal(o.functionError, undefined, `a new environment could not start after the bomb: ${o.text}`);
    await lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
    const left = await waitFor(() => countProcs(box.nimbus, name), (c) => c === 0, 20000, 250);
    assert.equal(left, 0, `${left} fork-bomb processes still alive 20 s after DeleteFunction`);
  }));

  it('memory hog gets Runtime.OutOfMemory while another function keeps working; the next invoke starts fresh', { timeout: 120000 }, t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('memhog');
    await createFunction(lambda, { name, zip: zipFixture('hostile', 'memhog'), runtime: 'python3.11', handler: 'app.handler', MemorySize: 128, Timeout: 60 });
    const [r] = await Promise.all([
      invoke(lambda, name, { mb: 2048 }),
      (async () => {
        for (let i = 0; i < 3; i++) await neighbourWorks(`during hog ${i}`);
      })(),
    ]);
    assert.equal(r.status, 200);
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.json.errorType, 'Runtime.OutOfMemory', r.text);
    assert.equal(r.json.errorMessage, `RequestId: ${r.requestId} Error: Runtime exited with error: signal: killed`);
    const rep = checkPlatformLines(r.tail, r.requestId, { memorySize: 128, status: /Status: error\tError Type: Runtime\.OutOfMemory/ });
    assert.ok(rep.maxMemoryUsed >= 100, `Max Memory Used ${rep.maxMemoryUsed} MB for an OOM at 128 MB`);
    assert.ok(box.nimbus.alive());
    await neighbourWorks('after hog');
    const small = await invoke(lambda, name, { mb: 16 });
    assert.equal(small.functionError, undefined, `after an OOM the function must work again: ${small.text}`);
    assert.equal(small.json.allocatedMB, 16);
    checkPlatformLines(small.tail, small.requestId, { coldStart: true });
  }));

  it('/tmp filler hits ENOSPC at EphemeralStorage inside; the host disk does not grow by the fill', { timeout: 180000 }, t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('tmpfill');
    await createFunction(lambda, { name, zip: zipFixture('hostile', 'tmpfill'), runtime: 'python3.11', handler: 'app.handler', MemorySize: 1536, EphemeralStorage: { Size: 512 }, Timeout: 120 });
    const dirs = [...new Set(['/', os.tmpdir(), box.nimbus.dataDir])];
    const before = dirs.map(diskUsed);
    const r = await invoke(lambda, name, {});
    const afterUse = dirs.map(diskUsed);
    assert.equal(r.functionError, undefined, `tmp filler crashed: ${r.text}\n${r.tail}`);
    assert.equal(r.json.error, 'ENOSPC', r.text);
    assert.ok(Math.abs(r.json.before.sizeBytes - 512 * MiB) <= MiB, `/tmp size ${r.json.before.sizeBytes}`);
    assert.ok(r.json.bytesWritten <= 512 * MiB, `wrote ${r.json.bytesWritten} bytes into a 512 MB /tmp`);
    assert.ok(r.json.bytesWritten >= 400 * MiB, `ENOSPC after only ${r.json.bytesWritten} bytes`);
    assert.ok(r.json.tmpMounts.some((l) => / - tmpfs /.test(l)), `/tmp is not a tmpfs: ${r.json.tmpMounts}`);
    dirs.forEach((d, i) => {
      const grew = afterUse[i] - before[i];
      assert.ok(grew < 512 * MiB, `host filesystem of ${d} grew by ${Math.round(grew / MiB)} MiB during the fill`);
    });
    assert.ok(box.nimbus.alive());
    await neighbourWorks('after tmp fill');
    const again = await invoke(lambda, name, { maxMB: 8 });
    assert.equal(again.functionError, undefined, again.text);
    assert.equal(again.json.error, null, `after cleanup /tmp should have room: ${again.text}`);
  }));
});
