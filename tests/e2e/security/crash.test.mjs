// Crash safety and full disk (issue 8, scope 4): "kill -9 at random points during function
// creation, object puts, queue sends, table writes and async enqueues, repeated many times:
// after restart every acknowledged write is present and whole, nothing half-written is
// visible, and the store passes an integrity check. A full disk yields clean errors and no
// corruption."
//
// 1. Rounds (NIMBUS_CRASH_ROUNDS, default 5): concurrent writers issue CreateFunction (a
//    distinct zip each), UpdateFunctionCode (two functions, one writer each), S3 PutObject
//    (0 B to 3 MiB, fresh keys and a per-writer key overwritten again and again) and
//    multipart uploads (5 MiB + 5 MiB + a tail from scratch, and uploads staged before the
//    burst with a 5 MiB part that get their last part and Complete), SQS SendMessage and
//    SendMessageBatch, DynamoDB PutItem (every attribute type) and UpdateItem (per-writer
//    counters), and
//    Invoke with InvocationType Event (a Node function that records its event id and
//    request id in a table through the SDK). Every call is recorded as acknowledged (2xx,
//    with what the answer identifies: CodeSha256, ETag, MessageId + MD5, the item, the
//    202's request id), in flight at the kill, or failed (none may fail before the kill).
//    After a random 300–2500 ms the daemon gets SIGKILL. A copy of every *.db (+ -wal) as
//    the kill left it must pass `PRAGMA integrity_check`. The daemon restarts on the same
//    data directory and everything written so far is checked:
//      - functions: every acknowledged one is listed, Active/Successful, has the CodeSha256
//        it was acknowledged with and invokes to its own marker (new ones each round);
//        an updated function's code is the last acknowledged update or the one in flight,
//        and runs that code; anything listed was issued by us, in no other state, with
//        exactly the code we sent; blobs/ and code/ hold exactly the functions' packages,
//        no `.tmp-*`;
//      - S3: every acknowledged object's bytes (SHA-256), length and ETag are those
//        acknowledged (an overwritten key: the last acknowledged version or the one in
//        flight); ListObjectsV2 lists exactly the keys that GetObject finds, with the same
//        sizes and ETags; nothing listed that was never sent; no file left in s3/tmp and
//        exactly one object file per object or pending part in s3/objects;
//      - SQS: a drain (receive until empty, then delete) gets every acknowledged MessageId
//        with its body and MD5 at least once, no body under two MessageIds, nothing unsent;
//        messages sent before the first round are received after the last one;
//      - DynamoDB: every acknowledged item equal, every item present one we sent, each
//        counter between its acknowledged and acknowledged + in-flight increments, holding
//        exactly the write ids it counted;
//      - async: every acknowledged event runs (its id appears in the sink table with
//        exactly the 202's request id), within a bound after the restart.
// 2. After the final round the daemon is stopped (cleanly) and every *.db in the data dir
//    passes `PRAGMA integrity_check` and `PRAGMA foreign_key_check` (sqlite3 CLI, else
//    python3's sqlite3 module).
// 3. Full disk (root: a 96 MiB tmpfs as the data directory): S3 PutObject until even a
//    1-byte put fails; each failure must be a clean S3 error (5xx, XML <Error><Code>,
//    a message naming the lack of space), the daemon stays up and serves the objects
//    stored before; SQS sends, DynamoDB writes and CreateFunction either succeed or fail
//    with a clear error naming the lack of space, and leave no file behind; a kill -9 and
//    restart on the full disk serves every object; DeleteObject and DeleteItem on the full
//    disk must work (they are how space is freed through the APIs: if one fails, that is
//    reported and the test frees a 4 MiB ballast file of its own to check the rest); after
//    deleting objects every kind of write succeeds again; a restart on the same directory
//    finds every acknowledged write intact and the databases pass the integrity check.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateFunctionCommand,
  UpdateFunctionCodeCommand,
  GetFunctionCommand,
  ListFunctionsCommand,
  InvokeCommand,
} from '@aws-sdk/client-lambda';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
} from '@aws-sdk/client-s3';
import {
  SQSClient,
  CreateQueueCommand,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  DeleteMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { DynamoDBClient, CreateTableCommand, DescribeTableCommand, PutItemCommand, UpdateItemCommand, GetItemCommand, DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { scanAll } from '../lib/dynamodb.mjs';
import { Nimbus, waitFor, sleep, uniqueName, SKIP_NO_BINARY, REGION, CREDENTIALS, ROLE, RUN_ID, commandExists } from '../lib/nimbus.mjs';
import { signedHeaders } from '../lib/sign.mjs';
import { isRoot } from '../lib/procs.mjs';
import { writeTree } from '../lib/zip.mjs';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;
const ROUNDS = Math.max(1, Number(process.env.NIMBUS_CRASH_ROUNDS || 5));
const KILL_MIN_MS = 300;
const KILL_MAX_MS = 2500;
const ASYNC_WAIT_MS = Number(process.env.NIMBUS_CRASH_ASYNC_WAIT_MS || 90_000);
const TMPFS_MIB = 96;

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const sha256b64 = (b) => crypto.createHash('sha256').update(b).digest('base64');
const md5hex = (b) => crypto.createHash('md5').update(b).digest('hex');
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const S = (v) => ({ S: v });
const N = (v) => ({ N: String(v) });

// --- SQLite integrity -------------------------------------------------------------------

const SQLITE = commandExists('sqlite3', ['-version']) ? 'sqlite3' : commandExists('/usr/bin/python3', ['-c', 'import sqlite3']) ? 'python3' : null;

// PRAGMA integrity_check and foreign_key_check of one database file: { integrity, fk }.
async function checkDb(file) {
  if (SQLITE === 'sqlite3') {
    const { stdout: integrity } = await execFileP('sqlite3', [file, 'PRAGMA integrity_check;']);
    const { stdout: fk } = await execFileP('sqlite3', [file, 'PRAGMA foreign_key_check;']);
    return { integrity: integrity.trim(), fk: fk.trim() };
  }
  const py = 'import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nprint("\\n".join(str(r[0]) for r in c.execute("PRAGMA integrity_check")))\nprint("--FK--")\nfor r in c.execute("PRAGMA foreign_key_check"): print(r)\n';
  const { stdout } = await execFileP('/usr/bin/python3', ['-c', py, file]);
  const [integrity, fk] = stdout.split('--FK--');
  return { integrity: integrity.trim(), fk: (fk ?? '').trim() };
}

function dbFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && !['code', 'logs', 'objects', 'blobs'].includes(e.name)) walk(p);
      else if (e.isFile() && e.name.endsWith('.db')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

// Checks every *.db under `dir`; with `copy`, checks copies of each .db and its -wal as they
// are (the state a crash left, recovered by SQLite as the daemon's next open would).
async function integrityOfAll(dir, { copy = false } = {}) {
  const files = dbFiles(dir);
  const problems = [];
  const scratch = copy ? fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-crash-db-')) : null;
  try {
    for (const f of files) {
      let target = f;
      if (copy) {
        target = path.join(scratch, path.relative(dir, f).replaceAll('/', '__'));
        fs.copyFileSync(f, target);
        if (fs.existsSync(`${f}-wal`)) fs.copyFileSync(`${f}-wal`, `${target}-wal`);
      }
      const r = await checkDb(target);
      if (r.integrity !== 'ok') problems.push(`${path.relative(dir, f)}: integrity_check: ${r.integrity.slice(0, 500)}`);
      if (r.fk !== '') problems.push(`${path.relative(dir, f)}: foreign_key_check: ${r.fk.slice(0, 500)}`);
    }
  } finally {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { files: files.map((f) => path.relative(dir, f)), problems };
}

// --- code packages ------------------------------------------------------------------------

// A Python function whose handler returns `mark`, zipped with the zip command (off the event
// loop, so building a round's packages does not stall the writers of another).
async function markZip(mark) {
  const dir = writeTree({ 'app.py': `MARK = ${JSON.stringify(mark)}\n\n\ndef handler(event, context):\n    return {"mark": MARK}\n` });
  try {
    await execFileP('zip', ['-q', '-r', '-X', path.join(dir, 'package.zip'), 'app.py'], { cwd: dir });
    const zip = fs.readFileSync(path.join(dir, 'package.zip'));
    return { mark, zip, sha: sha256b64(zip) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function markZips(marks) {
  const out = [];
  for (let i = 0; i < marks.length; i += 8) out.push(...(await Promise.all(marks.slice(i, i + 8).map(markZip))));
  return out;
}

// Records its event's id and request id in the table named by RAN_TABLE.
const SINK = `import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
const ddb = new DynamoDBClient({});
export const handler = async (event, context) => {
  await ddb.send(new UpdateItemCommand({
    TableName: process.env.RAN_TABLE,
    Key: { pk: { S: event.id } },
    UpdateExpression: 'ADD runs :one, rids :rid',
    ExpressionAttributeValues: { ':one': { N: '1' }, ':rid': { SS: [context.awsRequestId] } },
  }));
  return { id: event.id };
};
`;

async function zipTree(files) {
  const dir = writeTree(files);
  try {
    await execFileP('zip', ['-q', '-r', '-X', path.join(dir, 'package.zip'), ...Object.keys(files)], { cwd: dir });
    return fs.readFileSync(path.join(dir, 'package.zip'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// --- items ----------------------------------------------------------------------------------

// A comparable form of DynamoDB JSON (binary as base64, sets sorted, names in order).
function norm(v) {
  if (v === undefined || v === null) return v;
  if (v instanceof Uint8Array) return `base64:${Buffer.from(v).toString('base64')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = (k === 'SS' || k === 'NS' || k === 'BS') && Array.isArray(x) ? x.map(norm).sort() : norm(x);
  return out;
}
const same = (a, b) => JSON.stringify(norm(a)) === JSON.stringify(norm(b));

function putItem(w) {
  const h = crypto.createHash('sha256').update(w).digest();
  return {
    pk: S(w),
    price: N(`${h[0]}.${h[1]}5`),
    blob: { B: new Uint8Array(crypto.randomBytes(1 + (h[2] % 64))) },
    tags: { SS: [`t${h[3] % 5}`, `v-${w}`] },
    nums: { NS: ['0.5', String(h[4] + 1)] },
    doc: { M: { owner: S(w.split('.')[1] ?? 'x'), deep: { M: { ok: { BOOL: true }, none: { NULL: true } } } } },
    list: { L: [S('a'), N(h[5]), { L: [] }] },
    text: S('é✓'.repeat(1 + (h[6] % 50)) + 'x'.repeat(h[7] * 8)),
    flag: { BOOL: h[8] % 2 === 1 },
  };
}

// --- clients and outcomes -------------------------------------------------------------------

function connect(n) {
  const cfg = { endpoint: n.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1, requestHandler: { requestTimeout: 30_000, throwOnRequestTimeout: true } };
  return {
    lambda: n.lambda({ requestHandler: cfg.requestHandler }),
    s3: new S3Client({ ...cfg, forcePathStyle: true }),
    sqs: new SQSClient(cfg),
    ddb: new DynamoDBClient(cfg),
  };
}
function disconnect(c) {
  if (c) for (const x of Object.values(c)) x.destroy();
}

const errorText = (e) => `${e.name} (HTTP ${e.$metadata?.httpStatusCode ?? '-'}): ${String(e.message).slice(0, 300)}`;

// The S3 ETag of a multipart object: MD5 of the parts' MD5s, "-" and the part count.
function multipartEtag(parts) {
  return `"${md5hex(Buffer.concat(parts.map((p) => crypto.createHash('md5').update(p).digest())))}-${parts.length}"`;
}

async function readBody(s3, Bucket, Key) {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key }));
  const bytes = Buffer.from(await r.Body.transformToByteArray());
  return { bytes, etag: r.ETag, length: r.ContentLength };
}

async function listAll(s3, Bucket) {
  const out = new Map();
  let ContinuationToken;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket, ContinuationToken }));
    for (const o of r.Contents ?? []) out.set(o.Key, { size: o.Size, etag: o.ETag });
    ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return out;
}


// Receives until two receives in a row are empty (hiding what it got for 5 minutes), then
// deletes what it received. Returns [{ id, body, md5 }] in receive order.
async function drainQueue(sqs, QueueUrl) {
  const got = [];
  for (let empties = 0, i = 0; empties < 2; i++) {
    assert.ok(i < 5000, 'the queue never drained');
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300, WaitTimeSeconds: 0 }));
    const ms = r.Messages ?? [];
    empties = ms.length ? 0 : empties + 1;
    for (const m of ms) got.push({ id: m.MessageId, body: m.Body, md5: m.MD5OfBody, handle: m.ReceiptHandle });
    for (let k = 0; k < ms.length; k += 10) {
      const entries = ms.slice(k, k + 10).map((m, j) => ({ Id: `d${j}`, ReceiptHandle: m.ReceiptHandle }));
      const d = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: entries }));
      assert.deepEqual(d.Failed ?? [], [], 'DeleteMessageBatch failed');
    }
  }
  return got;
}

async function createTable(ddb, TableName) {
  await ddb.send(new CreateTableCommand({
    TableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  }));
  const d = await waitFor(async () => (await ddb.send(new DescribeTableCommand({ TableName }))).Table, (x) => x.TableStatus === 'ACTIVE', 30_000);
  assert.equal(d.TableStatus, 'ACTIVE', `table ${TableName} never ACTIVE`);
}

// Runs `tasks` (functions returning promises) `limit` at a time.
async function pool(tasks, limit) {
  const results = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }));
  return results;
}

const filesUnder = (dir) => {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.join(e.parentPath ?? e.path, e.name));
  return out;
};

// After a restart (which collects unused code): blobs/sha256/ holds exactly the zips of the
// existing functions, code/ a complete directory for each, and neither a temporary entry.
function codeStoreProblems(dataDir, shas) {
  const problems = [];
  const want = new Set([...shas].map((b64) => Buffer.from(b64, 'base64').toString('hex')));
  const blobsDir = path.join(dataDir, 'blobs', 'sha256');
  const blobs = fs.existsSync(blobsDir) ? fs.readdirSync(blobsDir) : [];
  const extra = blobs.filter((b) => !want.has(b));
  const missing = [...want].filter((h) => !blobs.includes(h));
  if (extra.length) problems.push(`blobs/sha256 holds ${extra.length} zip(s) no function uses: ${extra.slice(0, 4).join(', ')}`);
  if (missing.length) problems.push(`blobs/sha256 lacks the zip of ${missing.length} function(s): ${missing.slice(0, 4).join(', ')}`);
  const codeDir = path.join(dataDir, 'code');
  const code = fs.existsSync(codeDir) ? fs.readdirSync(codeDir) : [];
  for (const h of want) if (!code.includes(h)) problems.push(`code/${h} (unpacked code of a function) is missing`);
  const tmp = [...code.filter((e) => e.startsWith('.tmp')), ...blobs.filter((e) => e.startsWith('.tmp'))];
  if (tmp.length) problems.push(`temporary entries left in code/ or blobs/: ${tmp.slice(0, 4).join(', ')}`);
  return problems;
}

// ==============================================================================================

describe('crash safety: kill -9 during concurrent writes of every kind', { skip: SKIP_NO_BINARY || (SQLITE ? false : 'neither the sqlite3 CLI nor python3 with its sqlite3 module is installed (needed for PRAGMA integrity_check)') }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-crash-'));
  const keepAlive = 2;
  let daemon;
  let roundsRan = false;

  after(async () => {
    if (daemon?.alive()) await daemon.stop({ assertClean: false });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`${ROUNDS} rounds of kill -9 at a random point: every acknowledged write is present and whole after each restart, nothing half-written is visible`, { timeout: 120_000 + ROUNDS * 60_000 + ASYNC_WAIT_MS }, async (t) => {
    const report = (line) => {
      console.log(`# crash: ${line}`);
      t.diagnostic(line);
    };
    const bucket = `${RUN_ID}-crash`.toLowerCase();
    const table = uniqueName('crash-items');
    const ranTable = uniqueName('crash-ran');
    const sink = uniqueName('crash-sink');
    let queueUrl;
    let keepQueueUrl;

    // Everything ever issued.
    const fns = new Map(); // name -> { sha, mark, status, error }
    const updated = []; // { name, versions: [{ sha, mark, status }] }
    const objects = new Map(); // key -> [{ sha, md5, size, etag, status, multipart }]
    const messages = []; // { id (ours), body, md5, messageId, status, round }
    const items = new Map(); // pk -> { item, status }
    const counters = new Map(); // pk -> [{ w, status }]
    const events = new Map(); // id -> { requestId, status }
    const keepMessages = [];
    const shaToMark = new Map();
    const invoked = new Set(); // functions already proven to invoke
    const totals = { kills: 0, crashIntegrityChecks: 0, lost: 0 };
    let c;

    // One operation of a writer: `issue` returns the acknowledgement's data (throws on
    // error); `rec` gets status acked | inflight | failed.
    let killed = false;
    const failures = [];
    async function attempt(rec, issue, label) {
      rec.status = 'inflight';
      try {
        const ack = await issue();
        rec.status = 'acked';
        return ack;
      } catch (e) {
        if (!killed || (e.$metadata?.httpStatusCode ?? 0) >= 400) {
          rec.status = 'failed';
          rec.error = errorText(e);
          if (!killed) failures.push(`${label}: ${rec.error}`);
        }
        return undefined;
      }
    }

    // --- writers ----------------------------------------------------------------------

    function writers(round, zips) {
      const pause = (lo, hi) => sleep(lo + Math.random() * (hi - lo));
      const list = [];
      // CreateFunction, 2 writers.
      for (let w = 0; w < 2; w++) {
        list.push(async () => {
          for (const z of zips.create[w]) {
            if (killed) return;
            const rec = { sha: z.sha, mark: z.mark, round };
            fns.set(z.mark, rec);
            const r = await attempt(rec, () => c.lambda.send(new CreateFunctionCommand({ FunctionName: z.mark, Role: ROLE, Runtime: 'python3.11', Handler: 'app.handler', Code: { ZipFile: z.zip }, Timeout: 10 })), `CreateFunction ${z.mark}`);
            if (r && r.CodeSha256 !== z.sha) failures.push(`CreateFunction ${z.mark} answered CodeSha256 ${r.CodeSha256}, want ${z.sha}`);
            if (r && !['Active', 'Pending'].includes(r.State)) failures.push(`CreateFunction ${z.mark} answered State ${r.State}`);
            await pause(20, 80);
          }
        });
      }
      // UpdateFunctionCode, one writer per function.
      updated.forEach((u, w) => {
        list.push(async () => {
          for (const z of zips.update[w]) {
            if (killed) return;
            const v = { sha: z.sha, mark: z.mark, round };
            u.versions.push(v);
            const r = await attempt(v, () => c.lambda.send(new UpdateFunctionCodeCommand({ FunctionName: u.name, ZipFile: z.zip })), `UpdateFunctionCode ${u.name}`);
            if (r && r.CodeSha256 !== z.sha) failures.push(`UpdateFunctionCode ${u.name} answered CodeSha256 ${r.CodeSha256}, want ${z.sha}`);
            await pause(20, 80);
          }
        });
      });
      // PutObject, 3 writers: fresh keys of many sizes; every 4th put overwrites the writer's own key.
      const sizes = [0, 1, 100, 1000, 4096, 65_536, 65_537, 300_000, 1 * MiB, 3 * MiB + 7];
      for (let w = 0; w < 3; w++) {
        list.push(async () => {
          for (let i = 0; !killed; i++) {
            const key = i % 4 === 3 ? `shared/w${w}.bin` : `r${round}/w${w}/${i}-${crypto.randomBytes(3).toString('hex')} ü.bin`;
            const size = pick(i % 7 === 6 ? sizes : sizes.slice(0, 8));
            const body = crypto.randomBytes(size);
            const v = { sha: sha256(body), md5: md5hex(body), size, etag: `"${md5hex(body)}"`, tail: body.at(-1), round };
            if (!objects.has(key)) objects.set(key, []);
            objects.get(key).push(v);
            const r = await attempt(v, () => c.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })), `PutObject ${key} (${size} B)`);
            if (r && r.ETag !== v.etag) failures.push(`PutObject ${key} answered ETag ${r.ETag}, want ${v.etag}`);
            await pause(0, 25);
          }
        });
      }
      // Multipart uploads from scratch: 5 MiB + 5 MiB + a tail; only the Complete acknowledges
      // the object.
      list.push(async () => {
        for (let i = 0; !killed; i++) {
          const Key = `r${round}/mp/${i}.bin`;
          const parts = [crypto.randomBytes(5 * MiB), crypto.randomBytes(5 * MiB), crypto.randomBytes(1 + Math.floor(Math.random() * 300_000))];
          const whole = Buffer.concat(parts);
          const v = { sha: sha256(whole), size: whole.length, etag: multipartEtag(parts), tail: whole.at(-1), multipart: true, round };
          objects.set(Key, [v]);
          const r = await attempt(v, async () => {
            const { UploadId } = await c.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
            const done = [];
            for (let p = 0; p < parts.length; p++) {
              if (killed) throw new Error('killed');
              const u = await c.s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: p + 1, Body: parts[p] }));
              done.push({ PartNumber: p + 1, ETag: u.ETag });
            }
            return c.s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: done } }));
          }, `multipart ${Key}`);
          if (r && r.ETag !== v.etag) failures.push(`CompleteMultipartUpload ${Key} answered ETag ${r.ETag}, want ${v.etag}`);
        }
      });
      // Uploads staged before the burst (part 1 of 5 MiB): their last part and Complete.
      list.push(async () => {
        for (const u of zips.staged) {
          if (killed) return;
          const v = { sha: sha256(Buffer.concat([u.first, u.last])), size: u.first.length + u.last.length, etag: multipartEtag([u.first, u.last]), tail: u.last.at(-1), multipart: true, round };
          objects.set(u.Key, [v]);
          const r = await attempt(v, async () => {
            const p2 = await c.s3.send(new UploadPartCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId, PartNumber: 2, Body: u.last }));
            if (killed) throw new Error('killed');
            return c.s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: u.etag1 }, { PartNumber: 2, ETag: p2.ETag }] } }));
          }, `multipart ${u.Key}`);
          if (r && r.ETag !== v.etag) failures.push(`CompleteMultipartUpload ${u.Key} answered ETag ${r.ETag}, want ${v.etag}`);
        }
      });
      // SendMessage / SendMessageBatch, 2 writers.
      for (let w = 0; w < 2; w++) {
        list.push(async () => {
          for (let i = 0; !killed; i++) {
            const n = i % 2 === 0 ? 1 : 1 + Math.floor(Math.random() * 10);
            const batch = Array.from({ length: n }, (_, j) => {
              const id = `m.r${round}.${w}.${i}.${j}`;
              const body = JSON.stringify({ id, pad: 'ü✓x'.repeat(Math.floor(Math.random() * 1500)) });
              const m = { id, body, md5: md5hex(Buffer.from(body)), round };
              messages.push(m);
              return m;
            });
            const group = { status: 'inflight' };
            const r = await attempt(group, () => (n === 1 && i % 2 === 0
              ? c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: batch[0].body })).then((x) => ({ Successful: [{ Id: 'e0', MessageId: x.MessageId, MD5OfMessageBody: x.MD5OfMessageBody }], Failed: [] }))
              : c.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch.map((m, j) => ({ Id: `e${j}`, MessageBody: m.body })) }))), `SendMessage(Batch) of ${n}`);
            for (const m of batch) m.status = group.status === 'acked' ? 'failed' : group.status;
            if (r) {
              for (const s of r.Successful ?? []) {
                const m = batch[Number(s.Id.slice(1))];
                m.status = 'acked';
                m.messageId = s.MessageId;
                if (s.MD5OfMessageBody !== m.md5) failures.push(`SendMessage ${m.id} answered MD5 ${s.MD5OfMessageBody}, want ${m.md5}`);
              }
              for (const f of r.Failed ?? []) failures.push(`SendMessageBatch entry ${batch[Number(f.Id.slice(1))].id} failed: ${f.Code} ${f.Message}`);
            }
            await pause(0, 15);
          }
        });
      }
      // PutItem and UpdateItem (a counter per writer), 2 writers.
      for (let w = 0; w < 2; w++) {
        list.push(async () => {
          const pk = `ctr-${w}`;
          if (!counters.has(pk)) counters.set(pk, []);
          for (let i = 0; !killed; i++) {
            const id = `i.r${round}.${w}.${i}`;
            if (i % 3 === 2) {
              const rec = { w: id };
              counters.get(pk).push(rec);
              await attempt(rec, () => c.ddb.send(new UpdateItemCommand({ TableName: table, Key: { pk: S(pk) }, UpdateExpression: 'SET w = :w ADD n :one, ws :ws', ExpressionAttributeValues: { ':w': S(id), ':one': N(1), ':ws': { SS: [id] } } })), `UpdateItem ${pk}`);
            } else {
              const rec = { item: putItem(id) };
              items.set(id, rec);
              await attempt(rec, () => c.ddb.send(new PutItemCommand({ TableName: table, Item: rec.item })), `PutItem ${id}`);
            }
            await pause(0, 15);
          }
        });
      }
      // Invoke (Event), 1 writer.
      list.push(async () => {
        for (let i = 0; !killed; i++) {
          const id = `e.r${round}.${i}`;
          const rec = {};
          events.set(id, rec);
          const r = await attempt(rec, () => c.lambda.send(new InvokeCommand({ FunctionName: sink, InvocationType: 'Event', Payload: JSON.stringify({ id }) })), `Invoke Event ${id}`);
          if (r) {
            if (r.StatusCode !== 202) failures.push(`Invoke Event ${id} answered ${r.StatusCode}`);
            rec.requestId = r.$metadata.requestId;
          }
          await pause(5, 30);
        }
      });
      return list;
    }

    // --- checks after a restart -------------------------------------------------------------

    async function checkFunctions(problems) {
      const listed = new Map();
      let Marker;
      do {
        const r = await c.lambda.send(new ListFunctionsCommand({ Marker }));
        for (const f of r.Functions) listed.set(f.FunctionName, f);
        Marker = r.NextMarker;
      } while (Marker);
      const toInvoke = [];
      const known = new Set([...fns.keys(), ...updated.map((u) => u.name), sink]);
      for (const name of listed.keys()) if (!known.has(name)) problems.push(`function ${name} is listed but was never created`);
      const checkOne = async (name, allowedShas, mustExist) => {
        let cfg;
        try {
          cfg = (await c.lambda.send(new GetFunctionCommand({ FunctionName: name }))).Configuration;
        } catch (e) {
          if (e.name !== 'ResourceNotFoundException') throw e;
        }
        if (!cfg) {
          if (mustExist) problems.push(`acknowledged function ${name} is missing`);
          if (listed.has(name)) problems.push(`function ${name} is listed but GetFunction finds none`);
          return;
        }
        if (!listed.has(name)) problems.push(`function ${name} exists but ListFunctions does not list it`);
        if (cfg.State === 'Pending' || cfg.LastUpdateStatus === 'InProgress') {
          cfg = await waitFor(async () => (await c.lambda.send(new GetFunctionCommand({ FunctionName: name }))).Configuration, (x) => x.State !== 'Pending' && x.LastUpdateStatus !== 'InProgress', 30_000, 250);
        }
        if (cfg.State !== 'Active' || cfg.LastUpdateStatus !== 'Successful') problems.push(`function ${name}: State ${cfg.State} (${cfg.StateReasonCode ?? ''} ${cfg.StateReason ?? ''}), LastUpdateStatus ${cfg.LastUpdateStatus} (${cfg.LastUpdateStatusReason ?? ''})`);
        if (!allowedShas.includes(cfg.CodeSha256)) problems.push(`function ${name}: CodeSha256 ${cfg.CodeSha256}, want one of ${allowedShas.join(', ')} (half-written code?)`);
        else if (!invoked.has(`${name}@${cfg.CodeSha256}`)) toInvoke.push({ name, sha: cfg.CodeSha256 });
      };
      await pool([...fns.entries()].map(([name, rec]) => () => checkOne(name, [rec.sha], rec.status === 'acked')), 8);
      for (const u of updated) {
        const lastAcked = u.versions.findLastIndex((v) => v.status === 'acked');
        const allowed = u.versions.slice(lastAcked).filter((v) => v.status !== 'failed').map((v) => v.sha);
        await checkOne(u.name, allowed, true);
      }
      // Every function (re)created or updated since the last check runs its own code.
      await pool(toInvoke.map(({ name, sha }) => async () => {
        const r = await c.lambda.send(new InvokeCommand({ FunctionName: name, Payload: '{}' }));
        const text = Buffer.from(r.Payload ?? []).toString();
        if (r.FunctionError || JSON.parse(text || '{}').mark !== shaToMark.get(sha)) problems.push(`function ${name} (code ${sha}) invoked: ${r.FunctionError ?? ''} ${text.slice(0, 300)}, want mark ${shaToMark.get(sha)}`);
        else invoked.add(`${name}@${sha}`);
      }), 4);
      problems.push(...codeStoreProblems(dataDir, [...listed.values()].map((f) => f.CodeSha256)));
      return { functions: listed.size, invoked: toInvoke.length };
    }

    const wholeVerified = new Set(); // `${key}@${sha}` read back whole after some restart
    async function checkObjects(problems) {
      const listed = await listAll(c.s3, bucket);
      let bytes = 0;
      for (const key of listed.keys()) if (!objects.has(key)) problems.push(`object ${key} is listed but was never put`);
      // An object already proven whole (same version, nothing newer sent) is read back whole
      // again only in a sample of 10 a round; the others by their last byte (file present,
      // its length and ETag as stored), which keeps long runs linear.
      const settled = [...objects.entries()].filter(([key, versions]) => {
        const last = versions.at(-1);
        return last.status === 'acked' && wholeVerified.has(`${key}@${last.sha}`);
      }).map(([key]) => key);
      const sample = new Set(settled.sort(() => Math.random() - 0.5).slice(0, 10));
      let cheap = 0;
      await pool([...objects.entries()].map(([key, versions]) => async () => {
        const lastAcked = versions.findLastIndex((v) => v.status === 'acked');
        const allowed = lastAcked >= 0 ? versions.slice(lastAcked).filter((v) => v.status !== 'failed') : versions.filter((v) => v.status === 'inflight');
        const l = listed.get(key);
        const last = versions.at(-1);
        if (last.status === 'acked' && last.size > 0 && wholeVerified.has(`${key}@${last.sha}`) && !sample.has(key)) {
          cheap += 1;
          const r = await c.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=-1' }));
          const tail = Buffer.from(await r.Body.transformToByteArray());
          if (r.ContentRange !== `bytes ${last.size - 1}-${last.size - 1}/${last.size}` || r.ETag !== last.etag || tail.length !== 1 || tail[0] !== last.tail) {
            problems.push(`object ${key}: last byte read as ${r.ContentRange} ${r.ETag} [${[...tail]}], stored ${last.size} B ${last.etag} [${last.tail}]`);
          }
          if (!l || l.size !== last.size || l.etag !== last.etag) problems.push(`object ${key}: listed as ${JSON.stringify(l)}, stored ${last.size} B ${last.etag}`);
          bytes += last.size;
          return;
        }
        let got;
        try {
          got = await readBody(c.s3, bucket, key);
        } catch (e) {
          if (e.name !== 'NoSuchKey') throw e;
        }
        if (!got) {
          if (lastAcked >= 0) problems.push(`acknowledged object ${key} is missing (${versions[lastAcked].size} B)`);
          if (listed.has(key)) problems.push(`object ${key} is listed but GetObject answers NoSuchKey`);
          return;
        }
        bytes += got.bytes.length;
        const v = allowed.find((x) => x.sha === sha256(got.bytes));
        if (!v) {
          problems.push(`object ${key}: ${got.bytes.length} B that are none of the versions allowed (${allowed.map((x) => `${x.size} B ${x.status}`).join(', ') || 'none'}; all: ${versions.map((x) => `${x.size} B ${x.status}`).join(', ')})`);
          return;
        }
        if (got.length !== v.size) problems.push(`object ${key}: Content-Length ${got.length}, ${v.size} B stored`);
        if (got.etag !== v.etag) problems.push(`object ${key}: ETag ${got.etag}, want ${v.etag}`);
        if (!l) problems.push(`object ${key} is readable but not listed`);
        else if (l.size !== v.size || l.etag !== v.etag) problems.push(`object ${key}: listed as ${l.size} B ${l.etag}, read ${v.size} B ${v.etag}`);
        else wholeVerified.add(`${key}@${v.sha}`);
      }), 6);
      // Files: nothing in s3/tmp, one file per object or pending part in s3/objects.
      let pendingParts = 0;
      const uploads = (await c.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
      for (const u of uploads) pendingParts += ((await c.s3.send(new ListPartsCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }))).Parts ?? []).length;
      const tmp = filesUnder(path.join(dataDir, 's3', 'tmp'));
      if (tmp.length) problems.push(`s3/tmp holds ${tmp.length} file(s) after the restart`);
      const files = filesUnder(path.join(dataDir, 's3', 'objects')).length;
      if (files !== listed.size + pendingParts) problems.push(`s3/objects holds ${files} files for ${listed.size} objects and ${pendingParts} pending parts (orphans or shared files)`);
      return { objects: listed.size, bytes, pendingUploads: uploads.length, tailChecked: cheap };
    }

    async function checkItems(problems) {
      const got = await scanAll(c.ddb, table);
      for (const pk of got.keys()) if (!items.has(pk) && !counters.has(pk)) problems.push(`item ${pk} was never written`);
      for (const [pk, rec] of items) {
        const item = got.get(pk);
        if (!item && rec.status === 'acked') problems.push(`acknowledged item ${pk} is missing`);
        if (item && rec.status === 'failed') problems.push(`item ${pk} is present though its PutItem failed`);
        if (item && !same(item, rec.item)) problems.push(`item ${pk} (${rec.status}) differs: ${JSON.stringify(norm(item)).slice(0, 400)}`);
      }
      for (const [pk, incs] of counters) {
        const item = got.get(pk);
        const acked = incs.filter((x) => x.status === 'acked');
        const inflight = incs.filter((x) => x.status === 'inflight');
        const n = item ? Number(item.n.N) : 0;
        const ws = new Set(item?.ws?.SS ?? []);
        if (n < acked.length) problems.push(`counter ${pk} = ${n} < ${acked.length} acknowledged increments`);
        if (n > acked.length + inflight.length) problems.push(`counter ${pk} = ${n} > ${acked.length} acknowledged + ${inflight.length} in flight`);
        if (ws.size !== n) problems.push(`counter ${pk} = ${n} but holds ${ws.size} write ids`);
        for (const x of acked) if (!ws.has(x.w)) problems.push(`acknowledged increment ${x.w} of ${pk} is missing`);
        const mine = new Set(incs.filter((x) => x.status !== 'failed').map((x) => x.w));
        for (const w of ws) if (!mine.has(w)) problems.push(`counter ${pk} holds ${w}, never (successfully) sent to it`);
      }
      return { items: got.size };
    }

    const verifiedMessages = new Map(); // our id -> MessageId seen
    async function checkMessages(problems, round) {
      const got = await drainQueue(c.sqs, queueUrl);
      const byOurs = new Map();
      const byId = new Map(messages.map((m) => [m.id, m]));
      for (const g of got) {
        let id;
        try {
          id = JSON.parse(g.body).id;
        } catch {
          problems.push(`message ${g.id}: body is not what was sent: ${g.body.slice(0, 200)}`);
          continue;
        }
        const m = byId.get(id);
        if (!m || m.status === 'failed') {
          problems.push(`message ${g.id} carries ${id}, never (successfully) sent`);
          continue;
        }
        if (g.body !== m.body) problems.push(`message ${id}: body differs (${g.body.length} vs ${m.body.length} characters)`);
        if (g.md5 !== m.md5) problems.push(`message ${id}: MD5OfBody ${g.md5}, want ${m.md5}`);
        if (m.messageId && g.id !== m.messageId) problems.push(`message ${id}: received as ${g.id}, acknowledged as ${m.messageId}`);
        if (verifiedMessages.has(id)) problems.push(`message ${id} received again after it was deleted in an earlier round`);
        if (!byOurs.has(id)) byOurs.set(id, new Set());
        byOurs.get(id).add(g.id);
      }
      for (const [id, ids] of byOurs) if (ids.size > 1) problems.push(`message ${id} stored twice: ${[...ids].join(', ')}`);
      for (const m of messages) {
        if (m.round !== round || m.status !== 'acked') continue;
        if (!byOurs.has(m.id)) problems.push(`acknowledged message ${m.id} (${m.messageId}) was not received`);
      }
      for (const [id, ids] of byOurs) verifiedMessages.set(id, [...ids][0]);
      return { received: got.length };
    }

    async function checkEvents(problems, label) {
      const acked = [...events.entries()].filter(([, r]) => r.status === 'acked');
      const started = Date.now();
      const ran = await waitFor(() => scanAll(c.ddb, ranTable), (got) => acked.every(([id]) => got.has(id)), ASYNC_WAIT_MS, 500);
      for (const [id, r] of acked) {
        const item = ran.get(id);
        if (!item) problems.push(`acknowledged async event ${id} (request ${r.requestId}) never ran within ${ASYNC_WAIT_MS} ms of the ${label}`);
        else if (JSON.stringify(item.rids.SS) !== JSON.stringify([r.requestId])) problems.push(`async event ${id}: ran with request ids ${item.rids.SS.join(', ')}, the 202 said ${r.requestId}`);
      }
      for (const [id, item] of ran) {
        const r = events.get(id);
        if (!r || r.status === 'failed') problems.push(`async event ${id} ran but was never (successfully) sent`);
        else if (item.rids.SS.length !== 1) problems.push(`async event ${id} ran under ${item.rids.SS.length} request ids`);
      }
      return { ran: ran.size, duplicates: [...ran.values()].filter((x) => Number(x.runs.N) > 1).length, waitedMs: Date.now() - started };
    }

    async function verify(label, round) {
      const problems = [];
      const ms = {};
      const timed = async (name, fn) => {
        const t0 = Date.now();
        const r = await fn();
        ms[name] = Date.now() - t0;
        return r;
      };
      const f = await timed('functions', () => checkFunctions(problems));
      const o = await timed('objects', () => checkObjects(problems));
      const i = await timed('items', () => checkItems(problems));
      const m = await timed('messages', () => checkMessages(problems, round));
      const e = await timed('events', () => checkEvents(problems, label));
      assert.deepEqual(problems.slice(0, 15), [], `${label}: ${problems.length} problem(s)`);
      return { ...f, ...o, ...i, ...m, ...e, ms };
    }

    // --- the run ------------------------------------------------------------------------

    try {
      daemon = await Nimbus.start({ dataDir, keepAlive });
      c = connect(daemon);
      await c.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      queueUrl = (await c.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('crash-q') }))).QueueUrl;
      keepQueueUrl = (await c.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('crash-keep') }))).QueueUrl;
      await createTable(c.ddb, table);
      await createTable(c.ddb, ranTable);
      await c.lambda.send(new CreateFunctionCommand({ FunctionName: sink, Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: await zipTree({ 'index.mjs': SINK }) }, Timeout: 30, Environment: { Variables: { RAN_TABLE: ranTable } } }));
      for (let w = 0; w < 2; w++) {
        const name = uniqueName(`crash-upd${w}`);
        const z = await markZip(`${name}#0`);
        shaToMark.set(z.sha, z.mark);
        const r = await c.lambda.send(new CreateFunctionCommand({ FunctionName: name, Role: ROLE, Runtime: 'python3.11', Handler: 'app.handler', Code: { ZipFile: z.zip }, Timeout: 10 }));
        assert.equal(r.CodeSha256, z.sha);
        updated.push({ name, versions: [{ sha: z.sha, mark: z.mark, status: 'acked' }] });
      }
      for (let i = 0; i < 30; i++) {
        const body = JSON.stringify({ keep: i, pad: 'k'.repeat(i * 100) });
        const r = await c.sqs.send(new SendMessageCommand({ QueueUrl: keepQueueUrl, MessageBody: body }));
        keepMessages.push({ body, messageId: r.MessageId });
      }

      const countsBefore = snapshotCounts();
      for (let round = 1; round <= ROUNDS; round++) {
        const zips = {
          create: await Promise.all([0, 1].map((w) => markZips(Array.from({ length: 25 }, (_, i) => `${RUN_ID}-c${round}-${w}-${i}`)))),
          update: await Promise.all(updated.map((u) => markZips(Array.from({ length: 25 }, (_, i) => `${u.name}#${round}.${i}`)))),
        };
        for (const z of [...zips.create.flat(), ...zips.update.flat()]) shaToMark.set(z.sha, z.mark);
        zips.staged = [];
        for (let i = 0; i < 3; i++) {
          const Key = `r${round}/staged/${i}.bin`;
          const first = crypto.randomBytes(5 * MiB);
          const { UploadId } = await c.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
          const p1 = await c.s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: first }));
          zips.staged.push({ Key, UploadId, first, etag1: p1.ETag, last: crypto.randomBytes(1 + Math.floor(Math.random() * 200_000)) });
        }
        killed = false;
        failures.length = 0;
        const killDelay = KILL_MIN_MS + Math.floor(Math.random() * (KILL_MAX_MS - KILL_MIN_MS + 1));
        const counts0 = snapshotCounts();
        const timer = setTimeout(() => {
          killed = true;
          daemon.proc.kill('SIGKILL');
        }, killDelay);
        await Promise.all(writers(round, zips).map((w) => w()));
        clearTimeout(timer);
        const exit = await daemon.exited;
        assert.equal(exit.signal, 'SIGKILL', `the daemon exited by itself during round ${round}: ${JSON.stringify(exit)}\n${daemon.stderrTail(4000)}`);
        totals.kills += 1;
        assert.deepEqual(failures.slice(0, 20), [], `round ${round}: ${failures.length} write(s) refused or answered wrongly before the kill`);
        disconnect(c);

        // The databases as the kill left them (copies, recovered by SQLite).
        const crashState = await integrityOfAll(dataDir, { copy: true });
        assert.deepEqual(crashState.problems, [], `round ${round}: databases as the kill left them`);
        totals.crashIntegrityChecks += crashState.files.length;

        daemon = await Nimbus.start({ dataDir, keepAlive });
        c = connect(daemon);
        const started = Date.now();
        const v = await verify(`restart after round ${round}`, round);
        const counts = diffCounts(counts0, snapshotCounts());
        report(`round ${round}: SIGKILL after ${killDelay} ms; acknowledged ${fmtCounts(counts, 'acked')}; in flight ${fmtCounts(counts, 'inflight')}; after restart: ${v.functions} functions (${v.invoked} invoked), ${v.objects} objects (${(v.bytes / MiB).toFixed(1)} MiB; ${v.objects - v.tailChecked} read whole, ${v.tailChecked} proven whole before checked by their last byte; ${v.pendingUploads} unfinished uploads), ${v.items} items, ${v.received} messages drained, ${v.ran} async events ran (${v.duplicates} more than once, waited ${v.waitedMs} ms); verified in ${Date.now() - started} ms (${Object.entries(v.ms).map(([k, x]) => `${k} ${x}`).join(', ')}); ${crashState.files.length} crashed databases pass integrity_check`);
      }

      // Messages sent before the first round survived every kill.
      const kept = await drainQueue(c.sqs, keepQueueUrl);
      const keptIds = new Map(kept.map((m) => [m.id, m.body]));
      for (const m of keepMessages) assert.equal(keptIds.get(m.messageId), m.body, `message ${m.messageId} sent before round 1 after ${ROUNDS} kills`);
      assert.equal(kept.length, keepMessages.length, 'messages sent before round 1: received once each');

      const all = diffCounts(countsBefore, snapshotCounts());
      report(`total: ${ROUNDS} rounds, ${totals.kills} SIGKILLs injected, acknowledged ${fmtCounts(all, 'acked')}; in flight at a kill ${fmtCounts(all, 'inflight')}; ${totals.crashIntegrityChecks} crash-state database checks; lost: ${totals.lost}`);
      roundsRan = true;
      disconnect(c);
      c = null;
      await daemon.stop();
    } catch (e) {
      e.message += `\n--- nimbus stderr tail ---\n${daemon?.stderrTail(6000) ?? ''}`;
      throw e;
    } finally {
      disconnect(c);
      if (daemon?.alive()) await daemon.stop({ assertClean: false });
    }

    function snapshotCounts() {
      const count = (recs) => ({ acked: recs.filter((r) => r.status === 'acked').length, inflight: recs.filter((r) => r.status === 'inflight').length, failed: recs.filter((r) => r.status === 'failed').length });
      return {
        CreateFunction: count([...fns.values()]),
        UpdateFunctionCode: count(updated.flatMap((u) => u.versions.slice(1))),
        PutObject: count([...objects.values()].flat().filter((v) => !v.multipart)),
        multipart: count([...objects.values()].flat().filter((v) => v.multipart)),
        SendMessage: count(messages),
        PutItem: count([...items.values()]),
        UpdateItem: count([...counters.values()].flat()),
        InvokeEvent: count([...events.values()]),
      };
    }
  });

  it('after the final round every database passes PRAGMA integrity_check and foreign_key_check', { timeout: 120_000 }, async (t) => {
    assert.ok(fs.existsSync(dataDir), 'no data directory');
    assert.ok(!daemon?.alive(), 'the daemon is still running');
    const r = await integrityOfAll(dataDir);
    t.diagnostic(`integrity_check + foreign_key_check (${SQLITE}) of ${r.files.length} databases: ${r.files.join(', ')}: ${r.problems.length ? 'FAILED' : 'ok'}${roundsRan ? '' : ' (the rounds did not finish)'}`);
    console.log(`# crash: integrity of ${r.files.join(', ')}: ${r.problems.length ? r.problems.join('; ') : 'ok'}`);
    assert.ok(r.files.includes('nimbus.db') && r.files.includes(path.join('s3', 's3.db')) && r.files.includes('sqs.db') && r.files.includes('dynamodb.db') && r.files.includes('async.db'), `databases found: ${r.files.join(', ')}`);
    assert.deepEqual(r.problems, []);
  });
});

function diffCounts(a, b, into = null) {
  const out = into ?? {};
  for (const k of Object.keys(b)) {
    out[k] ??= { acked: 0, inflight: 0, failed: 0 };
    for (const s of ['acked', 'inflight', 'failed']) out[k][s] += b[k][s] - a[k][s];
  }
  return out;
}
const fmtCounts = (counts, s) => Object.entries(counts).map(([k, v]) => `${k} ${v[s]}`).join(', ');

// ==============================================================================================

const NEEDS_ROOT = isRoot() ? false : 'needs root: mounts a small tmpfs as the data directory to fill it';

describe('full disk: clean errors, no corruption', { skip: SKIP_NO_BINARY || NEEDS_ROOT || (SQLITE ? false : 'neither the sqlite3 CLI nor python3 with its sqlite3 module is installed') }, () => {
  let base;
  let mnt;
  let dataDir;
  let mounted = false;
  let daemon;
  let ballast;

  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-enospc-'));
    mnt = path.join(base, 'mnt');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MIB}m,mode=0755`, 'nimbus-e2e-enospc', mnt]);
    mounted = true;
    // The data directory is below the mount point, so that the harness's "no mount names
    // the data directory" check is about the daemon's mounts, not this one.
    dataDir = path.join(mnt, 'data');
    fs.mkdirSync(dataDir);
    // The test's own reserve: freed only if the daemon cannot free space itself.
    ballast = path.join(mnt, 'ballast');
    fs.writeFileSync(ballast, Buffer.alloc(4 * MiB, 1));
  });

  after(async () => {
    if (daemon?.alive()) {
      daemon.proc.kill('SIGKILL');
      await daemon.exited;
    }
    // The daemon's last processes (a Python zygote, stem cells) may take a moment to go.
    for (let i = 0; mounted && i < 25; i++) {
      try {
        execFileSync('umount', [mnt], { stdio: 'ignore' });
        mounted = false;
      } catch {
        await sleep(200);
      }
    }
    if (mounted) execFileSync('umount', ['-l', mnt]);
    if (base) fs.rmSync(base, { recursive: true, force: true });
  });

  it(`a ${TMPFS_MIB} MiB data directory filled by PutObject: every write fails cleanly, reads go on, freeing space lets writes resume, nothing is corrupted`, { timeout: 180_000 }, async (t) => {
    const report = (line) => {
      console.log(`# enospc: ${line}`);
      t.diagnostic(line);
    };
    const Bucket = 'fill';
    const table = 'fill-items';
    const fnName = uniqueName('enospc');
    const acked = new Map(); // key -> { sha, size, etag }
    const ackedItems = new Map();
    const ackedMessages = new Map();
    const ackedFunctions = new Map();
    let c;
    let queueUrl;
    const free = () => {
      const s = fs.statfsSync(mnt);
      return s.bavail * s.bsize;
    };
    const problems = [];
    const spaceRe = /no space left on device|disk is full|database or disk is full|ENOSPC|insufficient storage/i;

    // An error answer to a write on the full disk: clean (an AWS error with a type, an
    // HTTP status, a message naming the lack of space).
    const cleanError = (e, what, { statuses, types }) => {
      const got = errorText(e);
      assert.ok(e.$metadata?.httpStatusCode, `${what}: no HTTP answer (${got})`);
      assert.ok(statuses.includes(e.$metadata.httpStatusCode), `${what}: HTTP ${e.$metadata.httpStatusCode}, want ${statuses.join('|')}: ${got}`);
      assert.ok(types.includes(e.name), `${what}: error type ${e.name}, want ${types.join('|')}: ${got}`);
      assert.match(e.message, spaceRe, `${what}: the message does not name the lack of space: ${got}`);
      return `${e.name} ${e.$metadata.httpStatusCode} "${e.message}"`;
    };

    try {
      daemon = await Nimbus.start({ dataDir, keepAlive: 2 });
      c = connect(daemon);
      await c.s3.send(new CreateBucketCommand({ Bucket }));
      queueUrl = (await c.sqs.send(new CreateQueueCommand({ QueueName: 'fill-q' }))).QueueUrl;
      await createTable(c.ddb, table);
      const z0 = await markZip(`${fnName}-before`);
      await c.lambda.send(new CreateFunctionCommand({ FunctionName: z0.mark, Role: ROLE, Runtime: 'python3.11', Handler: 'app.handler', Code: { ZipFile: z0.zip } }));
      ackedFunctions.set(z0.mark, z0);
      // Written before the fill: read and deleted on the full disk.
      for (let i = 0; i < 2; i++) {
        const body = `before-${i}`;
        const r = await c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
        ackedMessages.set(r.MessageId, body);
        const item = { pk: S(`before-${i}`), v: N(i) };
        await c.ddb.send(new PutItemCommand({ TableName: table, Item: item }));
        ackedItems.set(`before-${i}`, item);
      }
      const freeAtStart = free();

      // Fill: big objects, then smaller and smaller until even a 1-byte put fails.
      const s3Errors = new Map();
      let puts = 0;
      let refused = 0;
      let n = 0;
      for (const size of [4 * MiB, 1 * MiB, 64 * 1024, 4096, 1]) {
        for (let tries = 0; ; tries++) {
          assert.ok(tries < 200, `${size}-byte puts never failed (${(free() / MiB).toFixed(1)} MiB free)`);
          const Key = `o${n++}-${size}`;
          const body = crypto.randomBytes(size);
          try {
            const r = await c.s3.send(new PutObjectCommand({ Bucket, Key, Body: body }));
            assert.equal(r.ETag, `"${md5hex(body)}"`);
            acked.set(Key, { sha: sha256(body), size, etag: r.ETag });
            puts += 1;
          } catch (e) {
            refused += 1;
            // S3's error document: a 5xx with <Error><Code>; SDK's name is the Code.
            const text = cleanError(e, `PutObject of ${size} B on a full disk`, { statuses: [500, 503, 507], types: ['InternalError', 'ServiceUnavailable', 'SlowDown', 'InsufficientStorage'] });
            assert.ok(e.$response === undefined || e.Code || e.name, 'no error code');
            s3Errors.set(e.name, text);
            break;
          }
        }
      }
      assert.ok(daemon.alive(), 'the daemon died filling its disk');
      report(`filled ${TMPFS_MIB} MiB tmpfs (${(freeAtStart / MiB).toFixed(1)} MiB free after setup) with ${puts} objects; ${refused} PutObject refused; ${(free() / 1024).toFixed(0)} KiB left; S3 answered ${[...s3Errors.values()].join(' / ')}`);

      // The raw answer: an XML error document.
      const probeUrl = `${daemon.endpoint}/${Bucket}/raw-probe`;
      const probe = crypto.randomBytes(256 * 1024);
      const raw = await fetch(probeUrl, {
        method: 'PUT',
        body: probe,
        headers: await signedHeaders(probeUrl, { method: 'PUT', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body: probe, credentials: CREDENTIALS, region: REGION, service: 's3' }),
      });
      const rawText = await raw.text();
      assert.ok(raw.status >= 500, `a raw PutObject on the full disk answered ${raw.status}: ${rawText.slice(0, 300)}`);
      assert.match(raw.headers.get('content-type') ?? '', /xml/, 'error content type');
      assert.match(rawText, /<Error>\s*<Code>[A-Za-z]+<\/Code>\s*<Message>[^<]*<\/Message>/, `raw error body: ${rawText.slice(0, 500)}`);
      report(`raw answer: HTTP ${raw.status} ${rawText.slice(0, 300)}`);

      // Reads of what was stored before still work (and are whole).
      for (const key of [...acked.keys()].filter((_, i, a) => i % Math.ceil(a.length / 8) === 0)) {
        const got = await readBody(c.s3, Bucket, key);
        assert.equal(sha256(got.bytes), acked.get(key).sha, `object ${key} read on the full disk`);
      }
      const listed = await listAll(c.s3, Bucket);
      assert.deepEqual([...listed.keys()].sort(), [...acked.keys()].sort(), 'ListObjectsV2 on the full disk lists exactly the acknowledged objects');

      // The other services' writes: each succeeds (then it must be durable) or fails cleanly.
      const outcomes = { SendMessage: [], PutItem: [], CreateFunction: [] };
      const tryUntilRefused = async (kind, max, fn, shape) => {
        for (let i = 0; i < max; i++) {
          try {
            await fn(i);
            outcomes[kind].push('ok');
          } catch (e) {
            outcomes[kind].push(cleanError(e, `${kind} on a full disk`, shape));
            return true;
          }
        }
        return false;
      };
      const sqsRefused = await tryUntilRefused('SendMessage', 20, async (i) => {
        const body = `full-${i}-${'q'.repeat(200_000)}`;
        const r = await c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
        ackedMessages.set(r.MessageId, body);
      }, { statuses: [500, 503], types: ['InternalError', 'ServiceUnavailable', 'InternalFailure', 'KmsThrottled'] });
      const ddbRefused = await tryUntilRefused('PutItem', 20, async (i) => {
        const item = { pk: S(`full-${i}`), v: S('d'.repeat(300_000)) };
        await c.ddb.send(new PutItemCommand({ TableName: table, Item: item }));
        ackedItems.set(`full-${i}`, item);
      }, { statuses: [500, 503], types: ['InternalServerError', 'ServiceUnavailable'] });
      const fnRefused = await tryUntilRefused('CreateFunction', 10, async (i) => {
        const z = await zipTree({ 'app.py': 'def handler(e, c):\n    return {"mark": "full"}\n', 'noise.bin': crypto.randomBytes(400_000 + i) });
        const name = `${fnName}-full-${i}`;
        const r = await c.lambda.send(new CreateFunctionCommand({ FunctionName: name, Role: ROLE, Runtime: 'python3.11', Handler: 'app.handler', Code: { ZipFile: z } }));
        ackedFunctions.set(name, { sha: r.CodeSha256, mark: 'full' });
      }, { statuses: [400, 500, 503, 507], types: ['ServiceException', 'CodeStorageExceededException', 'ResourceNotReadyException', 'EC2ThrottledException'] });
      report(`on the full disk: SendMessage ${outcomes.SendMessage.join(', ')}; PutItem ${outcomes.PutItem.join(', ')}; CreateFunction ${outcomes.CreateFunction.join(', ')}`);
      assert.ok(sqsRefused && ddbRefused && fnRefused, `a write never failed on a full disk: ${JSON.stringify(outcomes)}`);
      assert.ok(daemon.alive(), 'the daemon died on a full disk');
      // The refused writes left nothing behind (files would hold space until a restart).
      const debris = [
        ...filesUnder(path.join(dataDir, 's3', 'tmp')).map((f) => path.relative(dataDir, f)),
        ...fs.readdirSync(path.join(dataDir, 'code')).filter((e) => e.startsWith('.tmp')).map((e) => `code/${e}`),
      ];
      if (debris.length) problems.push(`refused writes left files behind: ${debris.slice(0, 5).join(', ')}`);
      const objectFiles = filesUnder(path.join(dataDir, 's3', 'objects')).length;
      if (objectFiles !== acked.size) problems.push(`on the full disk s3/objects holds ${objectFiles} files for ${acked.size} objects`);
      // The function created before still runs (its code is on the full disk).
      const inv = await c.lambda.send(new InvokeCommand({ FunctionName: z0.mark, Payload: '{}' }));
      assert.equal(inv.FunctionError, undefined, `invoke on a full disk: ${Buffer.from(inv.Payload ?? []).toString()}`);
      assert.equal(JSON.parse(Buffer.from(inv.Payload).toString()).mark, z0.mark);

      // Reads on the full disk, and deletes (the way to free space through the APIs): each
      // delete that fails is a problem; the test then frees its own ballast file (outside the
      // data directory) to check the rest.
      const fullDiskOps = [];
      const onFullDisk = async (what, fn, { isDelete = false, mustWork = false } = {}) => {
        try {
          const r = await fn();
          fullDiskOps.push(`${what} ok`);
          return r;
        } catch (e) {
          fullDiskOps.push(`${what} ${errorText(e)}`);
          if (mustWork) problems.push(`${what} on the full disk failed: ${errorText(e)}`);
          else if (isDelete) problems.push(`${what} on the full disk (${free()} bytes free) failed, so no space can be freed through the API: ${errorText(e)}`);
          else if (!e.$metadata?.httpStatusCode || !spaceRe.test(e.message)) problems.push(`${what} on the full disk: unclear error ${errorText(e)}`);
          return undefined;
        }
      };
      const freeBeforeDelete = free();
      await onFullDisk('GetItem', async () => {
        const r = await c.ddb.send(new GetItemCommand({ TableName: table, Key: { pk: S('before-0') } }));
        assert.ok(same(r.Item, ackedItems.get('before-0')), 'item read on the full disk');
      }, { mustWork: true });
      await onFullDisk('GetFunction', () => c.lambda.send(new GetFunctionCommand({ FunctionName: z0.mark })), { mustWork: true });
      const received = await onFullDisk('ReceiveMessage', async () => {
        const r = await c.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 600 }));
        assert.equal(r.Messages?.length, 1, 'a message received on the full disk');
        return r.Messages[0];
      });
      const deleteMessage = (m) => c.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle })).then(() => ackedMessages.delete(m.MessageId));
      const deleteItem = () => c.ddb.send(new DeleteItemCommand({ TableName: table, Key: { pk: S('before-1') } })).then(() => ackedItems.delete('before-1'));
      let messageDeleted = received ? await onFullDisk('DeleteMessage', () => deleteMessage(received), { isDelete: true }) : undefined;
      let itemDeleted = await onFullDisk('DeleteItem', deleteItem, { isDelete: true });

      // A crash on the full disk: the daemon comes back up on it and serves what it holds.
      disconnect(c);
      daemon.proc.kill('SIGKILL');
      await daemon.exited;
      daemon = await Nimbus.start({ dataDir, keepAlive: 2 });
      c = connect(daemon);
      const listedAfterCrash = await listAll(c.s3, Bucket);
      assert.deepEqual([...listedAfterCrash.keys()].sort(), [...acked.keys()].sort(), 'objects after a kill -9 and restart on the full disk');
      const lastKey = [...acked.keys()].at(-1);
      assert.equal(sha256((await readBody(c.s3, Bucket, lastKey)).bytes), acked.get(lastKey).sha, `object ${lastKey} after a restart on the full disk`);
      report(`kill -9 on the full disk (${free()} bytes free): the daemon restarted and serves ${listedAfterCrash.size} objects`);

      // Free space: delete the biggest objects; every kind of write works again.
      let freed = 0;
      const bigOnes = [...acked.entries()].filter(([, v]) => v.size === 4 * MiB).slice(0, 6);
      for (const [key, v] of bigOnes) {
        const ok = await onFullDisk(`DeleteObject ${key}`, () => c.s3.send(new DeleteObjectCommand({ Bucket, Key: key })).then(() => true), { isDelete: true });
        if (!ok) {
          assert.ok(fs.existsSync(ballast), `DeleteObject failed again after the ballast was freed: ${fullDiskOps.at(-1)}`);
          fs.rmSync(ballast);
          fullDiskOps.push('(the test deleted its 4 MiB ballast file next to the data directory)');
          await c.s3.send(new DeleteObjectCommand({ Bucket, Key: key }));
        }
        acked.delete(key);
        freed += v.size;
      }
      if (received && !messageDeleted) messageDeleted = await deleteMessage(received);
      if (!itemDeleted) itemDeleted = await deleteItem();
      report(`on the full disk (${freeBeforeDelete} bytes free): ${fullDiskOps.join('; ')}`);
      assert.ok(free() >= 16 * MiB, `only ${(free() / MiB).toFixed(1)} MiB free after deleting ${freed / MiB} MiB of objects`);
      const after = [];
      for (let i = 0; i < 3; i++) {
        const body = crypto.randomBytes(1 * MiB + i);
        const Key = `after-${i}`;
        const r = await c.s3.send(new PutObjectCommand({ Bucket, Key, Body: body }));
        acked.set(Key, { sha: sha256(body), size: body.length, etag: r.ETag });
      }
      after.push('PutObject');
      const body = `after-free-${'a'.repeat(1000)}`;
      const m = await c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
      ackedMessages.set(m.MessageId, body);
      after.push('SendMessage');
      const item = { pk: S('after-free'), v: S('ok') };
      await c.ddb.send(new PutItemCommand({ TableName: table, Item: item }));
      ackedItems.set('after-free', item);
      after.push('PutItem');
      const z1 = await markZip(`${fnName}-after`);
      const cr = await c.lambda.send(new CreateFunctionCommand({ FunctionName: z1.mark, Role: ROLE, Runtime: 'python3.11', Handler: 'app.handler', Code: { ZipFile: z1.zip } }));
      assert.equal(cr.CodeSha256, z1.sha);
      ackedFunctions.set(z1.mark, z1);
      after.push('CreateFunction');
      const inv1 = await c.lambda.send(new InvokeCommand({ FunctionName: z1.mark, Payload: '{}' }));
      assert.equal(JSON.parse(Buffer.from(inv1.Payload).toString()).mark, z1.mark);
      report(`after deleting ${freed / MiB} MiB: ${after.join(', ')} and an invoke succeed`);

      // Restart on the same directory: everything acknowledged is there, databases intact.
      disconnect(c);
      c = null;
      await daemon.stop();
      const integrity = await integrityOfAll(dataDir);
      assert.deepEqual(integrity.problems, [], 'databases after the full disk');
      daemon = await Nimbus.start({ dataDir, keepAlive: 2 });
      c = connect(daemon);
      const listed2 = await listAll(c.s3, Bucket);
      assert.deepEqual([...listed2.keys()].sort(), [...acked.keys()].sort(), 'objects listed after the restart');
      for (const [key, v] of acked) {
        const got = await readBody(c.s3, Bucket, key);
        assert.equal(got.bytes.length, v.size, `object ${key} length`);
        assert.equal(sha256(got.bytes), v.sha, `object ${key} bytes`);
        assert.equal(got.etag, v.etag, `object ${key} ETag`);
        assert.equal(listed2.get(key).size, v.size, `object ${key} listed size`);
      }
      const files = filesUnder(path.join(dataDir, 's3', 'objects')).length;
      assert.equal(files, acked.size, 's3/objects holds one file per object (no leftovers of the refused puts)');
      assert.deepEqual(filesUnder(path.join(dataDir, 's3', 'tmp')), [], 's3/tmp is empty');
      const got = await drainQueue(c.sqs, queueUrl);
      for (const [id, b] of ackedMessages) assert.ok(got.some((g) => g.id === id && g.body === b), `acknowledged message ${id} after the restart`);
      assert.equal(got.length, ackedMessages.size, 'no message that was refused');
      const gotItems = await scanAll(c.ddb, table);
      for (const [pk, it] of ackedItems) assert.ok(gotItems.has(pk) && same(gotItems.get(pk), it), `acknowledged item ${pk} after the restart`);
      assert.equal(gotItems.size, ackedItems.size, 'no item that was refused');
      for (const [name, z] of ackedFunctions) {
        const cfg = (await c.lambda.send(new GetFunctionCommand({ FunctionName: name }))).Configuration;
        assert.equal(cfg.State, 'Active', `${name} after the restart`);
        assert.equal(cfg.CodeSha256, z.sha, `${name} code after the restart`);
        const r = await c.lambda.send(new InvokeCommand({ FunctionName: name, Payload: '{}' }));
        assert.equal(JSON.parse(Buffer.from(r.Payload).toString()).mark, z.mark, `${name} runs after the restart`);
      }
      const fnList = (await c.lambda.send(new ListFunctionsCommand({}))).Functions.map((f) => f.FunctionName).sort();
      assert.deepEqual(fnList, [...ackedFunctions.keys()].sort(), 'functions after the restart: exactly the acknowledged ones');
      assert.deepEqual(codeStoreProblems(dataDir, [...ackedFunctions.values()].map((z) => z.sha)), [], 'code store after the restart');
      disconnect(c);
      c = null;
      await daemon.stop();
      const integrity2 = await integrityOfAll(dataDir);
      assert.deepEqual(integrity2.problems, [], 'databases after the restart');
      assert.deepEqual(problems, [], 'problems on the full disk');
      report(`restart: ${acked.size} objects, ${ackedMessages.size} messages, ${ackedItems.size} items, ${ackedFunctions.size} functions intact; ${integrity2.files.length} databases pass integrity_check and foreign_key_check; lost: 0`);
    } catch (e) {
      e.message += `\n--- nimbus stderr tail ---\n${daemon?.stderrTail(6000) ?? ''}`;
      throw e;
    } finally {
      disconnect(c);
      if (daemon?.alive()) await daemon.stop({ assertClean: false });
    }
  });
});
