// Environment churn leaves nothing behind (issue #8, scope 5): a function that
// ends its own process on every invocation makes each invocation create an
// environment and destroy it.
// After NIMBUS_LEAK_CYCLES of those (default 400; the long form is 10,000:
// `NIMBUS_LEAK_CYCLES=10000 node --test security/leaks.test.mjs`), four at a time,
// the daemon is back where it started:
//   - the same open file descriptors (± the SDK's pooled connections) and threads;
//   - the same processes below it (stem cells refilled, no zombie, no orphan);
//   - no mount left mentioning its data directory;
//   - no cgroup left below its own;
//   - no file left in its data directory outside the logs, stores and code;
//   - resident memory grown by less than 32 MiB;
// and a normal function still answers. The figures (cycles per second, fds,
// RSS) are printed as test diagnostics.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useNimbus, withLogs, SKIP_NO_BINARY, uniqueName, sleep } from '../lib/nimbus.mjs';
import { createFunction, invoke, deleteQuietly } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { cgroupDirs } from '../lib/procs.mjs';

const CYCLES = Number(process.env.NIMBUS_LEAK_CYCLES || 400);
const PARALLEL = 4;

const CRASH = `import os
def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    return {"ok": True}
`;

function statusField(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

// Environment cgroups this daemon left: it creates one per environment,
// <own>/nimbus/<environment id>, beside its own <own>/nimbus-daemon (other
// daemons on the host may share <own>/nimbus, so only the ids this daemon
// logged are looked for).
function leftoverEnvironmentCgroups(n) {
  const ids = new Set([...n.stderr.matchAll(/environment ([0-9a-f]{32})/g)].map((m) => m[1]));
  const parents = new Set(cgroupDirs(n.proc.pid).map(({ dir }) =>
    (dir.endsWith('-daemon') ? dir.slice(0, -'-daemon'.length) : path.join(dir, 'nimbus'))));
  const left = [];
  for (const parent of parents) {
    for (const id of ids) if (fs.existsSync(path.join(parent, id))) left.push(path.join(parent, id));
  }
  return { checked: ids.size, left };
}

// Files in the data directory other than logs, the SQLite stores' own files
// and unpacked code (code/: a deleted function's directory is collected after a
// grace period, as code_gc.test.mjs shows; its blob goes at once).
function strayFiles(dataDir) {
  const found = [];
  const walk = (dir) => {
    let entries = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      const rel = path.relative(dataDir, p);
      if (['logs', 'code'].some((d) => rel === d || rel.startsWith(`${d}${path.sep}`))) continue;
      if (e.isDirectory()) walk(p);
      else if (!/\.db(-wal|-shm|-journal)?$/.test(e.name)) found.push(rel);
    }
  };
  walk(dataDir);
  return found.sort();
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 80);
  } catch {
    return '(exited)';
  }
}

function snapshot(n) {
  const pid = n.proc.pid;
  return {
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    threads: fs.readdirSync(`/proc/${pid}/task`).length,
    rssKiB: statusField(pid, 'VmRSS'),
    processes: n.descendants().map((d) => d.comm).sort(),
    detail: n.descendants().map((d) => `${d.pid} ${d.comm} ${cmdline(d.pid)}`),
    mounts: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(n.dataDir)),
    files: strayFiles(n.dataDir),
  };
}

describe('environment churn', { skip: SKIP_NO_BINARY }, () => {
  // Stem cells off: their number adapts to the rate of cold starts, which
  // would hide a process leak among them (tests/e2e/functional/stem_cells.test.mjs
  // covers them).
  const box = useNimbus({ args: ['--stem-cells', '0'] });
  const t = (fn) => withLogs(box, fn);

  it(`${CYCLES} environment create/destroy cycles leak no fd, process, mount, cgroup, file or memory`, { timeout: Math.max(600000, CYCLES * 200) }, t(async (tc) => {
    const n = box.nimbus;
    const lambda = n.lambda();
    // Environments pre-warmed for a function's traffic are not leaks: each
    // phase's function is deleted (its environments with it) before the daemon
    // is measured.
    const churn = async (count) => {
      const name = uniqueName('churn');
      await createFunction(lambda, { name, zip: zipFiles({ 'app.py': CRASH }), runtime: 'python3.12', handler: 'app.handler' });
      let next = 0;
      await Promise.all(Array.from({ length: PARALLEL }, async () => {
        while (next < count) {
          next += 1;
          const r = await invoke(lambda, name, { crash: true });
          assert.equal(r.functionError, 'Unhandled', r.text);
          assert.match(r.text, /Runtime.ExitError/);
        }
      }));
      const ok = await invoke(lambda, name, {});
      assert.deepEqual(ok.json, { ok: true }, 'the function still answers');
      await deleteQuietly(lambda, name);
    };
    // Settled: the same processes for two samples a second apart.
    const settled = async () => {
      let last = snapshot(n);
      for (let i = 0; i < 30; i++) {
        await sleep(1000);
        const s = snapshot(n);
        if (JSON.stringify(s.detail) === JSON.stringify(last.detail)) return s;
        last = s;
      }
      return last;
    };
    // Warm up: the client's connection pool, stem cells, caches.
    await churn(PARALLEL * 4);
    const before = await settled();

    const started = process.hrtime.bigint();
    await churn(CYCLES);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const after = await settled();

    tc.diagnostic(`${CYCLES} cycles in ${seconds.toFixed(1)} s (${(CYCLES / seconds).toFixed(1)}/s, ${PARALLEL} at a time)`);
    tc.diagnostic(`fds ${before.fds} → ${after.fds}; threads ${before.threads} → ${after.threads}; RSS ${(before.rssKiB / 1024).toFixed(1)} → ${(after.rssKiB / 1024).toFixed(1)} MiB; processes ${before.processes.length} → ${after.processes.length}`);

    assert.deepEqual(after.processes, before.processes, `the same processes below the daemon: ${JSON.stringify(after.detail)}`);
    assert.deepEqual(after.mounts, before.mounts, 'no mount left behind');
    const cgroups = leftoverEnvironmentCgroups(n);
    assert.ok(cgroups.checked >= CYCLES, `environment ids seen in the daemon's log: ${cgroups.checked}`);
    assert.deepEqual(cgroups.left, [], 'no environment cgroup left behind');
    assert.deepEqual(after.files, before.files, 'no file left in the data directory');
    // The log writer keeps up to 64 segment files open (obs::LogStore), the
    // client up to PARALLEL connections: bounded caches, not leaks.
    assert.ok(after.fds <= before.fds + PARALLEL + 64, `fds ${before.fds} → ${after.fds}`);
    assert.ok(after.threads <= before.threads + 2, `threads ${before.threads} → ${after.threads}`);
    assert.ok(after.rssKiB - before.rssKiB < 32 * 1024, `RSS grew by ${((after.rssKiB - before.rssKiB) / 1024).toFixed(1)} MiB`);
  }));
});
