// Crash safety of the DynamoDB service (issue #6): "kill -9 the daemon during a burst of
// writes: every acknowledged write is there after restart, and its stream record is
// delivered". A table with a NEW_AND_OLD_IMAGES stream and a stream event source mapping
// takes a burst of PutItem (a unique key per write, attributes of every type) and
// UpdateItem (ADD to a few shared counters) from concurrent writers using
// @aws-sdk/client-dynamodb with maxAttempts 1; after a random 300–1500 ms the daemon gets
// SIGKILL. Every call is recorded as acknowledged (HTTP 200), in flight at the kill, or
// failed before it. The daemon is restarted on the same data directory and the table and
// its whole stream (DescribeStream, GetShardIterator TRIM_HORIZON, GetRecords until caught
// up) are checked:
//   - every acknowledged PutItem's item is present with exactly its attributes;
//   - every item present has exactly one INSERT record whose NewImage is the item, and no
//     record names an absent item (no half-writes), in flight or not;
//   - each counter's records are its increments in order (n = 1, 2, …), the counter equals
//     its number of records, holds (in a string set) exactly the ids those records carry,
//     includes every acknowledged increment and is at most acknowledged + in flight.
// That is repeated for NIMBUS_DDB_CRASH_ROUNDS rounds (default 3), then the mapping must
// have delivered every committed change (at least once; duplicates allowed) to the
// consumer function, which records the write ids it receives in a bucket before it returns.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DynamoDBClient,
  CreateTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, DescribeStreamCommand, GetShardIteratorCommand, GetRecordsCommand } from '@aws-sdk/client-dynamodb-streams';
import { CreateEventSourceMappingCommand, GetEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { S3Client, CreateBucketCommand, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { Nimbus, waitFor, sleep, uniqueName, SKIP_NO_BINARY, REGION, CREDENTIALS } from '../lib/nimbus.mjs';
import { scanAll } from '../lib/dynamodb.mjs';
import { createFunction } from '../lib/lambda.mjs';
import { readStat } from '../lib/procs.mjs';
import { zipFiles } from '../lib/zip.mjs';

const ROUNDS = Math.max(1, Number(process.env.NIMBUS_DDB_CRASH_ROUNDS || 3));
const WRITERS = Math.max(1, Number(process.env.NIMBUS_DDB_CRASH_WRITERS || 8));
const COUNTERS = 4;
const UPDATE_SHARE = 0.25; // of the writes, UpdateItem ADD on a counter; the rest PutItem
const KILL_MIN_MS = 300;
const KILL_MAX_MS = 1500;
const DELIVERY_WAIT_MS = Number(process.env.NIMBUS_DDB_DELIVERY_WAIT_MS || 60_000);
const ACTIVE_TIMEOUT_MS = Number(process.env.NIMBUS_DDB_ACTIVE_TIMEOUT_MS || 30_000);

const S = (v) => ({ S: v });
const N = (v) => ({ N: String(v) });

// A comparable form of DynamoDB JSON (binary as base64, sets sorted, attribute names in
// order, so that JSON.stringify of two equal items is equal).
function norm(v) {
  if (v === undefined || v === null) return v;
  if (v instanceof Uint8Array) return `base64:${Buffer.from(v).toString('base64')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = (k === 'SS' || k === 'NS' || k === 'BS') && Array.isArray(x) ? x.map(norm).sort() : norm(x);
  return out;
}

// Records the write id ("w") of every record's NewImage it receives, one object
// per batch in the bucket DELIVERIES, before it returns: durable before the
// mapping's checkpoint moves past the batch. (It logs them too, but a log line
// is asynchronous, as on AWS: the last ones before a kill -9 may be lost while
// their batch was delivered.)
const CONSUMER = `import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
const s3 = new S3Client({ forcePathStyle: true });
export const handler = async (event) => {
  const ws = (event.Records ?? []).map((r) => r.dynamodb?.NewImage?.w?.S ?? null);
  console.log('WS ' + JSON.stringify(ws));
  const key = Date.now() + '-' + Math.random().toString(36).slice(2);
  await s3.send(new PutObjectCommand({ Bucket: process.env.DELIVERIES, Key: key, Body: JSON.stringify(ws) }));
};
`;

// The item a PutItem writes: every attribute type, contents derived from the write id.
function putItem(w, round, i) {
  const h = crypto.createHash('sha256').update(w).digest();
  return {
    pk: S(w),
    w: S(w),
    round: N(round),
    i: N(i),
    price: N(`${i}.${h[0]}5`),
    blob: { B: new Uint8Array(h.subarray(0, 8 + (h[1] % 24))) },
    tags: { SS: [`t${h[2] % 5}`, `u${h[3] % 7}`, `v-${w}`] },
    nums: { NS: ['0.5', String(h[4] + 1), `-${h[5]}.25`] },
    doc: { M: { owner: S(`writer-${w.split('.')[1]}`), depth: { M: { level: N(2), ok: { BOOL: true } } }, none: { NULL: true } } },
    list: { L: [S('a'), N(h[6]), { BOOL: h[7] % 2 === 0 }, { L: [] }] },
    flag: { BOOL: h[8] % 2 === 1 },
    nothing: { NULL: true },
  };
}

const counterKey = (k) => `ctr-${k}`;

describe('DynamoDB crash safety', { skip: SKIP_NO_BINARY }, () => {
  it(`kill -9 during a burst of writes (${ROUNDS} rounds, ${WRITERS} writers): every acknowledged write is there after restart with its stream record, and the stream mapping delivers it`, { timeout: 110_000 + ROUNDS * 30_000 + DELIVERY_WAIT_MS }, async (t) => {
    const report = (line) => {
      console.log(`# ddb-crash: ${line}`);
      t.diagnostic(line);
    };
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-ddb-crash-'));
    let daemon;
    let clients;
    const connect = (n) => {
      const cfg = { endpoint: n.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1, requestHandler: { requestTimeout: 20_000, throwOnRequestTimeout: true } };
      return { ddb: new DynamoDBClient(cfg), streams: new DynamoDBStreamsClient(cfg), s3: new S3Client({ ...cfg, forcePathStyle: true }), lambda: n.lambda(), logs: n.logs() };
    };
    const disconnect = (c) => {
      if (!c) return;
      for (const x of Object.values(c)) x.destroy();
    };

    // Every write ever issued: { w, kind: 'put'|'update', pk, item?, status: 'acked'|'inflight'|'failed', error? }.
    const writes = [];
    const byW = new Map();
    const figures = [];
    let recordsChecked = 0;

    // --- reading back ------------------------------------------------------------------

    // Every record of every shard from TRIM_HORIZON, read until the open shard answers
    // empty twice in a row (nothing writes meanwhile): [{ shardId, record }].
    async function readStream(streams, StreamArn) {
      const shards = [];
      let ExclusiveStartShardId;
      do {
        const d = (await streams.send(new DescribeStreamCommand({ StreamArn, ExclusiveStartShardId }))).StreamDescription;
        assert.equal(d.StreamStatus, 'ENABLED', `stream status after restart: ${JSON.stringify(d)}`);
        shards.push(...d.Shards);
        ExclusiveStartShardId = d.LastEvaluatedShardId;
      } while (ExclusiveStartShardId);
      assert.ok(shards.length >= 1, 'the stream has no shard');
      const out = [];
      for (const s of shards) {
        let { ShardIterator } = await streams.send(new GetShardIteratorCommand({ StreamArn, ShardId: s.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
        let empties = 0;
        for (let i = 0; ShardIterator && empties < 2; i++) {
          assert.ok(i < 20_000, `shard ${s.ShardId} never caught up`);
          const r = await streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1000 }));
          for (const record of r.Records) out.push({ shardId: s.ShardId, record });
          empties = r.Records.length ? 0 : empties + 1;
          ShardIterator = r.NextShardIterator;
        }
      }
      return out;
    }

    // The checks of the header comment, over everything written so far.
    async function verify(c, table, label) {
      const items = await scanAll(c.ddb, table.name);
      const all = await readStream(c.streams, table.arn);
      const records = all.map((x) => x.record);
      for (const shardId of new Set(all.map((x) => x.shardId))) {
        const seqs = all.filter((x) => x.shardId === shardId).map((x) => BigInt(x.record.dynamodb.SequenceNumber));
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i - 1] < seqs[i], `${label}: sequence numbers not increasing in ${shardId} at ${i}`);
      }
      const problems = [];
      const recordsByPk = new Map();
      for (const r of records) {
        const pk = r.dynamodb?.Keys?.pk?.S;
        if (!recordsByPk.has(pk)) recordsByPk.set(pk, []);
        recordsByPk.get(pk).push(r);
      }
      // Items and records that no write of ours explains.
      const counterPks = new Set(Array.from({ length: COUNTERS }, (_, k) => counterKey(k)));
      for (const pk of items.keys()) if (!counterPks.has(pk) && !byW.has(pk)) problems.push(`item ${pk} was never written`);
      for (const pk of recordsByPk.keys()) if (!counterPks.has(pk) && !byW.has(pk)) problems.push(`stream record for ${pk}, never written`);

      // PutItem writes.
      let puts = 0;
      for (const wr of writes) {
        if (wr.kind !== 'put') continue;
        const item = items.get(wr.pk);
        const recs = recordsByPk.get(wr.pk) ?? [];
        if (wr.status === 'acked' && !item) problems.push(`acknowledged PutItem ${wr.pk} is missing`);
        if (item && JSON.stringify(norm(item)) !== JSON.stringify(norm(wr.item))) {
          problems.push(`item ${wr.pk} (${wr.status}) differs: stored ${JSON.stringify(norm(item))}, written ${JSON.stringify(norm(wr.item))}`);
        }
        if (item) {
          puts += 1;
          if (recs.length !== 1) problems.push(`item ${wr.pk} (${wr.status}) has ${recs.length} stream records, want 1`);
          for (const r of recs) {
            if (r.eventName !== 'INSERT' || r.dynamodb.OldImage !== undefined) problems.push(`record for ${wr.pk}: ${r.eventName} with OldImage ${JSON.stringify(r.dynamodb.OldImage)}`);
            if (JSON.stringify(norm(r.dynamodb.NewImage)) !== JSON.stringify(norm(item))) problems.push(`record for ${wr.pk}: NewImage ${JSON.stringify(norm(r.dynamodb.NewImage))} is not the item`);
          }
        } else if (recs.length) {
          problems.push(`half-write: ${recs.length} stream record(s) for absent item ${wr.pk} (${wr.status})`);
        }
      }

      // Counters.
      let increments = 0;
      for (let k = 0; k < COUNTERS; k++) {
        const pk = counterKey(k);
        const item = items.get(pk);
        const recs = recordsByPk.get(pk) ?? [];
        const mine = writes.filter((wr) => wr.pk === pk);
        const acked = mine.filter((wr) => wr.status === 'acked');
        const inflight = mine.filter((wr) => wr.status === 'inflight');
        const n = item ? Number(item.n.N) : 0;
        increments += n;
        if (!item && recs.length) problems.push(`half-write: ${recs.length} stream record(s) for absent counter ${pk}`);
        if (n < acked.length) problems.push(`counter ${pk} = ${n} < ${acked.length} acknowledged increments`);
        if (n > acked.length + inflight.length) problems.push(`counter ${pk} = ${n} > ${acked.length} acknowledged + ${inflight.length} in flight`);
        if (recs.length !== n) problems.push(`counter ${pk} = ${n} but has ${recs.length} stream records`);
        recs.forEach((r, i) => {
          const newN = r.dynamodb.NewImage?.n?.N;
          const oldN = r.dynamodb.OldImage?.n?.N;
          const want = i === 0 ? ['INSERT', undefined, String(1)] : ['MODIFY', String(i), String(i + 1)];
          if (JSON.stringify([r.eventName, oldN, newN]) !== JSON.stringify(want)) {
            problems.push(`counter ${pk} record ${i}: ${JSON.stringify([r.eventName, oldN, newN])}, want ${JSON.stringify(want)}`);
          }
        });
        const ws = new Set(item?.ws?.SS ?? []);
        const recordWs = new Set(recs.map((r) => r.dynamodb.NewImage?.w?.S));
        if (ws.size !== n) problems.push(`counter ${pk} = ${n} but holds ${ws.size} write ids`);
        for (const w of ws) {
          if (!recordWs.has(w)) problems.push(`counter ${pk}: increment ${w} has no stream record`);
          if (byW.get(w)?.pk !== pk || byW.get(w)?.status === 'failed') problems.push(`counter ${pk}: increment ${w} was not sent to it (or failed)`);
        }
        for (const w of recordWs) if (!ws.has(w)) problems.push(`counter ${pk}: stream record of ${w} but the counter lacks it`);
        for (const wr of acked) if (!ws.has(wr.w)) problems.push(`acknowledged increment ${wr.w} of ${pk} is missing`);
        if (item && item.w?.S !== recs.at(-1)?.dynamodb.NewImage?.w?.S) problems.push(`counter ${pk}: last write ${item.w?.S} is not its last record's ${recs.at(-1)?.dynamodb.NewImage?.w?.S}`);
      }
      if (records.length !== puts + increments) problems.push(`${records.length} stream records for ${puts} items and ${increments} increments`);
      assert.deepEqual(problems.slice(0, 12).map((p) => (p.length > 1500 ? `${p.slice(0, 1500)}…` : p)), [], `${label}: ${problems.length} problem(s)`);
      recordsChecked += records.length;
      return { items: items.size, records: records.length, committedWs: records.map((r) => r.dynamodb.NewImage?.w?.S) };
    }

    // --- one burst -----------------------------------------------------------------------

    async function burst(n, c, table, round) {
      let killed = false;
      let killAt = 0;
      const killDelay = KILL_MIN_MS + Math.floor(Math.random() * (KILL_MAX_MS - KILL_MIN_MS + 1));
      const started = Date.now();
      const timer = setTimeout(() => {
        killed = true;
        killAt = Date.now();
        n.proc.kill('SIGKILL');
      }, killDelay);
      const writer = async (wi) => {
        for (let i = 0; !killed; i++) {
          const w = `r${round}.${wi}.${i}`;
          let wr;
          let cmd;
          if (Math.random() < UPDATE_SHARE) {
            const pk = counterKey(Math.floor(Math.random() * COUNTERS));
            wr = { w, kind: 'update', pk, status: 'inflight' };
            cmd = new UpdateItemCommand({
              TableName: table.name,
              Key: { pk: S(pk) },
              UpdateExpression: 'SET w = :w ADD n :one, ws :ws',
              ExpressionAttributeValues: { ':w': S(w), ':one': N(1), ':ws': { SS: [w] } },
            });
          } else {
            const item = putItem(w, round, i);
            wr = { w, kind: 'put', pk: w, item, status: 'inflight' };
            cmd = new PutItemCommand({ TableName: table.name, Item: item });
          }
          writes.push(wr);
          byW.set(w, wr);
          try {
            const r = await c.ddb.send(cmd);
            if (r.$metadata.httpStatusCode === 200) wr.status = 'acked';
            else wr.status = 'failed';
          } catch (e) {
            // Before the kill any error is a failure; after it an error response (4xx/5xx)
            // still is, and anything else (reset, truncated answer) was cut off: in flight.
            if (!killed || (e.$metadata?.httpStatusCode ?? 0) >= 400) {
              wr.status = 'failed';
              wr.error = `${e.name} (${e.$metadata?.httpStatusCode}): ${e.message}`;
            }
          }
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, wi) => writer(wi)));
      clearTimeout(timer);
      const exit = await n.exited;
      assert.equal(exit.signal, 'SIGKILL', `the daemon exited by itself during the burst: ${JSON.stringify(exit)}\n${n.stderrTail(4000)}`);
      const mine = writes.filter((wr) => wr.w.startsWith(`r${round}.`));
      const count = (s) => mine.filter((wr) => wr.status === s).length;
      const f = {
        round,
        killAfterMs: killDelay,
        issued: mine.length,
        acked: count('acked'),
        ackedPuts: mine.filter((wr) => wr.status === 'acked' && wr.kind === 'put').length,
        ackedUpdates: mine.filter((wr) => wr.status === 'acked' && wr.kind === 'update').length,
        inflight: count('inflight'),
        failed: count('failed'),
        ackedPerSecond: Math.round((count('acked') * 1000) / Math.max(1, killAt - started)),
      };
      figures.push(f);
      const failures = mine.filter((wr) => wr.status === 'failed').map((wr) => `${wr.w}: ${wr.error}`);
      assert.deepEqual(failures.slice(0, 20), [], `round ${round}: ${failures.length} write(s) refused by the daemon before it was killed`);
      assert.ok(f.acked > 0, `round ${round}: no write was acknowledged in ${killDelay} ms`);
      return f;
    }

    // Processes the killed daemon had started that are still alive (sandboxes orphaned).
    function survivors(n) {
      n.sample?.();
      const out = [];
      for (const [pid, info] of n.seen) {
        const st = readStat(pid);
        if (st && st.starttime === info.starttime && st.state !== 'Z') out.push(`${pid} ${st.comm}`);
      }
      return out;
    }

    try {
      // Round 0: the table, the consumer and its mapping.
      daemon = await Nimbus.start({ dataDir });
      clients = connect(daemon);
      const table = { name: uniqueName('ddb-crash') };
      await clients.ddb.send(new CreateTableCommand({
        TableName: table.name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }));
      const desc = await waitFor(async () => (await clients.ddb.send(new DescribeTableCommand({ TableName: table.name }))).Table, (x) => x.TableStatus === 'ACTIVE', ACTIVE_TIMEOUT_MS);
      assert.equal(desc.TableStatus, 'ACTIVE');
      table.arn = desc.LatestStreamArn;
      assert.ok(table.arn, 'the table has no LatestStreamArn');
      const fn = uniqueName('ddb-crash-consumer');
      const deliveries = fn.toLowerCase();
      await clients.s3.send(new CreateBucketCommand({ Bucket: deliveries }));
      await createFunction(clients.lambda, { name: fn, zip: zipFiles({ 'index.mjs': CONSUMER }), runtime: 'nodejs20.x', handler: 'index.handler', Timeout: 30, Environment: { Variables: { DELIVERIES: deliveries } } });
      const { UUID } = await clients.lambda.send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: table.arn, StartingPosition: 'TRIM_HORIZON', BatchSize: 1000 }));
      const m = await waitFor(() => clients.lambda.send(new GetEventSourceMappingCommand({ UUID })), (x) => x.State === 'Enabled', 60_000, 250);
      assert.equal(m.State, 'Enabled', `mapping never Enabled: ${JSON.stringify(m)}`);

      let last;
      for (let round = 1; round <= ROUNDS; round++) {
        const f = await burst(daemon, clients, table, round);
        disconnect(clients);
        await sleep(1000);
        const orphans = survivors(daemon);
        daemon = await Nimbus.start({ dataDir });
        clients = connect(daemon);
        const restartMs = Date.now();
        last = await verify(clients, table, `after round ${round}`);
        f.verifyMs = Date.now() - restartMs;
        const committedNow = new Set(last.committedWs);
        f.inflightCommitted = writes.filter((wr) => wr.w.startsWith(`r${round}.`) && wr.status === 'inflight' && committedNow.has(wr.w)).length;
        f.items = last.items;
        f.streamRecords = last.records;
        f.orphanedProcesses = orphans.length;
        report(`round ${round}: killed after ${f.killAfterMs} ms; ${f.issued} writes issued, ${f.acked} acknowledged (${f.ackedPuts} PutItem, ${f.ackedUpdates} UpdateItem ADD; ~${f.ackedPerSecond}/s), ${f.inflight} in flight at the kill (${f.inflightCommitted} of them committed), ${f.failed} failed; after restart ${f.items} items, ${f.streamRecords} stream records, all consistent (checked in ${f.verifyMs} ms)${orphans.length ? `; ${orphans.length} processes of the killed daemon still alive 1 s later: ${orphans.slice(0, 5).join(', ')}` : ''}`);
        const ms = await clients.lambda.send(new GetEventSourceMappingCommand({ UUID }));
        assert.equal(ms.State, 'Enabled', `mapping after restart ${round}: ${JSON.stringify(ms)}`);
      }

      // After the last restart the service takes writes again, and they reach the stream too.
      const after = [];
      for (let i = 0; i < 5; i++) {
        const w = `after.0.${i}`;
        const item = putItem(w, ROUNDS + 1, i);
        await clients.ddb.send(new PutItemCommand({ TableName: table.name, Item: item }));
        const wr = { w, kind: 'put', pk: w, item, status: 'acked' };
        writes.push(wr);
        byW.set(w, wr);
        after.push(w);
      }
      last = await verify(clients, table, 'after the final writes');

      // The mapping delivers every committed change (acknowledged or not) at least once.
      const committed = new Set(last.committedWs);
      const acked = writes.filter((wr) => wr.status === 'acked').map((wr) => wr.w);
      for (const w of acked) assert.ok(committed.has(w), `acknowledged ${w} not in the stream`);
      const deliveryStart = Date.now();
      // What the consumer recorded in its bucket (durable), one object per batch
      // delivered; read once each.
      const batches = new Map();
      const delivered = async () => {
        let token;
        do {
          const page = await clients.s3.send(new ListObjectsV2Command({ Bucket: deliveries, ContinuationToken: token }));
          for (const { Key } of page.Contents ?? []) {
            if (batches.has(Key)) continue;
            const got = await clients.s3.send(new GetObjectCommand({ Bucket: deliveries, Key }));
            batches.set(Key, JSON.parse(await got.Body.transformToString()));
          }
          token = page.NextContinuationToken;
        } while (token);
        const seen = new Map();
        for (const ws of batches.values()) for (const w of ws) seen.set(w, (seen.get(w) ?? 0) + 1);
        return seen;
      };
      const seen = await waitFor(delivered, (s) => [...committed].every((w) => s.has(w)), DELIVERY_WAIT_MS, 1000);
      const missing = [...committed].filter((w) => !seen.has(w));
      const missingAcked = acked.filter((w) => !seen.has(w));
      const duplicates = [...seen.values()].filter((x) => x > 1).length;
      const deliveredTotal = [...seen.values()].reduce((a, b) => a + b, 0);
      report(`stream mapping: ${committed.size - missing.length}/${committed.size} committed changes delivered (${deliveredTotal} deliveries, ${duplicates} delivered more than once) within ${Date.now() - deliveryStart} ms of the last restart's check`);
      assert.deepEqual(missingAcked.slice(0, 20), [], `${missingAcked.length} acknowledged writes never delivered to ${fn}`);
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} committed (unacknowledged) writes never delivered to ${fn}`);
      const unknown = [...seen.keys()].filter((w) => !committed.has(w));
      assert.deepEqual(unknown.slice(0, 20), [], 'the function received changes that are not in the stream');

      const total = (k) => figures.reduce((a, f) => a + f[k], 0);
      report(`total: ${ROUNDS} rounds, ${WRITERS} writers, ${total('issued')} writes issued, ${total('acked')} acknowledged, ${total('inflight')} in flight at a kill (${total('inflightCommitted')} committed), ${total('failed')} failed; ${recordsChecked} stream records checked over ${ROUNDS + 1} verifications; ${committed.size} changes delivered`);

      disconnect(clients);
      clients = null;
      await daemon.stop();
    } catch (e) {
      e.message += `\n--- nimbus stderr tail ---\n${daemon?.stderrTail(6000) ?? ''}`;
      throw e;
    } finally {
      disconnect(clients);
      if (daemon?.alive()) await daemon.stop({ assertClean: false });
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
