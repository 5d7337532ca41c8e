// Nimbus benchmark: every row of issue #4, with the peers measured in the same run.
//
//   1 warm sync invoke, no-op Python and Node handlers, 1 keep-alive connection: p50/p99
//   2 throughput, no-op handler, 64 connections (wrk): invokes/s
//   3 cold start, fresh environment to first response, Python and Node: p50/p99
//   4 scale-out: burst of 200 concurrent 1-second invokes to an idle function
//   5 density: N idle warm Python environments, daemon RSS and environment memory
//   6 daemon CPU per warm invoke in instructions (callgrind; --callgrind)
//   7 async acceptance (bench/async.mjs)
//   8 services: S3 PUT/GET 4 KB and 1 MB, SQS send and receive+delete, queue -> function
//     latency (bench/services.mjs; issue #5)
//
// Peers: a bare Node `http` server answering "ok" (the floor of one HTTP round
// trip), workerd (Cloudflare's isolate runtime) running the same no-op logic as
// a worker, and serverless-offline 13 under serverless 3 running the same Python
// and Node handlers behind its Lambda Invoke endpoint. All traffic on 127.0.0.1.
//
// Usage: node bench/bench.mjs [--nimbus build/nimbus] [--json bench/results.json]
//   [--warm 3000] [--cold 40] [--peer-cold 20] [--duration 8] [--connections 64]
//   [--burst 200] [--density 100] [--callgrind 0|1] [--callgrind-invokes 500]
//   [--async-events 20000] [--only warm,auth,throughput,cold,scaleout,density,callgrind,async,services]
//   [--no-peers 1]
//
// `nimbus serve` verifies every API request (SigV4, keys in <data>/credentials.json):
// each daemon here gets an admin key written before it starts, and every request is
// signed with @smithy/signature-v4 (bench/sigv4.mjs), outside the timed region. The
// peers verify nothing; they get the same signed requests. Row "auth" measures what
// verification costs: warm invoke latency against `--auth=dev` vs the verifying daemon.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync, symlinkSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Signer, basicAuth, writeAdminKey } from './sigv4.mjs';

const HERE = import.meta.dirname;
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const NIMBUS = path.resolve(args.nimbus ?? path.join(HERE, '../build/nimbus'));
const JSON_OUT = args.json ?? path.join(HERE, 'results.json');
const WARM = Number(args.warm ?? 3000);
const COLD = Number(args.cold ?? 40);
const PEER_COLD = Number(args['peer-cold'] ?? 20);
const DURATION = Number(args.duration ?? 8);
const WARMUP_S = Number(args['warmup'] ?? 5);
const CONNECTIONS = Number(args.connections ?? 64);
const BURST = Number(args.burst ?? 200);
const DENSITY = Number(args.density ?? 100);
const CALLGRIND = args.callgrind !== '0';
const CALLGRIND_INVOKES = Number(args['callgrind-invokes'] ?? 500);
// A clean shutdown under valgrind takes ~1 s; beyond this the daemon is hung.
const CALLGRIND_STOP_MS = 60000;
const ASYNC_EVENTS = Number(args['async-events'] ?? 20000);
const ONLY = args.only ? new Set(args.only.split(',')) : null;
const PEERS = args['no-peers'] === undefined;
const want = (row) => !ONLY || ONLY.has(row);

const PY_NOOP = 'def handler(event, context):\n    return "ok"\n';
const NODE_NOOP = 'export const handler = async () => "ok";\n';
const PY_SLEEP = 'import time\n\ndef handler(event, context):\n    t = time.time()\n    time.sleep(1)\n    return {"start": t}\n';

// Signs the requests sent to the peers, which do not verify them (same bytes as Nimbus gets).
const PEER_SIGNER = new Signer({ accessKeyId: 'AKIDNIMBUSBENCH', secretAccessKey: 'nimbus-bench-secret' });
// Headers of a signed Lambda Invoke (POST '{}') to 127.0.0.1:port (cached, re-signed after 5 min).
const invokeHeaders = (signer, port, urlPath, headers = {}) => signer.headers('lambda', 'POST', `127.0.0.1:${port}`, urlPath, '{}', headers);

const TMP = mkdtempSync(path.join(tmpdir(), 'nimbus-bench-'));
const children = new Set();
const log = (...a) => console.error('[bench]', ...a);

// ---------------------------------------------------------------- helpers

function request(agent, port, method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x) => Number(x.toFixed(3));
  return { n: s.length, p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), min: r(s[0]), max: r(s[s.length - 1]) };
}
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function track(child, name) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.name = name;
  return child;
}

async function stop(child, signal = 'SIGTERM', timeoutMs = 15000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try { child.detached ? process.kill(-child.pid, signal) : child.kill(signal); } catch { /* gone */ }
  const t = setTimeout(() => { try { child.detached ? process.kill(-child.pid, 'SIGKILL') : child.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs);
  await exited;
  clearTimeout(t);
}

function zipOf(files) {
  const dir = mkdtempSync(path.join(TMP, 'src-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const zip = path.join(dir, 'f.zip');
  execFileSync('zip', ['-q', '-X', zip, ...Object.keys(files)], { cwd: dir });
  return readFileSync(zip).toString('base64');
}

// Polls until POST url answers 200 (for peers whose "listening" line comes early).
async function waitReady(port, urlPath, timeoutMs, child) {
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${child.name} exited ${child.exitCode}`);
    try {
      const r = await request(agent, port, 'POST', urlPath, '{}');
      if (r.status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`not ready on ${port}${urlPath} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

// Reads /proc: descendants of pid (inclusive) and their Pss / Rss in kB.
function procTree(root) {
  const kids = new Map();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(e));
    } catch { /* exited */ }
  }
  const out = [];
  const walk = (p) => { out.push(p); for (const k of kids.get(p) ?? []) walk(k); };
  walk(root);
  return out;
}
function memOf(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number((t.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) ?? [0, 0])[1]);
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch { return { rss: 0, pss: 0 }; }
}
function treePssKb(root, { excludeRoot = false } = {}) {
  return procTree(root).filter((p) => !excludeRoot || p !== root).reduce((a, p) => a + memOf(p).pss, 0);
}

// ---------------------------------------------------------------- targets

async function startNimbus(extra = [], wrapper = null, env = process.env) {
  const dataDir = mkdtempSync(path.join(TMP, 'data-'));
  const creds = writeAdminKey(dataDir);  // before the daemon starts: it reads the file once
  const signer = new Signer(creds);
  const argv = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extra];
  const [cmd, cargs] = wrapper ? [wrapper[0], [...wrapper.slice(1), NIMBUS, ...argv]] : [NIMBUS, argv];
  const child = track(spawn(cmd, cargs, { stdio: ['ignore', 'pipe', 'pipe'], env }), 'nimbus');
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 1e6) stderr = stderr.slice(-1e5); });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`nimbus exited ${code}: ${stderr.slice(-2000)}`)));
  });
  child.stdout.resume();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const host = `127.0.0.1:${port}`;
  const metricsAuth = { Authorization: basicAuth(creds) };
  const nimbus = {
    child, port, dataDir, agent, signer,
    async create(name, runtime, zip, { memory = 1769, timeout = 30, handler } = {}) {
      const body = JSON.stringify({
        FunctionName: name, Runtime: runtime, Handler: handler ?? (runtime.startsWith('python') ? 'app.handler' : 'index.handler'),
        MemorySize: memory, Timeout: timeout, Role: 'arn:aws:iam::000000000000:role/bench', Code: { ZipFile: zip },
      });
      const r = await request(agent, port, 'POST', '/2015-03-31/functions', body,
        await signer.sign('lambda', 'POST', host, '/2015-03-31/functions', body, { 'content-type': 'application/json' }));
      if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body}`);
    },
    path: (name) => `/2015-03-31/functions/${name}/invocations`,
    // One unlabelled sample of GET /metrics (HTTP Basic: the admin key).
    async metric(name) {
      const r = await request(agent, port, 'GET', '/metrics', '', metricsAuth);
      if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.body.slice(0, 200)}`);
      const line = r.body.split('\n').find((l) => l.startsWith(`${name} `));
      return line ? Number(line.split(' ')[1]) : null;
    },
    // Waits (up to 5 s) until no stem cell is being started: the pool is full.
    async poolReady() {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && (await this.metric('nimbus_stem_cells_launching')) > 0) await sleep(5);
    },
    stderrTail: (chars = 600) => stderr.slice(-chars),
    async stop() { await stop(child); rmSync(dataDir, { recursive: true, force: true }); },
  };
  return nimbus;
}

async function startFloor() {
  const port = await freePort();
  const child = track(spawn(process.execPath, [path.join(HERE, 'peers/floor.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }), 'floor');
  child.stdout.resume();
  await waitReady(port, '/', 10000, child);
  return { name: 'node http (floor)', port, path: () => '/', child, stop: () => stop(child) };
}

function workerdBinary() {
  const require = createRequire(path.join(HERE, 'package.json'));
  return path.join(path.dirname(require.resolve('@cloudflare/workerd-linux-64/package.json')), 'bin/workerd');
}

async function startWorkerd(port) {
  port ??= await freePort();
  const t0 = now();
  const child = track(spawn(workerdBinary(), ['serve', path.join(HERE, 'peers/config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] }), 'workerd');
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  await waitReadyFast(port, child);
  const firstResponseMs = now() - t0;
  return { name: 'workerd', port, path: () => '/', child, firstResponseMs, stop: () => stop(child), stderr: () => stderr };
}

// Tight connect loop (1 ms) for measuring process start to first response.
async function waitReadyFast(port, child) {
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${child.name} exited ${child.exitCode}`);
    try {
      const r = await request(agent, port, 'POST', '/', '{}');
      if (r.status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${child.name} not ready on ${port}`);
    await sleep(1);
  }
}

// serverless-offline 13 under serverless 3: a generated service with the no-op
// handlers, a sleeping one (scale-out) and PEER_COLD fresh functions per runtime.
async function startServerlessOffline() {
  const dir = mkdtempSync(path.join(TMP, 'sls-'));
  symlinkSync(path.join(HERE, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module","private":true}\n');
  writeFileSync(path.join(dir, 'handler.py'), PY_NOOP);
  writeFileSync(path.join(dir, 'handler.js'), NODE_NOOP);
  writeFileSync(path.join(dir, 'sleep.py'), PY_SLEEP);
  const [lambdaPort, httpPort, wsPort] = [await freePort(), await freePort(), await freePort()];
  const fns = [
    '  noopPy: {handler: handler.handler, runtime: python3.11}',
    '  noopNode: {handler: handler.handler, runtime: nodejs20.x}',
    '  sleepPy: {handler: sleep.handler, runtime: python3.11, timeout: 30}',
  ];
  for (let i = 0; i < PEER_COLD; i++) {
    fns.push(`  coldPy${i}: {handler: handler.handler, runtime: python3.11}`);
    fns.push(`  coldNode${i}: {handler: handler.handler, runtime: nodejs20.x}`);
  }
  writeFileSync(path.join(dir, 'serverless.yml'), [
    'service: bench', "frameworkVersion: '3'",
    'provider: {name: aws, region: us-east-1, stage: dev}',
    'plugins: [serverless-offline]',
    'custom:', '  serverless-offline:',
    `    {host: 127.0.0.1, lambdaPort: ${lambdaPort}, httpPort: ${httpPort}, websocketPort: ${wsPort}, noPrependStageInUrl: true}`,
    'functions:', ...fns, '',
  ].join('\n'));
  const env = {
    ...process.env, AWS_ACCESS_KEY_ID: 'AKIDNIMBUSBENCH', AWS_SECRET_ACCESS_KEY: 'nimbus-bench-secret',
    AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off', SLS_DEPRECATION_DISABLE: '*', SLS_INTERACTIVE_SETUP_DISABLE: '1', CI: '1',
  };
  const child = track(spawn(process.execPath, [path.join(HERE, 'node_modules/serverless/bin/serverless.js'), 'offline', 'start'],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }), 'serverless-offline');
  let out = '';
  child.stdout.on('data', (d) => { out += d; if (out.length > 1e6) out = out.slice(-1e5); });
  child.stderr.on('data', (d) => { out += d; });
  const p = (name) => `/2015-03-31/functions/bench-dev-${name}/invocations`;
  // Readiness probe: the sleeping function's first call warms nothing the rows use.
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + 120000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serverless-offline exited ${child.exitCode}: ${out.slice(-2000)}`);
    try { await new Promise((res, rej) => { const s = net.connect(lambdaPort, '127.0.0.1', () => { s.destroy(); res(); }); s.on('error', rej); }); break; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`serverless-offline not listening: ${out.slice(-2000)}`);
    await sleep(200);
  }
  return { name: 'serverless-offline', port: lambdaPort, path: p, child, agent, dir, out: () => out, stop: () => stop(child) };
}

// ---------------------------------------------------------------- measurements

// The request is signed before the clock starts (one signature, reused: SigV4 allows replays
// for 15 minutes; re-signed after 5), so the figure is the server's, not the signer's.
async function warmLatency(port, urlPath, n = WARM, signer = PEER_SIGNER, { warmup = 200, samples = [] } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const once = async (headers) => {
    const r = await request(agent, port, 'POST', urlPath, '{}', headers);
    if (r.status !== 200 || r.headers['x-amz-function-error']) throw new Error(`POST ${urlPath}: ${r.status} ${r.body.slice(0, 300)}`);
  };
  for (let i = 0; i < Math.min(warmup, n); i++) await once(await invokeHeaders(signer, port, urlPath));
  for (let i = 0; i < n; i++) {
    const headers = await invokeHeaders(signer, port, urlPath);
    const t0 = now(); await once(headers); samples.push(now() - t0);
  }
  agent.destroy();
  return summary(samples);
}

async function firstInvoke(port, urlPath, signer = PEER_SIGNER) {
  const agent = new http.Agent({ keepAlive: false });
  const headers = await invokeHeaders(signer, port, urlPath);
  const t0 = now();
  const r = await request(agent, port, 'POST', urlPath, '{}', headers);
  const ms = now() - t0;
  if (r.status !== 200 || r.headers['x-amz-function-error']) throw new Error(`POST ${urlPath}: ${r.status} ${r.body.slice(0, 300)}`);
  return ms;
}

// wrk sends one request over and over: it is signed here (per run) and post.lua adds the
// headers from the environment.
async function wrk(port, urlPath, seconds, connections = CONNECTIONS, signer = PEER_SIGNER) {
  const h = await signer.sign('lambda', 'POST', `127.0.0.1:${port}`, urlPath, '{}', { 'content-type': 'application/json' });
  const env = { ...process.env, NIMBUS_BENCH_X_AMZ_DATE: h['x-amz-date'], NIMBUS_BENCH_AUTHORIZATION: h.authorization };
  if (h['x-amz-content-sha256']) env.NIMBUS_BENCH_X_AMZ_CONTENT_SHA256 = h['x-amz-content-sha256'];
  else delete env.NIMBUS_BENCH_X_AMZ_CONTENT_SHA256;
  const out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', path.join(HERE, 'post.lua'),
    `http://127.0.0.1:${port}${urlPath}`], { encoding: 'utf8', env }).toString();
  const num = (re) => Number((out.match(re) ?? [0, 0])[1]);
  const requests = num(/(\d+) requests in/);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  const m = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = m ? m.slice(1).reduce((a, x) => a + Number(x), 0) : 0;
  const secs = (() => { const t = out.match(/requests in ([\d.]+)(m?s)/); return t ? Number(t[1]) / (t[2] === 'ms' ? 1000 : 1) : seconds; })();
  return { rps: Math.round((requests - non2xx) / secs), requests, non2xx, socket_errors: socketErrors, seconds: secs, connections };
}

// Warm-up pass of WARMUP_S seconds (lets every target scale out to 64 environments/processes), then the measured pass.
async function throughput(port, urlPath, signer = PEER_SIGNER) {
  await wrk(port, urlPath, WARMUP_S, CONNECTIONS, signer);
  return wrk(port, urlPath, DURATION, CONNECTIONS, signer);
}

// A burst of BURST concurrent 1-second invokes; each response carries the
// handler's start time (wall clock, same host clock inside the sandbox).
async function burst(port, urlPath, signer = PEER_SIGNER) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: BURST + 8 });
  const headers = await invokeHeaders(signer, port, urlPath);
  const t0 = Date.now() / 1000;
  const results = await Promise.all(Array.from({ length: BURST }, () =>
    request(agent, port, 'POST', urlPath, '{}', headers).catch((e) => ({ status: 0, body: String(e), headers: {} }))));
  agent.destroy();
  const starts = [];
  let throttled = 0, errors = 0;
  for (const r of results) {
    if (r.status === 429) { throttled++; continue; }
    let start = null;
    try { start = JSON.parse(r.body).start; } catch { /* not json */ }
    if (r.status !== 200 || r.headers['x-amz-function-error'] || typeof start !== 'number') { errors++; continue; }
    starts.push((start - t0) * 1000);
  }
  starts.sort((a, b) => a - b);
  return {
    invokes: BURST, running: starts.length, throttled, errors,
    all_running_ms: starts.length ? Math.round(starts[starts.length - 1]) : null,
    p50_start_ms: starts.length ? Math.round(percentile(starts, 50)) : null,
    complete_ms: Math.round(Date.now() - t0 * 1000),
  };
}

function memoryCgroupDir(pid) {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (line) return path.join('/sys/fs/cgroup/memory', line.split(':')[2]);
  const v2 = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
  return v2 ? path.join('/sys/fs/cgroup', v2.slice(3)) : null;
}

// Sum of memory usage of the environments' cgroups (<daemon cgroup>/../nimbus/<id>
// or <daemon cgroup>/nimbus/<id>, wherever the daemon placed them).
function envCgroupsUsage(daemonPid) {
  const own = memoryCgroupDir(daemonPid);
  if (!own) return null;
  for (const parent of [path.join(own, 'nimbus'), path.join(path.dirname(own), 'nimbus')]) {
    if (!existsSync(parent)) continue;
    let bytes = 0, count = 0;
    for (const e of readdirSync(parent, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      for (const f of ['memory.usage_in_bytes', 'memory.current']) {
        const p = path.join(parent, e.name, f);
        if (existsSync(p)) { bytes += Number(readFileSync(p, 'utf8')); count++; break; }
      }
    }
    return { dir: parent, bytes, count };
  }
  return null;
}

// Total instructions (Ir) in the daemon's own profile. Callgrind creates the file
// empty when the process starts and fills it only when the process exits normally,
// so a daemon that hung at shutdown and was SIGKILLed leaves an empty file: that is
// an error to report, never a null figure.
function callgrindIr(file, pid) {
  if (!existsSync(file)) throw new Error(`no callgrind output ${file}`);
  const t = readFileSync(file, 'utf8');
  const owner = t.match(/^pid:\s+(\d+)/m);
  if (owner && Number(owner[1]) !== pid) throw new Error(`${file} is the profile of pid ${owner[1]}, not of the daemon ${pid}`);
  const m = t.match(/^totals:\s+(\d+)/m) ?? t.match(/^summary:\s+(\d+)/m);
  if (!m) throw new Error(`${file} (${t.length} bytes) has no totals: the daemon did not finish its callgrind dump`);
  return Number(m[1]);
}

// ---------------------------------------------------------------- rows

const R = { date: new Date().toISOString(), host: `${process.platform} ${process.arch}, ${(await import('node:os')).cpus().length} cores`, rows: {} };
const notMeasured = {};

async function peerRun(name, fn) {
  if (!PEERS) { notMeasured[name] = 'peers disabled (--no-peers)'; return; }
  try { await fn(); } catch (e) {
    notMeasured[name] = String(e.message ?? e).split('\n')[0].slice(0, 200);
    log(`${name}: not measured: ${notMeasured[name]}`);
  }
}

async function nimbusRows() {
  const pyZip = zipOf({ 'app.py': PY_NOOP });
  const nodeZip = zipOf({ 'index.mjs': NODE_NOOP });
  if (want('warm') || want('throughput') || want('cold')) {
    log('nimbus: warm, throughput, cold');
    const n = await startNimbus();
    try {
      await n.create('noop-py', 'python3.11', pyZip);
      await n.create('noop-node', 'nodejs20.x', nodeZip);
      await n.create('noop-py-128', 'python3.11', pyZip, { memory: 128 });
      if (want('warm')) {
        R.rows.warm_python = { nimbus: await warmLatency(n.port, n.path('noop-py'), WARM, n.signer) };
        R.rows.warm_node = { nimbus: await warmLatency(n.port, n.path('noop-node'), WARM, n.signer) };
        R.rows.warm_python_128mb = { nimbus: await warmLatency(n.port, n.path('noop-py-128'), WARM, n.signer) };
      }
      if (want('throughput')) {
        R.rows.throughput_python = { nimbus: await throughput(n.port, n.path('noop-py'), n.signer) };
        R.rows.throughput_node = { nimbus: await throughput(n.port, n.path('noop-node'), n.signer) };
      }
      if (want('cold')) {
        // With the stem cell pool full (a cold start after the pool refilled), then back to
        // back (each cold start right after the previous one: the pool of 2 drains).
        for (const [rt, zip, key] of [['python3.11', pyZip, 'python'], ['nodejs20.x', nodeZip, 'node']]) {
          for (const [mode, suffix] of [['ready', ''], ['burst', '_back_to_back']]) {
            const s = [];
            for (let i = 0; i < COLD; i++) {
              const name = `cold-${mode}-${rt.replace('.', '')}-${i}`;
              await n.create(name, rt, zip, { memory: 1769 });
              if (mode === 'ready') await n.poolReady();
              s.push(await firstInvoke(n.port, n.path(name), n.signer));
            }
            R.rows[`cold_${key}${suffix}`] = { nimbus: summary(s) };
          }
        }
      }
    } finally { await n.stop(); }
    if (want('cold')) {
      // Every cold start launches a sandbox and starts the interpreter (no stem cells).
      const plain = await startNimbus(['--stem-cells', '0']);
      try {
        for (const [rt, zip, key] of [['python3.11', pyZip, 'python'], ['nodejs20.x', nodeZip, 'node']]) {
          const s = [];
          for (let i = 0; i < COLD; i++) {
            const name = `cold-plain-${rt.replace('.', '')}-${i}`;
            await plain.create(name, rt, zip, { memory: 1769 });
            s.push(await firstInvoke(plain.port, plain.path(name), plain.signer));
          }
          R.rows[`cold_${key}_no_stem_cells`] = { nimbus: summary(s) };
        }
      } finally { await plain.stop(); }
    }
  }

  if (want('auth')) {
    // What verifying SigV4 costs a warm invoke: the same signed request, sequential, against
    // a daemon that verifies it (the default) and one started with --auth=dev (loopback only;
    // accepts any credentials without looking at them), in alternating rounds so that the
    // machine's noise falls on both. Informational: no target.
    log('nimbus: warm invoke, verifying vs --auth=dev');
    const verify = await startNimbus();
    let dev = null;
    try {
      dev = await startNimbus(['--auth=dev']);
      for (const n of [verify, dev]) await n.create('noop-py', 'python3.11', pyZip);
      const samples = { verify: [], dev: [] };
      const rounds = 4, per = Math.ceil(WARM / rounds);
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 ? [['dev', dev], ['verify', verify]] : [['verify', verify], ['dev', dev]];
        for (const [k, n] of order) {
          await warmLatency(n.port, n.path('noop-py'), per, n.signer, { warmup: round === 0 ? 200 : 20, samples: samples[k] });
        }
      }
      R.rows.auth_python = { nimbus: summary(samples.verify), auth_dev: summary(samples.dev) };
    } finally {
      await verify.stop();
      if (dev) await dev.stop();
    }
  }

  if (want('scaleout')) {
    log('nimbus: scale-out');
    const n = await startNimbus(['--max-concurrency', String(Math.max(1000, BURST))]);
    try {
      await n.create('sleep-py', 'python3.11', zipOf({ 'app.py': PY_SLEEP }), { memory: 128 });
      R.rows.scaleout = { nimbus: await burst(n.port, n.path('sleep-py'), n.signer) };
    } finally { await n.stop(); }
  }

  if (want('density')) {
    log(`nimbus: density (${DENSITY} environments)`);
    const n = await startNimbus(['--max-concurrency', String(Math.max(1000, DENSITY))]);
    try {
      await sleep(500);
      const rssBefore = memOf(n.child.pid).rss;
      let next = 0;
      const names = Array.from({ length: DENSITY }, (_, i) => `idle-${i}`);
      for (const name of names) await n.create(name, 'python3.11', pyZip, { memory: 128 });
      const workers = Array.from({ length: 4 }, async () => {
        while (next < names.length) { const name = names[next++]; await firstInvoke(n.port, n.path(name), n.signer); }
      });
      await Promise.all(workers);
      await sleep(2000);
      const rssAfter = memOf(n.child.pid).rss;
      const envPssKb = treePssKb(n.child.pid, { excludeRoot: true });
      const cg = envCgroupsUsage(n.child.pid);
      R.rows.density = {
        nimbus: {
          environments: DENSITY,
          daemon_rss_mb: Number((rssAfter / 1024).toFixed(1)),
          daemon_rss_idle_mb: Number((rssBefore / 1024).toFixed(1)),
          daemon_kb_per_env: Math.round((rssAfter - rssBefore) / DENSITY),
          env_pss_mb_per_env: Number((envPssKb / 1024 / DENSITY).toFixed(2)),
          env_cgroup_mb_per_env: cg && cg.count ? Number((cg.bytes / 1048576 / cg.count).toFixed(2)) : null,
          env_cgroups: cg ? cg.count : 0,
          projected_envs_in_24gib: Math.floor((24 * 1024 * 1024) / (envPssKb / DENSITY + (rssAfter - rssBefore) / DENSITY)),
        },
      };
    } finally { await n.stop(); }
  }

  if (want('callgrind') && CALLGRIND) {
    log(`nimbus: callgrind (${CALLGRIND_INVOKES} warm invokes vs 0)`);
    try {
      execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
      // valgrind 3.19 lacks seccomp(2) and guards RLIMIT_NOFILE: see callgrind/vgshim.c.
      const shim = path.join(TMP, 'vgshim.so');
      execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-o', shim, path.join(HERE, 'callgrind/vgshim.c'), '-ldl']);
      const ir = {};
      for (const count of [0, CALLGRIND_INVOKES]) {
        const out = path.join(TMP, `callgrind.${count}.%p`);
        const n = await startNimbus([], ['valgrind', '--tool=callgrind', '--trace-children=no', `--callgrind-out-file=${out}`],
          { ...process.env, LD_PRELOAD: shim });
        try {
          await n.create('noop-py', 'python3.11', pyZip);
          for (let i = 0; i < 50; i++) await firstInvoke(n.port, n.path('noop-py'), n.signer).catch(() => {});
          const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
          for (let i = 0; i < count; i++) {
            const r = await request(a, n.port, 'POST', n.path('noop-py'), '{}', await invokeHeaders(n.signer, n.port, n.path('noop-py')));
            if (r.status !== 200) throw new Error(`invoke under callgrind: ${r.status} ${r.body.slice(0, 200)}`);
          }
          a.destroy();
        } finally { await stop(n.child, 'SIGTERM', CALLGRIND_STOP_MS); rmSync(n.dataDir, { recursive: true, force: true }); }
        // Forked children (each sandbox's init, before it execs the runtime) are
        // instrumented too: they are pid 1, 2... of their own pid namespace, so their
        // %p never names the daemon's file (and they cannot write theirs after
        // pivot_root). The daemon's file is the one with its own pid.
        if (n.child.exitCode !== 0) {
          const how = n.child.signalCode ? `killed by ${n.child.signalCode}` : `exit status ${n.child.exitCode}`;
          log(`callgrind: daemon stderr (tail):\n${n.stderrTail()}`);
          throw new Error(`daemon under callgrind (${count} invokes) did not exit cleanly within ${CALLGRIND_STOP_MS / 1000} s of SIGTERM (${how}): no profile`);
        }
        ir[count] = callgrindIr(path.join(TMP, `callgrind.${count}.${n.child.pid}`), n.child.pid);
      }
      const perInvoke = Math.round((ir[CALLGRIND_INVOKES] - ir[0]) / CALLGRIND_INVOKES);
      if (!(perInvoke > 0)) throw new Error(`implausible instructions per invoke ${perInvoke} (Ir ${ir[CALLGRIND_INVOKES]} with ${CALLGRIND_INVOKES} invokes, ${ir[0]} without)`);
      R.rows.callgrind = { nimbus: { invokes: CALLGRIND_INVOKES, ir_total: ir[CALLGRIND_INVOKES], ir_baseline: ir[0], ir_per_invoke: perInvoke } };
    } catch (e) { notMeasured.callgrind = String(e.message ?? e).slice(0, 200); log(`callgrind: ${notMeasured.callgrind}`); }
  }

  if (want('async')) {
    log('nimbus: async acceptance');
    const out = path.join(TMP, 'async.json');
    try {
      execFileSync(process.execPath, [path.join(HERE, 'async.mjs'), '--nimbus', NIMBUS, '--events', String(ASYNC_EVENTS),
        '--connections', String(CONNECTIONS), '--json', out], { stdio: ['ignore', 'ignore', 'inherit'] });
      R.rows.async = { nimbus: JSON.parse(readFileSync(out, 'utf8')) };
    } catch (e) { notMeasured.async = `bench/async.mjs failed: ${String(e.message ?? e).split('\n')[0].slice(0, 160)}`; }
  }

  if (want('services')) {
    log('nimbus: services (S3, SQS, queue -> function)');
    const out = path.join(TMP, 'services.json');
    try {
      execFileSync(process.execPath, [path.join(HERE, 'services.mjs'), '--nimbus', NIMBUS, '--json', out], { stdio: ['ignore', 'ignore', 'inherit'] });
      for (const [k, v] of Object.entries(JSON.parse(readFileSync(out, 'utf8')).rows)) R.rows[k] = { nimbus: v };
    } catch (e) { notMeasured.services = `bench/services.mjs failed: ${String(e.message ?? e).split('\n')[0].slice(0, 160)}`; }
  }
}

async function peerRows() {
  await peerRun('floor', async () => {
    if (!want('warm') && !want('throughput')) return;
    log('peer: bare node http');
    const f = await startFloor();
    try {
      if (want('warm')) { const w = await warmLatency(f.port, '/'); for (const k of ['warm_python', 'warm_node', 'warm_python_128mb']) (R.rows[k] ??= {}).floor = w; }
      if (want('throughput')) { const t = await throughput(f.port, '/'); for (const k of ['throughput_python', 'throughput_node']) (R.rows[k] ??= {}).floor = t; }
    } finally { await f.stop(); }
  });

  await peerRun('workerd', async () => {
    if (!want('warm') && !want('throughput') && !want('cold')) return;
    log('peer: workerd');
    if (want('warm') || want('throughput')) {
      const w = await startWorkerd();
      try {
        if (want('warm')) { const s = await warmLatency(w.port, '/'); for (const k of ['warm_python', 'warm_node', 'warm_python_128mb']) (R.rows[k] ??= {}).workerd = s; }
        if (want('throughput')) { const t = await throughput(w.port, '/'); for (const k of ['throughput_python', 'throughput_node']) (R.rows[k] ??= {}).workerd = t; }
      } finally { await w.stop(); }
    }
    if (want('cold')) {
      // workerd creates its isolates at startup: its "cold start" is process start to first response.
      const s = [];
      for (let i = 0; i < Math.min(PEER_COLD, 10); i++) { const x = await startWorkerd(); s.push(x.firstResponseMs); await x.stop(); }
      const sum = summary(s);
      (R.rows.cold_node ??= {}).workerd = sum;
      (R.rows.cold_python ??= {}).workerd = sum;
    }
  });

  await peerRun('serverless-offline', async () => {
    if (!['warm', 'throughput', 'cold', 'scaleout', 'density'].some(want)) return;
    log('peer: serverless-offline (starting serverless 3)');
    const s = await startServerlessOffline();
    try {
      for (const [fn, k] of [['noopPy', 'python'], ['noopNode', 'node']]) {
        // The first call starts the runner (a python process, a node worker thread).
        await waitReady(s.port, s.path(fn), 60000, s.child);
        if (want('warm')) (R.rows[`warm_${k}`] ??= {})[`sls_${k}`] = await warmLatency(s.port, s.path(fn));
      }
      if (want('cold') || want('density')) {
        const before = treePssKb(s.child.pid);
        const nodesBefore = procTree(s.child.pid).length;
        for (const [k, fn] of [['python', 'coldPy'], ['node', 'coldNode']]) {
          const samples = [];
          for (let i = 0; i < PEER_COLD; i++) samples.push(await firstInvoke(s.port, s.path(`${fn}${i}`)));
          (R.rows[`cold_${k}`] ??= {})[`sls_${k}`] = summary(samples);
          if (k === 'python') {
            await sleep(1000);
            const after = treePssKb(s.child.pid);
            (R.rows.density ??= {}).sls_python = {
              environments: PEER_COLD, env_pss_mb_per_env: Number(((after - before) / 1024 / PEER_COLD).toFixed(2)),
              processes_added: procTree(s.child.pid).length - nodesBefore, total_pss_mb: Number((after / 1024).toFixed(1)),
            };
          }
        }
      }
      if (want('throughput')) {
        R.rows.throughput_python.sls_python = await throughput(s.port, s.path('noopPy'));
        R.rows.throughput_node.sls_node = await throughput(s.port, s.path('noopNode'));
      }
      if (want('scaleout')) (R.rows.scaleout ??= {}).sls_python = await burst(s.port, s.path('sleepPy'));
    } finally { await s.stop(); }
  });
}

// ---------------------------------------------------------------- report

const PEER_NAMES = { floor: 'node http (floor)', workerd: 'workerd', sls_python: 'sls-offline py', sls_node: 'sls-offline node', auth_dev: 'nimbus --auth=dev' };

function table() {
  const lines = [];
  const head = `${'metric'.padEnd(44)} ${'target'.padEnd(12)} ${'nimbus'.padStart(10)}  ${'peer'.padEnd(18)} ${'peer fig.'.padStart(10)} ${'ratio'.padStart(7)}`;
  lines.push(head, '-'.repeat(head.length));
  const fmt = (v, d = 3) => (v === null || v === undefined ? '-' : typeof v === 'number' ? v.toFixed(d) : String(v));
  const emit = (label, target, row, pick, d, lowerBetter) => {
    if (!row) return;
    const ours = row.nimbus ? pick(row.nimbus) : null;
    const met = target && ours !== null && ours !== undefined ? (target(ours) ? ' ok' : ' miss') : '';
    const peers = Object.keys(PEER_NAMES).filter((k) => row[k]);
    const first = `${label.padEnd(44)} ${(target?.text ?? '').padEnd(12)} ${fmt(ours, d).padStart(10)}${met.padEnd(6)}`;
    if (!peers.length) { lines.push(first); return; }
    peers.forEach((k, i) => {
      const p = pick(row[k]);
      const ratio = ours && p ? (lowerBetter ? ours / p : ours / p) : null;
      lines.push(`${i === 0 ? first : ' '.repeat(first.length)}${PEER_NAMES[k].padEnd(18)} ${fmt(p, d).padStart(10)} ${ratio === null ? '      -' : (ratio.toFixed(2) + 'x').padStart(7)}`);
    });
  };
  const T = (text, f) => Object.assign(f, { text });
  const r = R.rows;
  emit('warm invoke p50, Python, 1,769 MB (ms)', T('<= 0.25', (x) => x <= 0.25), r.warm_python, (s) => s.p50, 3, true);
  emit('warm invoke p99, Python, 1,769 MB (ms)', T('<= 1', (x) => x <= 1), r.warm_python, (s) => s.p99, 3, true);
  emit('warm invoke p50, Node, 1,769 MB (ms)', null, r.warm_node, (s) => s.p50, 3, true);
  emit('warm invoke p99, Node, 1,769 MB (ms)', null, r.warm_node, (s) => s.p99, 3, true);
  emit('warm invoke p50, Python, 128 MB (ms)', null, r.warm_python_128mb && { nimbus: r.warm_python_128mb.nimbus }, (s) => s.p50, 3, true);
  emit('warm invoke p99, Python, 128 MB (ms)', null, r.warm_python_128mb && { nimbus: r.warm_python_128mb.nimbus }, (s) => s.p99, 3, true);
  emit('warm invoke p50, Python, verifying SigV4 (ms)', null, r.auth_python, (s) => s.p50, 3, true);
  emit('warm invoke p99, Python, verifying SigV4 (ms)', null, r.auth_python, (s) => s.p99, 3, true);
  emit(`throughput, Python, ${CONNECTIONS} conns (invokes/s)`, T('>= 10000', (x) => x >= 10000), r.throughput_python, (s) => s.rps, 0, false);
  emit(`throughput, Node, ${CONNECTIONS} conns (invokes/s)`, T('>= 10000', (x) => x >= 10000), r.throughput_node, (s) => s.rps, 0, false);
  emit('cold start p50, Python (ms)', T('<= 5', (x) => x <= 5), r.cold_python, (s) => s.p50, 2, true);
  emit('cold start p99, Python (ms)', T('<= 20', (x) => x <= 20), r.cold_python, (s) => s.p99, 2, true);
  emit('cold start p50, Node (ms)', T('<= 15', (x) => x <= 15), r.cold_node, (s) => s.p50, 2, true);
  emit('cold start p99, Node (ms)', null, r.cold_node, (s) => s.p99, 2, true);
  emit('  back to back, p50, Python (ms)', null, r.cold_python_back_to_back, (s) => s.p50, 2, true);
  emit('  back to back, p99, Python (ms)', null, r.cold_python_back_to_back, (s) => s.p99, 2, true);
  emit('  back to back, p50, Node (ms)', null, r.cold_node_back_to_back, (s) => s.p50, 2, true);
  emit('  back to back, p99, Node (ms)', null, r.cold_node_back_to_back, (s) => s.p99, 2, true);
  emit('  no stem cells, p50, Python (ms)', null, r.cold_python_no_stem_cells, (s) => s.p50, 2, true);
  emit('  no stem cells, p99, Python (ms)', null, r.cold_python_no_stem_cells, (s) => s.p99, 2, true);
  emit('  no stem cells, p50, Node (ms)', null, r.cold_node_no_stem_cells, (s) => s.p50, 2, true);
  emit('  no stem cells, p99, Node (ms)', null, r.cold_node_no_stem_cells, (s) => s.p99, 2, true);
  emit(`scale-out ${BURST} x 1 s: all running (ms)`, T('<= 2000', (x) => x <= 2000), r.scaleout, (s) => s.all_running_ms, 0, true);
  emit(`scale-out ${BURST} x 1 s: throttled`, T('0', (x) => x === 0), r.scaleout, (s) => s.throttled, 0, true);
  emit(`scale-out ${BURST} x 1 s: failed (not 200/429)`, T('0', (x) => x === 0), r.scaleout, (s) => s.errors, 0, true);
  emit(`density: env memory per idle Python env (MB PSS)`, null, r.density, (s) => s.env_pss_mb_per_env, 2, true);
  emit(`density: env cgroup usage per env (MB)`, null, r.density && { nimbus: r.density.nimbus }, (s) => s.env_cgroup_mb_per_env, 2, true);
  emit(`density: daemon RSS with ${DENSITY} envs (MB)`, null, r.density && { nimbus: r.density.nimbus }, (s) => s.daemon_rss_mb, 1, true);
  emit(`density: daemon RSS per env (kB)`, null, r.density && { nimbus: r.density.nimbus }, (s) => s.daemon_kb_per_env, 0, true);
  emit(`density: envs that fit 24 GiB (projected)`, T('>= 1000', (x) => x >= 1000), r.density && { nimbus: r.density.nimbus }, (s) => s.projected_envs_in_24gib, 0, false);
  emit('daemon CPU per warm invoke (instructions)', null, r.callgrind, (s) => s.ir_per_invoke, 0, true);
  emit('async accepted durably (events/s)', T('>= 5000', (x) => x >= 5000), r.async, (s) => s.events_per_second, 0, false);
  emit('async acceptance p99 (ms)', null, r.async, (s) => s.p99_ms, 2, true);
  for (const [label, key] of [['4 KB', '4kb'], ['1 MB', '1mb']]) {
    emit(`S3 PutObject ${label} (objects/s)`, null, r[`s3_put_${key}`], (s) => s.ops_per_second, 0, false);
    emit(`S3 GetObject ${label} (objects/s)`, null, r[`s3_get_${key}`], (s) => s.ops_per_second, 0, false);
  }
  emit('SQS SendMessage (messages/s)', null, r.sqs_send, (s) => s.ops_per_second, 0, false);
  emit('SQS receive 10 + delete batch (messages/s)', null, r.sqs_receive_delete, (s) => s.messages_per_second, 0, false);
  emit('SQS -> function via mapping p50 (ms)', null, r.sqs_to_function, (s) => s.p50_ms, 0, true);
  emit('SQS -> function via mapping p99 (ms)', null, r.sqs_to_function, (s) => s.p99_ms, 0, true);
  return lines.join('\n');
}

async function main() {
  const t0 = Date.now();
  try {
    await nimbusRows();
    await peerRows();
  } finally {
    for (const c of [...children]) await stop(c);
    rmSync(TMP, { recursive: true, force: true });
  }
  if (!CALLGRIND) notMeasured.callgrind ??= 'skipped (--callgrind 0)';
  R.not_measured = notMeasured;
  R.seconds = Math.round((Date.now() - t0) / 1000);
  R.how = {
    warm: `${WARM} sequential POSTs after 200 warm-up, one Node client, one keep-alive connection; latency = request written to response read; every request SigV4-signed (peers too) before the clock starts, one signature reused`,
    auth: `as warm, no-op Python (1,769 MB): ${WARM} invokes against the verifying daemon (default) and ${WARM} against one started with --auth=dev, the same signed request to both, in 4 alternating rounds; ratio = verifying / dev`,
    throughput: `wrk -t2 -c${CONNECTIONS} -d${DURATION}s POST '{}' after a ${WARMUP_S} s warm-up pass; invokes/s counts 2xx only`,
    cold: `Nimbus: ${COLD} new functions per runtime, first Invoke each, new connection, (a) after the stem cell pool refilled (the headline row), (b) back to back, (c) with --stem-cells 0; serverless-offline: ${PEER_COLD} functions per runtime, first invoke each; workerd: process spawn to first response (isolates are built at startup)`,
    scaleout: `${BURST} concurrent Invokes of an idle 1-second Python function (128 MB); all_running_ms = latest handler start (time.time() in the handler) minus the burst's send time`,
    density: `${DENSITY} Python functions (128 MB) invoked once each, idle 2 s; env memory = PSS of all processes under the daemon / N (sandbox init + runtime); cgroup = mean memory.usage_in_bytes of the environments' cgroups (includes page cache); daemon per env = (RSS after - RSS before) / N`,
    callgrind: `daemon under valgrind --tool=callgrind (children not traced), ${CALLGRIND_INVOKES} warm invokes vs 0 after the same setup; (Ir - Ir_baseline) / invokes`,
  };
  writeFileSync(JSON_OUT, JSON.stringify(R, null, 2) + '\n');
  console.log(table());
  console.log('');
  for (const [k, v] of Object.entries(notMeasured)) console.log(`not measured: ${k}: ${v}`);
  console.log(`peers: node ${process.version} http server; workerd ${PEERS ? (() => { try { return execFileSync(workerdBinary(), ['--version']).toString().trim(); } catch { return '?'; } })() : '-'}; serverless-offline + serverless from bench/package-lock.json`);
  console.log(`ratio = nimbus / peer (latency: lower is better; throughput: higher is better). ${R.seconds} s. Written ${JSON_OUT}`);
}

process.on('SIGINT', async () => { for (const c of [...children]) await stop(c); process.exit(130); });
main().catch(async (e) => { console.error(e); for (const c of [...children]) await stop(c); process.exit(1); });
