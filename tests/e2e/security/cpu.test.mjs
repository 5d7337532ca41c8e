// CPU spinners (issue #8, scope 2): two functions busy-looping in four
// processes each cannot take the host's CPU from a neighbour. Each spinner's
// cgroup has a CPU quota of MemorySize / 1769 of a vCPU (Lambda's ratio), read
// back on the host; with both spinning, a warm neighbour's median invoke latency
// stays within 2× of its median on the idle host (both measured in this run,
// 150 sequential invokes each).
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, sleep, NIMBUS_BIN } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';
import { isRoot, processesInEnvironments, cgroupDirs, isNamespaceInit } from '../lib/procs.mjs';
import { environmentIds } from '../lib/logs.mjs';

const NEEDS_ROOT = isRoot() ? false : 'needs root: CPU quotas are enforced only when nimbus runs as root (or with delegated cgroups)';
const SPINNER_MB = 512;
// The neighbour has a whole vCPU, so its own quota (a 128 MB function may run
// 1.4 ms in every 20) does not throttle a tight invoke loop and what is measured
// is what the spinners take from it.
const NEIGHBOUR_MB = 1769;
const SAMPLES = 150;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The CPU quota of a process's cgroup, as a fraction of a CPU (v1 cfs or v2 cpu.max).
function cpuQuota(pid) {
  const read = (file) => {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch {
      return null;
    }
  };
  for (const { controller, dir } of cgroupDirs(pid)) {
    if (controller === 'cpu') {
      const quota = Number(read(path.join(dir, 'cpu.cfs_quota_us')));
      const period = Number(read(path.join(dir, 'cpu.cfs_period_us')));
      if (quota > 0 && period > 0) return quota / period;
    }
    if (controller === 'unified') {
      const max = read(path.join(dir, 'cpu.max'));
      if (max && !max.startsWith('max')) {
        const [quota, period] = max.split(' ').map(Number);
        return quota / period;
      }
    }
  }
  return null;
}

// How often and how long a process's cgroup was throttled (v1 or v2 cpu.stat).
function cpuThrottling(pid) {
  for (const { controller, dir } of cgroupDirs(pid)) {
    if (controller !== 'cpu' && controller !== 'unified') continue;
    let text;
    try {
      text = fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8');
    } catch {
      continue;
    }
    const stat = Object.fromEntries(text.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    if (stat.nr_throttled === undefined) continue;
    const ms = stat.throttled_usec !== undefined ? stat.throttled_usec / 1e3 : (stat.throttled_time ?? 0) / 1e6;
    return { periods: stat.nr_periods, throttled: stat.nr_throttled, ms };
  }
  return null;
}

describe('CPU spinners (hostile functions)', { skip: SKIP_NO_BINARY || NEEDS_ROOT }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let neighbour;

  before(async () => {
    neighbour = uniqueName('cpu-neighbour');
    await createFunction(box.nimbus.lambda(), { name: neighbour, zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.handler', MemorySize: NEIGHBOUR_MB });
  });

  async function neighbourLatencies() {
    const lambda = box.nimbus.lambda();
    const out = [];
    for (let i = 0; i < SAMPLES; i++) {
      const started = process.hrtime.bigint();
      const r = await invoke(lambda, neighbour, { i });
      out.push(Number(process.hrtime.bigint() - started) / 1e6);
      assert.equal(r.functionError, undefined, r.text);
    }
    return out;
  }

  it('two spinners at their quota leave a neighbour within 2× of its idle latency', { timeout: 180000 }, t(async (tc) => {
    const lambda = box.nimbus.lambda();
    await neighbourLatencies(); // warm: its environment, the client's connections
    const neighbourPid = processesInEnvironments(await environmentIds(box.nimbus.logs(), neighbour))
      .find((p) => p.cmdline?.[0] !== NIMBUS_BIN && !isNamespaceInit(p.pid))?.pid;
    const throttling = () => (neighbourPid ? cpuThrottling(neighbourPid) : null);
    const delta = (a, b) => (a && b ? `${b.throttled - a.throttled} of ${b.periods - a.periods} periods, ${(b.ms - a.ms).toFixed(1)} ms` : 'unknown');
    const t0 = throttling();
    const idle = await neighbourLatencies();
    const t1 = throttling();

    const spinners = [uniqueName('spinner'), uniqueName('spinner')];
    for (const name of spinners) {
      await createFunction(lambda, { name, zip: zipFixture('hostile', 'spinner'), runtime: 'python3.11', handler: 'app.handler', MemorySize: SPINNER_MB, Timeout: 60 });
    }
    const spinning = spinners.map((name) => lambda.send(new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ seconds: 25, processes: 4 }) })));
    await sleep(3000); // past their init, when the quota is applied
    const quotas = [];
    for (const name of spinners) {
      const procs = processesInEnvironments(await environmentIds(box.nimbus.logs(), name))
        .filter((p) => p.cmdline?.[0] !== NIMBUS_BIN && !isNamespaceInit(p.pid));
      assert.ok(procs.length >= 4, `${name}: ${procs.length} spinning processes found on the host`);
      quotas.push(cpuQuota(procs[0].pid));
    }
    const t2 = throttling();
    const busy = await neighbourLatencies();
    const t3 = throttling();
    const results = await Promise.all(spinning);
    for (const r of results) {
      assert.equal(r.FunctionError, undefined, Buffer.from(r.Payload ?? []).toString());
      assert.equal(JSON.parse(Buffer.from(r.Payload).toString()).processes, 4);
    }

    const expected = SPINNER_MB / 1769;
    tc.diagnostic(`spinner CPU quota ${quotas.map((q) => q?.toFixed(3)).join(', ')} (expected ${expected.toFixed(3)} of a CPU each)`);
    tc.diagnostic(`neighbour throttled: idle ${delta(t0, t1)}; with the spinners ${delta(t2, t3)}`);
    tc.diagnostic(`neighbour p50: idle ${median(idle).toFixed(2)} ms, with the spinners ${median(busy).toFixed(2)} ms`);
    for (const q of quotas) assert.ok(q !== null && Math.abs(q - expected) < 0.01, `quota ${q} (expected ${expected.toFixed(3)})`);
    assert.ok(median(busy) <= 2 * median(idle), `neighbour p50 ${median(busy).toFixed(2)} ms with spinners vs ${median(idle).toFixed(2)} ms idle`);
  }));
});
