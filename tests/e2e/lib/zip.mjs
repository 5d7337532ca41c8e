// Builds deployment packages in memory with the `zip` command, the way the AWS
// tooling does (`zip -r -X --symlinks`: modes and symlinks preserved, no extra
// attributes), so that executable `bootstrap` files stay executable.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES } from './nimbus.mjs';

export function fixtureDir(...parts) {
  const dir = path.join(FIXTURES, ...parts);
  if (!fs.existsSync(dir)) throw new Error(`fixture not found: ${dir}`);
  return dir;
}

// Zips the contents of `dir` (entries relative to it) and returns the bytes.
export function zipDir(dir) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-zip-'));
  const out = path.join(tmp, 'package.zip');
  try {
    execFileSync('zip', ['-q', '-r', '-X', '--symlinks', out, '.'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function zipFixture(...parts) {
  return zipDir(fixtureDir(...parts));
}

// Writes `files` ({ 'app.py': 'text', 'bootstrap': { content, mode: 0o755 },
// 'link': { symlink: 'target' } }) into a temp dir and zips it.
export function zipFiles(files) {
  const dir = writeTree(files);
  try {
    return zipDir(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function writeTree(files, dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-tree-'))) {
  for (const [name, spec] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof spec === 'string' || Buffer.isBuffer(spec)) {
      fs.writeFileSync(p, spec);
    } else if (spec.symlink) {
      fs.symlinkSync(spec.symlink, p);
    } else {
      fs.writeFileSync(p, spec.content);
      if (spec.mode !== undefined) fs.chmodSync(p, spec.mode);
    }
  }
  return dir;
}

// Copies a fixture directory to a temp dir so a test can modify it.
export function copyFixture(...parts) {
  const src = fixtureDir(...parts);
  const dst = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-copy-'));
  fs.cpSync(src, dst, { recursive: true, verbatimSymlinks: true });
  return dst;
}

export function sha256Base64(buf) {
  return crypto.createHash('sha256').update(buf).digest('base64');
}
