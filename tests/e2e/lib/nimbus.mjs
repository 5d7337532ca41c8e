// Starts the real `nimbus serve` binary on port 0 with a temporary data
// directory, reads the chosen port from its ready line, hands out AWS SDK
// clients pointed at it, and stops it with SIGTERM, asserting a clean exit:
// status 0, no process that descended from it left alive, no cgroup it created
// left behind, no mount mentioning its data directory left on the host.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { descendantsOf, cgroupDirs, readStat, processesWithEnvPrefix, isRoot } from './procs.mjs';

// SDK credential chains must never probe the instance-metadata address.
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
export const FIXTURES = path.join(REPO_ROOT, 'tests', 'fixtures');
export const NIMBUS_BIN = process.env.NIMBUS_BIN || path.join(REPO_ROOT, 'build', 'nimbus');

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const ROLE = `arn:aws:iam::${ACCOUNT}:role/nimbus-e2e`;
// The admin key every test daemon is started with: written into its data
// directory's credentials.json (the server's key store) before it starts, unless
// the test asks for a fresh store. The secret has '/' and '+' as real ones do.
export const CREDENTIALS = { accessKeyId: 'AKIANIMBUSE2ETESTKEY', secretAccessKey: 'nimbus/e2e+Secret/Access/Key0123456789ab' };

// Writes `keys` (default: CREDENTIALS as admin) as the key store of `dataDir`.
export function seedCredentials(dataDir, keys = [{ ...CREDENTIALS, policy: 'admin' }]) {
  const file = path.join(dataDir, 'credentials.json');
  const AccessKeys = keys.map((k) => ({ AccessKeyId: k.accessKeyId, SecretAccessKey: k.secretAccessKey, Policy: k.policy ?? 'admin', Created: Date.now() }));
  fs.writeFileSync(file, JSON.stringify({ AccessKeys }) + '\n', { mode: 0o600 });
}

// The environment for an AWS CLI / nimbus CLI child process signing with CREDENTIALS.
export const CREDENTIALS_ENV = {
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
};
// Child processes (the AWS CLI, boto3, the nimbus CLI) sign with them unless a test says otherwise.
process.env.AWS_ACCESS_KEY_ID = CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = CREDENTIALS.secretAccessKey;
delete process.env.AWS_SESSION_TOKEN;

const READY_TIMEOUT_MS = Number(process.env.NIMBUS_READY_TIMEOUT_MS || 30000);
const STOP_TIMEOUT_MS = Number(process.env.NIMBUS_STOP_TIMEOUT_MS || 30000);

// Unique per test process: every function name a test creates starts with it,
// so leftovers can be found on the host by their AWS_LAMBDA_FUNCTION_NAME.
export const RUN_ID = `e2e${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let nameCounter = 0;
export function uniqueName(base) {
  nameCounter += 1;
  return `${RUN_ID}-${base}-${nameCounter}`.slice(0, 64);
}

export function binaryAvailable() {
  try {
    fs.accessSync(NIMBUS_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let liveDaemons = 0;

export class Nimbus {
  constructor() {
    this.proc = null;
    this.port = null;
    this.endpoint = null;
    this.dataDir = null;
    this.ownsDataDir = false;
    this.stderr = '';
    this.stdout = '';
    this.exit = null; // { code, signal } once exited
    this.seen = new Map(); // pid -> { starttime, comm } of every descendant ever sampled
    this.seenCgroups = new Set(); // host cgroup dirs of sandbox processes
    this.ownCgroupDirs = new Set(); // the daemon's own cgroup dirs
    this.sampler = null;
  }

  // options: dataDir (reuse one, e.g. for restart tests), keepAlive (seconds),
  // args (extra CLI args), env (extra env for the daemon), asUid (run the daemon
  // as this uid/gid via setpriv; the data dir is chowned to it; needs root),
  // seedKeys (default true: CREDENTIALS are written as the key store when the
  // data directory has none; false: the server creates its own).
  static async start(options = {}) {
    const n = new Nimbus();
    await n.#start(options);
    return n;
  }

  async #start({ dataDir, keepAlive, args = [], env = {}, asUid, seedKeys = true } = {}) {
    if (!binaryAvailable()) throw new Error(`nimbus binary not found or not executable at ${NIMBUS_BIN} (set NIMBUS_BIN)`);
    if (dataDir) {
      this.dataDir = dataDir;
    } else {
      this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-data-'));
      this.ownsDataDir = true;
    }
    if (seedKeys && !fs.existsSync(path.join(this.dataDir, 'credentials.json'))) seedCredentials(this.dataDir);
    const argv = ['serve', '--listen', '127.0.0.1:0', '--data-dir', this.dataDir];
    if (keepAlive !== undefined) argv.push('--keep-alive', String(keepAlive));
    argv.push(...args);
    this.argv = argv;
    let cmd = NIMBUS_BIN;
    let cmdArgs = argv;
    if (asUid !== undefined) {
      fs.chownSync(this.dataDir, asUid, asUid);
      const keyFile = path.join(this.dataDir, 'credentials.json');
      if (fs.existsSync(keyFile)) fs.chownSync(keyFile, asUid, asUid);
      // setpriv execs nimbus, so the pid stays the daemon's.
      cmd = 'setpriv';
      cmdArgs = [`--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', '--', NIMBUS_BIN, ...argv];
      env = { HOME: this.dataDir, ...env };
    }
    this.proc = spawn(cmd, cmdArgs, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => {
      this.stderr += d;
      if (this.stderr.length > 4_000_000) this.stderr = this.stderr.slice(-2_000_000);
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    const ready = new Promise((resolve, reject) => {
      const onData = (d) => {
        this.stdout += d;
        const m = this.stdout.match(/^listening on http:\/\/127\.0\.0\.1:(\d+)$/m);
        if (m) resolve(Number(m[1]));
      };
      this.proc.stdout.on('data', onData);
      this.proc.on('error', reject);
      this.exited.then((e) => reject(new Error(`nimbus exited before it was ready: ${JSON.stringify(e)}`)));
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ready line within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    });
    try {
      this.port = await Promise.race([ready, timeout]);
    } catch (e) {
      if (!this.exit) this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`${e.message}\nargv: ${NIMBUS_BIN} ${argv.join(' ')}\nstdout:\n${this.stdout}\nstderr:\n${this.stderrTail()}`);
    } finally {
      clearTimeout(timer);
    }
    this.endpoint = `http://127.0.0.1:${this.port}`;
    liveDaemons += 1;
    this.exited.then(() => {
      liveDaemons -= 1;
    });
    for (const { dir } of cgroupDirs(this.proc.pid)) this.ownCgroupDirs.add(dir);
    this.sample();
    this.sampler = setInterval(() => this.sample(), 300);
    this.sampler.unref();
  }

  get pid() {
    return this.proc?.pid;
  }

  // Records every process currently descending from the daemon (and its
  // cgroups), so that after exit we can prove none of them survived.
  sample() {
    if (!this.proc || this.exit) return;
    let desc;
    try {
      desc = descendantsOf(this.proc.pid);
    } catch {
      return;
    }
    for (const d of desc) {
      if (!this.seen.has(d.pid)) this.seen.set(d.pid, { starttime: d.starttime, comm: d.comm });
      for (const { dir } of cgroupDirs(d.pid)) {
        // Only cgroups below the daemon's own count as its creations: a freshly
        // cloned process may briefly sit in the daemon's cgroup or an ancestor.
        const below = [...this.ownCgroupDirs].some((o) => {
          const prefix = o.endsWith('/') ? o : `${o}/`;
          return dir !== o && dir.startsWith(prefix) && dir.length > prefix.length;
        });
        if (below) this.seenCgroups.add(dir);
      }
    }
    return desc;
  }

  descendants() {
    return this.proc && !this.exit ? descendantsOf(this.proc.pid) : [];
  }

  alive() {
    return this.proc !== null && this.exit === null;
  }

  stderrTail(chars = 8000) {
    return this.stderr.length > chars ? '…' + this.stderr.slice(-chars) : this.stderr;
  }

  lambda(overrides = {}) {
    return new LambdaClient({
      endpoint: this.endpoint,
      region: REGION,
      credentials: CREDENTIALS,
      maxAttempts: 1,
      ...overrides,
    });
  }

  logs(overrides = {}) {
    return new CloudWatchLogsClient({
      endpoint: this.endpoint,
      region: REGION,
      credentials: CREDENTIALS,
      maxAttempts: 1,
      ...overrides,
    });
  }

  // Sends SIGTERM and waits (bounded). Returns a report; with assertClean
  // (default) throws if the exit was not clean.
  async stop({ assertClean = true, timeoutMs = STOP_TIMEOUT_MS } = {}) {
    if (!this.proc) return null;
    clearInterval(this.sampler);
    const problems = [];
    if (!this.exit) {
      this.sample();
      this.proc.kill('SIGTERM');
      let timer;
      const timedOut = new Promise((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const r = await Promise.race([this.exited, timedOut]);
      clearTimeout(timer);
      if (r === 'timeout') {
        problems.push(`did not exit within ${timeoutMs} ms of SIGTERM (sent SIGKILL)`);
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    } else {
      problems.push(`daemon had already exited before stop(): ${JSON.stringify(this.exit)}`);
    }
    if (this.exit.code !== 0) problems.push(`exit status ${JSON.stringify(this.exit)} (want code 0)`);
    // Give the kernel a moment to finish tearing down killed namespaces.
    const leftovers = await waitFor(() => this.#leftovers(), (l) => l.processes.length === 0 && l.cgroups.length === 0 && l.mounts.length === 0, 5000);
    if (leftovers.processes.length) problems.push(`processes left behind: ${JSON.stringify(leftovers.processes)}`);
    if (leftovers.cgroups.length) problems.push(`cgroups left behind: ${JSON.stringify(leftovers.cgroups)}`);
    if (leftovers.mounts.length) problems.push(`mounts left behind: ${JSON.stringify(leftovers.mounts)}`);
    const report = { exit: this.exit, problems, sampledProcesses: this.seen.size, sampledCgroups: [...this.seenCgroups] };
    if (assertClean && problems.length) {
      throw new Error(`unclean nimbus shutdown:\n  ${problems.join('\n  ')}\nstderr:\n${this.stderrTail()}`);
    }
    return report;
  }

  #leftovers() {
    const processes = [];
    for (const [pid, info] of this.seen) {
      const st = readStat(pid);
      if (st && st.starttime === info.starttime && st.state !== 'Z') processes.push({ pid, comm: st.comm, state: st.state });
    }
    // Anything still carrying one of this test process's function names (only
    // meaningful when no other daemon of this test process is running).
    if (isRoot() && liveDaemons === 0) {
      for (const p of processesWithEnvPrefix('AWS_LAMBDA_FUNCTION_NAME', RUN_ID)) {
        if (!processes.some((q) => q.pid === p.pid)) processes.push({ pid: p.pid, comm: p.comm, state: p.state, function: p.value });
      }
    }
    const cgroups = [...this.seenCgroups].filter((d) => fs.existsSync(d));
    let mounts = [];
    try {
      mounts = fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(this.dataDir));
    } catch {
      /* ignore */
    }
    return { processes, cgroups, mounts };
  }

  // Removes the temporary data directory (only if we created it).
  cleanup() {
    if (this.ownsDataDir && this.dataDir) {
      try {
        fs.rmSync(this.dataDir, { recursive: true, force: true });
      } catch {
        /* a leftover mount would make this fail; stop() reports that */
      }
    }
  }

  // Runs the same binary as a client: `nimbus <args>` with NIMBUS_ENDPOINT set.
  cli(args, { input, timeoutMs = 60000, env = {} } = {}) {
    return runCommand(NIMBUS_BIN, args, { input, timeoutMs, env: { NIMBUS_ENDPOINT: this.endpoint, ...CREDENTIALS_ENV, ...env } });
  }
}

// Starts a daemon of its own for `fn(nimbus)`, stops it after (checking it left nothing
// behind when `fn` succeeded) and removes its data directory; a failure carries the
// daemon's stderr tail.
export async function withDaemon(options, fn) {
  const n = await Nimbus.start(options);
  try {
    const r = await fn(n);
    if (n.alive()) await n.stop();
    return r;
  } catch (e) {
    e.message += `\n--- nimbus stderr tail ---\n${n.stderrTail(6000)}`;
    if (n.alive()) await n.stop({ assertClean: false });
    throw e;
  } finally {
    n.cleanup();
  }
}

export async function waitFor(fn, done, timeoutMs, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  while (!done(v) && Date.now() < deadline) {
    await sleep(intervalMs);
    v = await fn();
  }
  return v;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Runs a command, collecting stdout/stderr; never throws on a non-zero exit.
export async function runCommand(cmd, args, { input, timeoutMs = 60000, env = {}, cwd } = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  child.stdin.on('error', () => {});
  if (input !== undefined) child.stdin.end(input);
  else child.stdin.end();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [code, signal] = await once(child, 'close');
  clearTimeout(timer);
  return { code, signal, stdout, stderr, timedOut };
}

// Registers before/after hooks that start one daemon for the enclosing suite
// and stop it (asserting a clean shutdown) afterwards. Returns a box whose
// `.nimbus` is set once started.
export function useNimbus(options = {}) {
  const box = { nimbus: null };
  before(async () => {
    box.nimbus = await Nimbus.start(typeof options === 'function' ? options() : options);
  }, { timeout: READY_TIMEOUT_MS + 10000 });
  after(async () => {
    if (!box.nimbus) return;
    try {
      await box.nimbus.stop();
    } finally {
      box.nimbus.cleanup();
    }
  }, { timeout: STOP_TIMEOUT_MS + 20000 });
  return box;
}

// Wraps a test body so a failure carries the tail of the daemon's stderr.
export function withLogs(box, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      const n = box.nimbus;
      if (n) {
        const state = n.alive() ? 'running' : `exited ${JSON.stringify(n.exit)}`;
        const extra = `\n--- nimbus (${state}) stderr tail ---\n${n.stderrTail(6000)}`;
        try {
          e.message = `${e.message}${extra}`;
        } catch {
          /* frozen error */
        }
      }
      throw e;
    }
  };
}

// Skip reason when the binary is missing; suites pass it to describe({ skip }).
export const SKIP_NO_BINARY = binaryAvailable() ? false : `nimbus binary not found at ${NIMBUS_BIN} (build the release preset or set NIMBUS_BIN)`;

export function hostIPv4Addresses() {
  const out = [];
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

export function commandExists(cmd, args = ['--version']) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 20000 });
    return true;
  } catch {
    return false;
  }
}
