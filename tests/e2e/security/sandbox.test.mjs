// The sandbox as seen from inside and from the host: identity, capabilities,
// no_new_privs, seccomp, namespaces, read-only root and /var/task, /tmp tmpfs
// size, cgroup limits actually applied; and a battery of escape attempts
// (host files, host processes, writes outside /tmp, mount/unshare/ptrace/
// keyctl..., raw sockets, the API port and the network, signals to processes
// outside) that must all fail.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, hostIPv4Addresses, sleep, waitFor } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';
import { isRoot, processesInEnvironments, hostCgroupLimits, isNamespaceInit } from '../lib/procs.mjs';
import { environmentIds } from '../lib/logs.mjs';

const MARKER = `nimbus-e2e-host-marker-${crypto.randomBytes(8).toString('hex')}`;
const MiB = 1024 * 1024;

function hostNamespaces() {
  const out = {};
  for (const ns of ['pid', 'mnt', 'net', 'ipc', 'uts', 'user', 'cgroup']) {
    try {
      out[ns] = fs.readlinkSync(`/proc/self/ns/${ns}`);
    } catch {
      out[ns] = null;
    }
  }
  return out;
}

// Host processes of a function's environments (found by their cgroups).
async function sandboxProcesses(nimbus, functionName) {
  return processesInEnvironments(await environmentIds(nimbus.logs(), functionName));
}

describe('sandbox isolation', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus({ env: { NIMBUS_E2E_HOST_MARKER: MARKER } });
  const t = (fn) => withLogs(box, fn);
  let limits; // reporter output
  let limitsName;

  before(async () => {
    const lambda = box.nimbus.lambda();
    limitsName = uniqueName('limits');
    await createFunction(lambda, {
      name: limitsName, zip: zipFixture('hostile', 'limits'), runtime: 'python3.11', handler: 'app.handler',
      MemorySize: 256, EphemeralStorage: { Size: 600 },
    });
    const r = await invoke(lambda, limitsName, {});
    assert.equal(r.functionError, undefined, `limits reporter failed: ${r.text}\n${r.tail}`);
    limits = r.json;
  }, { timeout: 60000 });

  it('runs as an unprivileged uid/gid with no capabilities, no_new_privs and a seccomp filter', t(() => {
    const s = limits.status;
    assert.notEqual(limits.uid, 0, 'runtime runs as root');
    assert.notEqual(limits.euid, 0);
    assert.notEqual(limits.gid, 0);
    assert.ok(!limits.groups.includes(0), `supplementary groups include root: ${limits.groups}`);
    assert.equal(s.CapEff, '0000000000000000');
    assert.equal(s.CapPrm, '0000000000000000');
    assert.equal(s.CapInh, '0000000000000000');
    assert.equal(s.CapAmb, '0000000000000000');
    assert.equal(s.NoNewPrivs, '1');
    assert.equal(s.Seccomp, '2', 'seccomp mode must be 2 (filter)');
  }));

  it('has its own pid, mount, net, ipc and uts namespaces, hostname and only loopback', t(() => {
    const host = hostNamespaces();
    for (const ns of ['pid', 'mnt', 'net', 'ipc', 'uts']) {
      assert.ok(limits.namespaces[ns], `no ${ns} namespace link`);
      assert.notEqual(limits.namespaces[ns], host[ns], `${ns} namespace is the host's`);
    }
    assert.notEqual(limits.hostname, os.hostname(), 'hostname is the host\'s');
    assert.ok(limits.visiblePids.length < 50, `sees ${limits.visiblePids.length} pids: not a private pid namespace?`);
    assert.ok(!limits.visiblePids.includes(box.nimbus.pid) || box.nimbus.pid < 50, 'daemon pid visible');
    assert.ok(limits.netInterfaces, 'could not list network interfaces');
    assert.deepEqual(limits.netInterfaces.filter((i) => i !== 'lo'), [], `interfaces: ${limits.netInterfaces}`);
  }));

  it('root and /var/task are read-only; /tmp is a tmpfs of EphemeralStorage size; RLIMIT_NOFILE 1024', t(() => {
    const byPoint = new Map(limits.mounts.map((m) => [m.mountPoint, m]));
    const root = byPoint.get('/');
    assert.ok(root, 'no / mount');
    assert.match(root.options, /(^|,)ro(,|$)/, `/ is not read-only: ${JSON.stringify(root)}`);
    const task = byPoint.get('/var/task');
    assert.ok(task, `no /var/task mount: ${limits.mounts.map((m) => m.mountPoint)}`);
    assert.match(task.options, /(^|,)ro(,|$)/, `/var/task is not read-only: ${JSON.stringify(task)}`);
    const tmp = byPoint.get('/tmp');
    assert.ok(tmp, 'no /tmp mount');
    assert.equal(tmp.fsType, 'tmpfs');
    assert.ok(Math.abs(limits.tmp.sizeBytes - 600 * MiB) <= MiB, `/tmp size ${limits.tmp.sizeBytes} != 600 MiB`);
    // Every writable mount is /tmp or a kernel filesystem (proc, dev, ...).
    const writable = limits.mounts.filter((m) => /(^|,)rw(,|$)/.test(m.options) && !['tmpfs', 'proc', 'devtmpfs', 'devpts', 'mqueue', 'sysfs', 'cgroup', 'cgroup2'].includes(m.fsType));
    assert.deepEqual(writable.map((m) => `${m.mountPoint} (${m.fsType})`), [], 'writable disk-backed mounts inside the sandbox');
    assert.ok(limits.rlimitNofile[0] <= 1024 && limits.rlimitNofile[1] <= 1024, `RLIMIT_NOFILE ${limits.rlimitNofile}`);
  }));

  it('the memory cgroup limit equals MemorySize and pids.max is 1024 (read on the host)', t(async (tc) => {
    if (!isRoot()) return tc.skip('needs root: reads other users\' /proc/PID/environ to find the sandbox and its cgroup');
    // The runtime, not the sandbox's init (root).
    const procs = (await sandboxProcesses(box.nimbus, limitsName))
      .filter((p) => p.cmdline?.[0] === '/usr/bin/python3' && !isNamespaceInit(p.pid));
    assert.ok(procs.length >= 1, `no host process in the cgroup of an environment of ${limitsName}`);
    const lim = hostCgroupLimits(procs[0].pid);
    assert.equal(lim.memoryLimitBytes, 256 * MiB, `memory limit ${lim.memoryLimitBytes} (cgroups ${JSON.stringify(lim.dirs)})`);
    // 1024 tasks for the function; Nimbus' own init may be counted on top.
    assert.ok([1024, 1025].includes(lim.pidsMax), `pids.max ${lim.pidsMax}`);
    // And the runtime process really runs as the uid it reported.
    const status = fs.readFileSync(`/proc/${procs[0].pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\t${limits.uid}\\t`, 'm'));
    // If the limit is visible inside, it is the same number.
    const inside = limits.cgroupMemory ? Number(limits.cgroupMemory.value) : NaN;
    if (Number.isFinite(inside) && inside < 2 ** 60) assert.equal(inside, 256 * MiB, JSON.stringify(limits.cgroupMemory));
  }));

  describe('escape attempts', () => {
    let secretDir;
    let canary;
    let canaryOut = '';
    let escapeName;
    let killName;
    let neighbour;

    before(async () => {
      secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-secret-'));
      fs.chmodSync(secretDir, 0o755);
      fs.writeFileSync(path.join(secretDir, 'secret.txt'), `host-secret-${crypto.randomBytes(8).toString('hex')}\n`, { mode: 0o644 });
      if (isRoot()) {
        // A host process running as the sandbox's uid: signals from inside must never reach it.
        const script = 'import signal,time,sys\n'
          + 'def h(s,f):\n  print("got", s, flush=True)\n'
          + 'signal.signal(signal.SIGWINCH,h); signal.signal(signal.SIGUSR1,h)\n'
          + 'print("ready", flush=True)\n'
          + 'while True: time.sleep(1)\n';
        canary = spawn('/usr/bin/python3', ['-c', script], { uid: limits.uid, gid: limits.gid, stdio: ['ignore', 'pipe', 'inherit'] });
        canary.stdout.setEncoding('utf8').on('data', (d) => (canaryOut += d));
        await waitFor(() => canaryOut, (o) => o.includes('ready'), 10000);
        assert.match(canaryOut, /ready/, 'canary did not start');
      }
      const env = {
        E2E_HOST_SECRET_FILE: path.join(secretDir, 'secret.txt'),
        E2E_DATA_DIR: box.nimbus.dataDir,
        E2E_DAEMON_PORT: String(box.nimbus.port),
        E2E_DAEMON_PID: String(box.nimbus.pid),
        E2E_HOST_MARKER_REV: [...MARKER].reverse().join(''),
        E2E_HOST_IPS: hostIPv4Addresses().join(','),
      };
      if (canary) env.E2E_CANARY_PID = String(canary.pid);
      const lambda = box.nimbus.lambda();
      const zip = zipFixture('hostile', 'escape');
      escapeName = uniqueName('escape');
      killName = uniqueName('killer');
      neighbour = uniqueName('neighbour');
      await createFunction(lambda, { name: escapeName, zip, runtime: 'python3.11', handler: 'app.handler', Timeout: 60, Environment: { Variables: env } });
      await createFunction(lambda, { name: killName, zip, runtime: 'python3.11', handler: 'app.kill_all', Timeout: 10, Environment: { Variables: env } });
      await createFunction(lambda, { name: neighbour, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler' });
    }, { timeout: 60000 });

    after(() => {
      if (canary && canary.exitCode === null) canary.kill('SIGKILL');
      if (secretDir) fs.rmSync(secretDir, { recursive: true, force: true });
    });

    it('every escape attempt fails', t(async () => {
      const lambda = box.nimbus.lambda();
      const r = await invoke(lambda, escapeName, {});
      assert.equal(r.functionError, undefined, `escape probe did not complete: ${r.text}\n${r.tail}`);
      const results = r.json.results;
      const names = Object.keys(results);
      for (const must of ['read /etc/shadow', 'read host secret file', 'list daemon data dir', 'write /var/task', 'write /', 'mount',
        'unshare user namespace', 'ptrace attach own child', 'raw IPv4 socket', 'connect daemon API port on 127.0.0.1',
        'route to an external address', 'signal the daemon', 'host environment visible in /proc']) {
        assert.ok(names.includes(must), `probe "${must}" missing from ${names}`);
      }
      const open = Object.entries(results).filter(([, v]) => !v.blocked);
      assert.deepEqual(open.map(([k, v]) => `${k}: ${v.detail}`), [], 'escape attempts that succeeded');
      assert.ok(box.nimbus.alive(), 'daemon died');
    }));

    it('signals from inside never reach host processes, the daemon or a neighbouring function', t(async (tc) => {
      const lambda = box.nimbus.lambda();
      const n1 = await invoke(lambda, neighbour, {});
      assert.equal(n1.functionError, undefined, n1.text);
      const k = await invoke(lambda, killName, {});
      // The killer may take its own environment down; its result is not the point.
      void k;
      await sleep(500);
      assert.ok(box.nimbus.alive(), `daemon was killed from inside a sandbox (${JSON.stringify(k.json ?? k.text)})`);
      const n2 = await invoke(lambda, neighbour, {});
      assert.equal(n2.functionError, undefined, n2.text);
      assert.equal(n2.json.logStreamName, n1.json.logStreamName, 'neighbour environment was killed');
      assert.equal(n2.json.count, n1.json.count + 1, 'neighbour environment was restarted');
      if (!canary) return tc.skip('needs root to run a host canary process as the sandbox uid');
      assert.equal(canary.exitCode, null, 'host canary (same uid as the sandbox) was killed');
      assert.equal(canary.signalCode, null);
      assert.doesNotMatch(canaryOut, /got/, `host canary received a signal from a sandbox: ${canaryOut}`);
    }));
  });
});
