// Crash safety of the async queue: 500 Event invokes, the daemon killed with
// SIGKILL while they are being accepted and run, restarted on the same data
// directory: every event that was answered 202 runs at least once (counted as
// distinct ids in the function's log output, read with FilterLogEvents).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { Nimbus, uniqueName, SKIP_NO_BINARY, sleep } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';

const TOTAL = 500;
const KILL_AFTER = 250; // acknowledged events before the SIGKILL

async function eventIds(logs, name) {
  const ids = new Map(); // id -> times seen
  for (const message of await logMessages(logs, name)) {
    const m = message.match(/ASYNC-EVENT (\S+)/);
    if (m) ids.set(m[1], (ids.get(m[1]) ?? 0) + 1);
  }
  return ids;
}

describe('async queue crash safety', { skip: SKIP_NO_BINARY }, () => {
  it(`${TOTAL} events, kill -9 mid-way, restart: every acknowledged event runs at least once`, { timeout: 420000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-async-crash-'));
    // Few attempts at once and a slow handler, so most events are still queued
    // on disk when the daemon dies.
    const args = ['--async-retry-scale', '0.01', '--async-concurrency', '4'];
    let first;
    let second;
    try {
      first = await Nimbus.start({ dataDir, args });
      const lambda = first.lambda();
      const name = uniqueName('crash');
      await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'async'), runtime: 'python3.11', handler: 'app.mark' });

      const acked = new Set();
      const refused = [];
      let killed = false;
      let next = 0;
      const sender = async () => {
        while (next < TOTAL && !killed) {
          const id = `ev-${next++}`;
          try {
            const r = await lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: JSON.stringify({ id, sleep: 0.05 }) }));
            if (r.StatusCode === 202) acked.add(id);
            if (acked.size >= KILL_AFTER && !killed) {
              killed = true;
              first.proc.kill('SIGKILL');
            }
          } catch (e) {
            if (!killed) refused.push(`${id}: ${e.name} ${e.message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, sender));
      assert.deepEqual(refused, [], 'no event refused before the kill');
      assert.ok(killed, 'the daemon was killed mid-way');
      const exit = await first.exited;
      assert.equal(exit.signal, 'SIGKILL');
      assert.ok(acked.size >= KILL_AFTER);

      // Restart on the same data directory and send the rest.
      second = await Nimbus.start({ dataDir, args });
      const lambda2 = second.lambda();
      const logs = second.logs();
      const ranBeforeRestart = (await eventIds(logs, name)).size;
      assert.ok(ranBeforeRestart < acked.size, `most acknowledged events were still queued at the kill (${ranBeforeRestart} of ${acked.size} had run)`);
      for (let i = 0; i < TOTAL; i++) {
        const id = `ev-${i}`;
        if (acked.has(id)) continue;
        const r = await lambda2.send(new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: JSON.stringify({ id, sleep: 0.05 }) }));
        assert.equal(r.StatusCode, 202);
        acked.add(id);
      }
      assert.equal(acked.size, TOTAL);

      const deadline = Date.now() + 300000;
      let seen = new Map();
      while (Date.now() < deadline) {
        seen = await eventIds(logs, name);
        if ([...acked].every((id) => seen.has(id))) break;
        await sleep(1000);
      }
      const missing = [...acked].filter((id) => !seen.has(id));
      assert.deepEqual(missing, [], `${missing.length} acknowledged events never ran`);
      const duplicates = [...seen.values()].filter((n) => n > 1).length;
      // At-least-once: events in flight at the kill may run twice, no others.
      assert.ok(duplicates <= 8, `${duplicates} events ran more than once`);
      await second.stop();
    } catch (e) {
      const tail = second ? second.stderrTail(6000) : first ? first.stderrTail(6000) : '';
      e.message += `\n--- nimbus stderr tail ---\n${tail}`;
      if (second?.alive()) await second.stop({ assertClean: false });
      throw e;
    } finally {
      if (first?.alive()) first.proc.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
