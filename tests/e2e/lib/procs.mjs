// Host-side process inspection through /proc: which processes descend from the
// daemon, which cgroups they live in, and whether any of them outlived it.
// Used to prove "a shutdown leaves nothing running" and to read the limits that
// were really applied to a sandbox (its cgroup files on the host).
import fs from 'node:fs';
import path from 'node:path';

// Parses /proc/PID/stat. Returns null if the process is gone.
export function readStat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm may contain spaces and parentheses: split after the LAST ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const rest = text.slice(close + 2).split(' ');
  // rest[0] = state (field 3), rest[1] = ppid (field 4), rest[19] = starttime (field 22)
  return { pid, comm, state: rest[0], ppid: Number(rest[1]), starttime: rest[19] };
}

// Whether `pid` is PID 1 of its own pid namespace: a sandbox's init. (A Python
// sandbox's init is a fork of the zygote, so its command line is python3's too.)
export function isNamespaceInit(pid) {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
    return line ? line.trim().split(/\s+/).pop() === '1' : false;
  } catch {
    return false;
  }
}

export function listPids() {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

// All live processes whose ancestor chain contains `rootPid` (excluding it).
export function descendantsOf(rootPid) {
  const stats = new Map();
  for (const pid of listPids()) {
    const st = readStat(pid);
    if (st) stats.set(pid, st);
  }
  const children = new Map();
  for (const st of stats.values()) {
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(st);
  }
  const out = [];
  const queue = [rootPid];
  while (queue.length) {
    const p = queue.shift();
    for (const child of children.get(p) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

// "hierarchy-id:controllers:path" lines of /proc/PID/cgroup, or [] if gone.
export function readCgroups(pid) {
  try {
    return fs
      .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [id, controllers, ...p] = line.split(':');
        return { id, controllers, path: p.join(':') };
      });
  } catch {
    return [];
  }
}

// Host directories of a process's cgroups (v1 controllers and the v2 unified
// hierarchy), e.g. "/sys/fs/cgroup/memory/nimbus/<id>".
export function cgroupDirs(pid) {
  const dirs = [];
  for (const cg of readCgroups(pid)) {
    if (cg.controllers === '') {
      for (const base of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
        if (fs.existsSync(path.join(base, 'cgroup.controllers'))) {
          dirs.push({ controller: 'unified', dir: path.join(base, cg.path) });
          break;
        }
      }
      continue;
    }
    for (const controller of cg.controllers.split(',')) {
      const name = controller.replace(/^name=/, '');
      const dir = path.join('/sys/fs/cgroup', name, cg.path);
      if (fs.existsSync(path.join('/sys/fs/cgroup', name))) dirs.push({ controller: name, dir });
    }
  }
  return dirs;
}

// Host processes in the cgroups of the given environments: Nimbus names each
// environment's cgroup directory by the environment's id, the last part of its
// log stream name ("2024/01/02/[$LATEST]<id>"). A function's processes cannot be
// found by their environment: a stem cell's runtime keeps the environment it
// was started with in /proc/PID/environ.
export function processesInEnvironments(ids) {
  const wanted = new Set(ids);
  const out = [];
  if (wanted.size === 0) return out;
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    const inside = readCgroups(pid).some((cg) => wanted.has(cg.path.split('/').pop()));
    if (!inside) continue;
    const st = readStat(pid);
    if (st && st.state !== 'Z') out.push({ ...st, cmdline: readCmdline(pid) });
  }
  return out;
}

// NUL-separated environment of a process as a Map, or null if unreadable.
export function readEnviron(pid) {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    const env = new Map();
    for (const kv of raw.split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
    }
    return env;
  } catch {
    return null;
  }
}

export function readCmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

// Processes anywhere on the host whose environment has KEY=VALUE where VALUE
// starts with `prefix` (e.g. AWS_LAMBDA_FUNCTION_NAME=t1a2b3-...). Needs to be
// able to read other users' /proc/PID/environ (root).
export function processesWithEnvPrefix(key, prefix) {
  const out = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    const env = readEnviron(pid);
    const v = env?.get(key);
    if (v !== undefined && v.startsWith(prefix)) {
      const st = readStat(pid);
      if (st && st.state !== 'Z') out.push({ ...st, value: v, cmdline: readCmdline(pid) });
    }
  }
  return out;
}

// Reads a cgroup limit file for a process from the host side. Returns
// { memoryLimitBytes, pidsMax, dirs } with nulls where not found.
export function hostCgroupLimits(pid) {
  const dirs = cgroupDirs(pid);
  const read = (file) => {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch {
      return null;
    }
  };
  let memoryLimitBytes = null;
  let pidsMax = null;
  for (const { controller, dir } of dirs) {
    if (controller === 'memory') {
      const v = read(path.join(dir, 'memory.limit_in_bytes'));
      if (v !== null) memoryLimitBytes = Number(v);
    }
    if (controller === 'pids') {
      const v = read(path.join(dir, 'pids.max'));
      if (v !== null) pidsMax = v === 'max' ? Infinity : Number(v);
    }
    if (controller === 'unified') {
      const m = read(path.join(dir, 'memory.max'));
      if (m !== null && memoryLimitBytes === null) memoryLimitBytes = m === 'max' ? Infinity : Number(m);
      const p = read(path.join(dir, 'pids.max'));
      if (p !== null && pidsMax === null) pidsMax = p === 'max' ? Infinity : Number(p);
    }
  }
  return { memoryLimitBytes, pidsMax, dirs };
}

export function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
