// Soak (issue #8, scope 5): the daemon's peak warm-invoke throughput is measured
// first (closed loop, 16 keep-alive connections, 5 s), then it is held at 80 % of
// that rate, open loop, for NIMBUS_SOAK_SECONDS (default 60 in CI; the long form
// is 600: `NIMBUS_SOAK_SECONDS=600 node --test performance/soak.test.mjs`).
// Every request must succeed, 90 % of the rate must be held, and the daemon's resident
// memory must stay flat: the median of the last third of the samples (one every
// 2 s) within 8 MiB of the median of the first third. The figures (peak, rate
// held, p50/p99 latency, RSS) are printed as test diagnostics.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { useNimbus, withLogs, SKIP_NO_BINARY, uniqueName, sleep, CREDENTIALS } from '../lib/nimbus.mjs';
import { signedHeaders } from '../lib/sign.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const SECONDS = Number(process.env.NIMBUS_SOAK_SECONDS || 60);
const PEAK_SECONDS = 5;
// Four times the connections the peak was measured with: room for the open loop's bursts,
// while a daemon that falls behind shows as requests not sent.
const MAX_IN_FLIGHT = 64;

const HANDLER = 'exports.handler = async (event) => ({ ok: true, n: event.n });\n';

function rssKiB(pid) {
  const m = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
};
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

describe('soak', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it(`holds 80 % of peak throughput for ${SECONDS} s with no error and flat memory`, { timeout: (SECONDS + 120) * 1000 }, t(async (tc) => {
    const n = box.nimbus;
    const name = uniqueName('soak');
    await createFunction(n.lambda(), { name, zip: zipFiles({ 'index.js': HANDLER }), runtime: 'nodejs20.x', handler: 'index.handler' });
    assert.deepEqual((await invoke(n.lambda(), name, { n: 0 })).json, { ok: true, n: 0 });

    const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
    const errors = [];
    // One invoke over a kept-alive connection, signed as the SDKs sign (each body
    // differs, so each request is signed: ~40 µs of the client's CPU, counted in
    // the latency as an SDK's signing would be); resolves with its latency in ms.
    const path = `/2015-03-31/functions/${name}/invocations`;
    const call = async (i) => {
      const body = JSON.stringify({ n: i });
      const started = process.hrtime.bigint();
      const headers = await signedHeaders(`${n.endpoint}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, credentials: CREDENTIALS, service: 'lambda' });
      return send(i, body, headers, started);
    };
    const send = (i, body, headers, started) => new Promise((resolve) => {
      const req = http.request({
        host: '127.0.0.1', port: n.port, method: 'POST', agent, path,
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200 || res.headers['x-amz-function-error'] || text !== JSON.stringify({ ok: true, n: i })) {
            errors.push(`${res.statusCode} ${res.headers['x-amz-function-error'] ?? ''} ${text.slice(0, 200)}`);
          }
          resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      });
      req.on('error', (e) => {
        errors.push(e.message);
        resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
      req.end(body);
    });

    // Peak: 16 connections, closed loop.
    let seq = 1;
    let done = 0;
    const peakEnd = Date.now() + PEAK_SECONDS * 1000;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (Date.now() < peakEnd) {
        await call(seq++);
        done++;
      }
    }));
    const peak = done / PEAK_SECONDS;
    assert.deepEqual(errors, [], 'no error at peak');
    await sleep(1000);

    // Soak: open loop at 80 % of peak, a batch every 10 ms.
    const target = 0.8 * peak;
    const latencies = [];
    const rss = [];
    let inFlight = 0;
    let sent = 0;
    let skipped = 0;
    const started = Date.now();
    const end = started + SECONDS * 1000;
    const sampler = setInterval(() => rss.push(rssKiB(n.proc.pid)), 2000);
    const pending = new Set();
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - started) / 1000) * target);
      while (sent < due) {
        sent++;
        if (inFlight >= MAX_IN_FLIGHT) {
          skipped++;
          continue;
        }
        inFlight++;
        const p = call(seq++).then((ms) => {
          latencies.push(ms);
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      await sleep(10);
    }
    await Promise.all(pending);
    clearInterval(sampler);
    agent.destroy();

    const held = latencies.length / SECONDS;
    const sorted = latencies.sort((a, b) => a - b);
    const third = Math.max(1, Math.floor(rss.length / 3));
    const first = median(rss.slice(0, third));
    const last = median(rss.slice(-third));
    tc.diagnostic(`peak ${peak.toFixed(0)}/s; held ${held.toFixed(0)}/s of a ${target.toFixed(0)}/s target for ${SECONDS} s (${latencies.length} invokes, ${skipped} not sent: ${MAX_IN_FLIGHT} in flight)`);
    tc.diagnostic(`latency p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms; RSS first third ${(first / 1024).toFixed(1)} MiB, last third ${(last / 1024).toFixed(1)} MiB, max ${(Math.max(...rss) / 1024).toFixed(1)} MiB`);

    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} errors`);
    // Requests that found the in-flight cap full were not sent and count against
    // the rate held: a hiccup of this noisy 2-core host costs a little, a daemon
    // that falls behind fails here (90 %: CI shares its 2 cores with the client).
    assert.ok(held >= 0.9 * target, `held ${held.toFixed(0)}/s of ${target.toFixed(0)}/s (${skipped} not sent)`);
    assert.ok(last - first < 8 * 1024, `RSS grew from ${(first / 1024).toFixed(1)} to ${(last / 1024).toFixed(1)} MiB`);
  }));
});
