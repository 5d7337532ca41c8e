// Nimbus benchmark: warm sync invoke latency (1 connection) and cold start (fresh
// execution environment to response) for a no-op Python function, with a bare
// Node `http` server answering "ok" measured by the same client in the same run
// as the floor of one HTTP round trip.
//
// Usage: node bench/bench.mjs [--nimbus build/nimbus] [--warm 3000] [--cold 40] [--json out.json]
// Prints a table (ours, peer, ratio) and writes the figures as JSON.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import path from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const NIMBUS = args.nimbus ?? path.resolve(import.meta.dirname, '../build/nimbus');
const WARM = Number(args.warm ?? 3000);
const COLD = Number(args.cold ?? 40);
const JSON_OUT = args.json ?? path.resolve(import.meta.dirname, 'results.json');

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(port, method, urlPath, body, headers = {}) {
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
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), min: s[0], max: s[s.length - 1] };
}

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function startNimbus(dataDir) {
  const child = spawn(NIMBUS, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`nimbus exited ${code}: ${stderr}`)));
  });
  return { child, port, stderr: () => stderr };
}

function noopZip(dir) {
  const src = path.join(dir, 'fn');
  mkdirSync(src);
  writeFileSync(path.join(src, 'app.py'), 'def handler(event, context):\n    return None\n');
  const zip = path.join(dir, 'fn.zip');
  execFileSync('zip', ['-q', '-X', zip, 'app.py'], { cwd: src });
  return readFileSync(zip).toString('base64');
}

async function createFunction(port, name, zipB64, memory = 128) {
  const r = await request(port, 'POST', '/2015-03-31/functions', JSON.stringify({
    FunctionName: name, Runtime: 'python3.11', Handler: 'app.handler', MemorySize: memory,
    Role: 'arn:aws:iam::000000000000:role/bench', Code: { ZipFile: zipB64 },
  }), { 'content-type': 'application/json' });
  if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body}`);
}

async function invoke(port, name) {
  const r = await request(port, 'POST', `/2015-03-31/functions/${name}/invocations`, '{}');
  if (r.status !== 200 || r.headers['x-amz-function-error']) throw new Error(`invoke ${name}: ${r.status} ${r.body}`);
  return r;
}

async function measureFloor() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  for (let i = 0; i < 200; i++) await request(port, 'POST', '/', '{}');
  const samples = [];
  for (let i = 0; i < WARM; i++) samples.push(await time(() => request(port, 'POST', '/', '{}')));
  await new Promise((r) => server.close(r));
  return summary(samples);
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'nimbus-bench-'));
  const zip = noopZip(dir);
  const nimbus = await startNimbus(path.join(dir, 'data'));
  const results = { date: new Date().toISOString(), machine: `${process.platform} ${process.arch}` };
  try {
    // Warm: one environment, one keep-alive connection, sequential invokes. At
    // 128 MB the function has 7.2 % of a CPU (Lambda's 1,769 MB = 1 vCPU), which
    // back-to-back invokes exhaust; at 1,769 MB the CPU allotment is not the limit.
    for (const memory of [128, 1769]) {
      const name = `noop${memory}`;
      await createFunction(nimbus.port, name, zip, memory);
      for (let i = 0; i < 200; i++) await invoke(nimbus.port, name);
      const warm = [];
      for (let i = 0; i < WARM; i++) warm.push(await time(() => invoke(nimbus.port, name)));
      results[`warm_${memory}mb`] = summary(warm);
    }

    // Cold: each function's first invoke needs a fresh environment.
    const cold = [];
    for (let i = 0; i < COLD; i++) {
      await createFunction(nimbus.port, `cold${i}`, zip);
      cold.push(await time(() => invoke(nimbus.port, `cold${i}`)));
    }
    results.cold = summary(cold);
  } finally {
    nimbus.child.kill('SIGTERM');
    await new Promise((r) => nimbus.child.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  results.floor = await measureFloor();

  const row = (name, ours, peer) =>
    `${name.padEnd(52)} ${ours.toFixed(3).padStart(9)} ${peer === null ? '        -' : peer.toFixed(3).padStart(9)} ${peer === null ? '     -' : (ours / peer).toFixed(2).padStart(6)}`;
  console.log(`${'metric (ms)'.padEnd(52)} ${'nimbus'.padStart(9)} ${'peer'.padStart(9)} ${'ratio'.padStart(6)}`);
  for (const memory of [128, 1769]) {
    const w = results[`warm_${memory}mb`];
    console.log(row(`warm invoke p50, ${memory} MB (peer: bare node http)`, w.p50, results.floor.p50));
    console.log(row(`warm invoke p99, ${memory} MB (peer: bare node http)`, w.p99, results.floor.p99));
  }
  console.log(row('cold start p50 (no-op python, fresh env)', results.cold.p50, null));
  console.log(row('cold start p99', results.cold.p99, null));
  console.log(`samples: warm ${WARM} per size, cold ${results.cold.n} (128 MB), floor ${results.floor.n}; one client, one keep-alive connection`);
  writeFileSync(JSON_OUT, JSON.stringify(results, null, 2) + '\n');
  console.log(`written ${JSON_OUT}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
