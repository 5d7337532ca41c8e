// Nimbus benchmark: asynchronous invocation acceptance. Starts `nimbus serve`
// on a free port with a temporary data directory, creates a no-op Python
// function, and fires Event invokes (X-Amz-Invocation-Type: Event) over many
// keep-alive connections. Every 202 means the event was fsync'd to
// <data>/async.db (group commit). Prints accepted events/s and the p50/p99
// acceptance latency, then waits (bounded) for the queue to drain.
//
// The daemon verifies SigV4: an admin key is written to <data>/credentials.json
// before it starts and every request is signed (bench/sigv4.mjs). Each event has
// its own body, hence its own signature: all are signed before the clock starts,
// so the figures are the server's acceptance, not the client's signing.
//
// Usage: node bench/async.mjs [--nimbus build/nimbus] [--events 20000]
//          [--connections 64] [--async-concurrency 32] [--json out.json]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Signer, writeAdminKey } from './sigv4.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const NIMBUS = args.nimbus ?? path.resolve(import.meta.dirname, '../build/nimbus');
const EVENTS = Number(args.events ?? 20000);
const CONNECTIONS = Number(args.connections ?? 64);
const ASYNC_CONCURRENCY = String(args['async-concurrency'] ?? 32);
const JSON_OUT = args.json;

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });

function request(port, method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function zipOf(files) {
  const dir = mkdtempSync(path.join(tmpdir(), 'nimbus-bench-src-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const zip = path.join(dir, 'f.zip');
  execFileSync('zip', ['-q', '-j', zip, ...Object.keys(files).map((f) => path.join(dir, f))]);
  const bytes = execFileSync('cat', [zip]);
  rmSync(dir, { recursive: true, force: true });
  return bytes;
}

async function main() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nimbus-bench-async-'));
  const signer = new Signer(writeAdminKey(dataDir));
  const proc = spawn(NIMBUS, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--async-concurrency', ASYNC_CONCURRENCY], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr.resume();
  const port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (c) => reject(new Error(`nimbus exited ${c}`)));
  });
  try {
    const name = 'bench-async';
    const host = `127.0.0.1:${port}`;
    const zip = zipOf({ 'app.py': 'def handler(event, context):\n    return None\n' });
    const createBody = JSON.stringify({
      FunctionName: name, Runtime: 'python3.11', Handler: 'app.handler', Role: 'arn:aws:iam::000000000000:role/bench',
      Code: { ZipFile: zip.toString('base64') },
    });
    const created = await request(port, 'POST', '/2015-03-31/functions', createBody,
      await signer.sign('lambda', 'POST', host, '/2015-03-31/functions', createBody, { 'Content-Type': 'application/json' }));
    if (created.status !== 201) throw new Error(`create: ${created.status} ${created.body}`);

    // Every event signed up front (valid 15 minutes: far longer than the run).
    const invokePath = `/2015-03-31/functions/${name}/invocations`;
    const eventHeaders = { 'X-Amz-Invocation-Type': 'Event', 'Content-Type': 'application/json' };
    const events = [];
    for (let i = 0; i < EVENTS; i++) {
      const body = JSON.stringify({ i });
      events.push({ body, headers: await signer.sign('lambda', 'POST', host, invokePath, body, eventHeaders) });
    }

    const latencies = [];
    let next = 0;
    let failures = 0;
    const started = process.hrtime.bigint();
    const worker = async () => {
      while (next < EVENTS) {
        const { body, headers } = events[next++];
        const t0 = process.hrtime.bigint();
        const r = await request(port, 'POST', invokePath, body, headers);
        if (r.status !== 202) failures += 1;
        else latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    latencies.sort((a, b) => a - b);
    const result = {
      events: EVENTS,
      connections: CONNECTIONS,
      async_concurrency: Number(ASYNC_CONCURRENCY),
      accepted: latencies.length,
      failures,
      seconds: Number(seconds.toFixed(3)),
      events_per_second: Math.round(latencies.length / seconds),
      p50_ms: Number(percentile(latencies, 50).toFixed(2)),
      p99_ms: Number(percentile(latencies, 99).toFixed(2)),
    };
    console.log(`async acceptance: ${result.accepted} events over ${CONNECTIONS} connections in ${result.seconds} s`);
    console.log(`  ${result.events_per_second} events/s accepted durably (fsync'd), p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, ${failures} refused`);
    if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(result, null, 2));
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.on('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
