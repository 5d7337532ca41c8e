// Isolation between functions and from set-id tricks (issue #8, scope 2):
//   - a function cannot find another function's code or /tmp: a prober walks
//     its whole visible filesystem (and /proc/*/root) for a marker that the
//     other function has in its code and writes to its /tmp, and finds nothing
//     but its own copy of the marker's name in its event;
//   - a setuid-root binary in a package loses its set-id bits when unpacked, and
//     running it gives no privilege (no_new_privs, nosuid): its euid is the
//     sandbox's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY } from '../lib/nimbus.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';
import { isRoot } from '../lib/procs.mjs';

const HOLDER = `import os
def handler(event, context):
    with open("/tmp/" + event["marker"] + ".tmp", "w") as f:
        f.write(event["marker"])
    return sorted(os.listdir("/tmp"))
`;

// Walks every directory it can read (not /sys, /dev or /proc's own files, but
// /proc/<pid>/root of every process it can see), looking for the marker in file
// names and in the content of files under 1 MiB.
const PROBER = `import os, stat, subprocess
SKIP = ("/sys", "/dev", "/proc/sys", "/proc/self")
def handler(event, context):
    marker = event["marker"].encode()
    found, files, dirs = [], 0, 0
    roots = ["/"] + ["/proc/%s/root" % p for p in os.listdir("/proc") if p.isdigit()]
    for root in roots:
        for d, subdirs, names in os.walk(root, followlinks=False):
            if d.startswith(SKIP) or (d.startswith("/proc/") and not d.startswith(tuple(roots[1:]))):
                subdirs[:] = []
                continue
            dirs += 1
            for n in names:
                p = os.path.join(d, n)
                if marker in n.encode():
                    found.append(p)
                    continue
                try:
                    st = os.lstat(p)
                    if stat.S_ISREG(st.st_mode) and st.st_size < (1 << 20):
                        files += 1
                        with open(p, "rb") as f:
                            if marker in f.read():
                                found.append(p)
                except OSError:
                    pass
    suid = "/var/task/suid-id"
    mode = os.stat(suid).st_mode
    euid = subprocess.run([suid, "-u"], capture_output=True, text=True).stdout.strip()
    return {"found": found, "files": files, "dirs": dirs, "setuid_bit": bool(mode & stat.S_ISUID),
            "setgid_bit": bool(mode & stat.S_ISGID), "euid": euid, "uid": os.getuid()}
`;

describe('isolation between functions (hostile functions)', { skip: SKIP_NO_BINARY || (isRoot() ? false : 'needs root: sandboxes as another uid') }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('a function finds no trace of another function\'s code or /tmp, and a setuid binary in its package gives it nothing', { timeout: 180000 }, t(async (tc) => {
    const lambda = box.nimbus.lambda();
    const marker = `nimbus-secret-${crypto.randomBytes(8).toString('hex')}`;
    const holder = uniqueName('holder');
    await createFunction(lambda, { name: holder, zip: zipFiles({ 'app.py': HOLDER, 'secret.txt': marker }), runtime: 'python3.11', handler: 'app.handler' });
    const held = await invoke(lambda, holder, { marker });
    assert.deepEqual(held.json, [`${marker}.tmp`], held.text);

    const prober = uniqueName('prober');
    const id = fs.readFileSync('/usr/bin/id');
    await createFunction(lambda, {
      name: prober, runtime: 'python3.11', handler: 'app.handler', Timeout: 120, MemorySize: 512,
      zip: zipFiles({ 'app.py': PROBER, 'suid-id': { content: id, mode: 0o6755 } }),
    });
    // The marker travels in the event, which is in the prober's memory, not its files.
    const r = await invoke(lambda, prober, { marker });
    assert.equal(r.functionError, undefined, r.text);
    tc.diagnostic(`prober read ${r.json.files} files in ${r.json.dirs} directories`);
    assert.ok(r.json.files > 1000 && r.json.dirs > 100, `the walk saw too little to prove anything: ${r.text}`);
    assert.deepEqual(r.json.found, [], 'traces of the other function');
    assert.equal(r.json.setuid_bit, false, 'setuid bit kept on unpack');
    assert.equal(r.json.setgid_bit, false, 'setgid bit kept on unpack');
    assert.equal(r.json.euid, String(r.json.uid), 'the setuid binary ran with another euid');
    assert.notEqual(r.json.uid, 0);
  }));
});
