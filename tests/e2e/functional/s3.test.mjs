// The S3-compatible object store, served on the Lambda API's port and chosen by the
// SigV4 credential scope's service ("s3"), driven with @aws-sdk/client-s3 exactly as
// an application would: buckets (create, head, list, delete, naming rules, conflicts),
// objects (bodies of every shape the SDK sends: checksum headers and aws-chunked
// streams with checksum trailers; ETag = quoted MD5; metadata; ranges; overwrite;
// delete), keys with awkward characters, ListObjectsV2 (prefix, delimiter, paging in
// UTF-8 byte order, StartAfter), CopyObject, a restart on the same data directory,
// and a virtual-hosted-style request. Errors are checked by the SDK's `name` and the
// HTTP status AWS documents for them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  S3Client,
  CreateBucketCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  DeleteBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  CopyObjectCommand,
} from '@aws-sdk/client-s3';
import { ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, withDaemon, SKIP_NO_BINARY, REGION, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { expectServiceError } from '../lib/lambda.mjs';

const MiB = 1024 * 1024;

// --- clients and names ------------------------------------------------------

// Path-style against 127.0.0.1 (the daemon's listen address); one attempt, so no
// retry hides a 5xx.
function s3Client(nimbus, overrides = {}) {
  return new S3Client({
    endpoint: nimbus.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    forcePathStyle: true,
    maxAttempts: 1,
    ...overrides,
  });
}

// Records the headers, hostname and path of every request the client sends, after
// the build step (where the SDK adds checksum headers / aws-chunked encoding), so a
// test can show it exercised the wire format it claims to.
function captureRequests(client) {
  const sent = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const headers = {};
      for (const [k, v] of Object.entries(args.request.headers ?? {})) headers[k.toLowerCase()] = v;
      sent.push({ method: args.request.method, hostname: args.request.hostname, path: args.request.path, headers });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'e2eCaptureRequests', priority: 'low' },
  );
  return sent;
}

// A bucket name unique to this test process: lower case, ≤ 63 characters.
let bucketCounter = 0;
function bucketName(base) {
  bucketCounter += 1;
  return `${RUN_ID}-${base}-${bucketCounter}`.toLowerCase().slice(0, 63).replace(/[-.]+$/, '');
}

async function createBucket(s3, base) {
  const Bucket = bucketName(base);
  await s3.send(new CreateBucketCommand({ Bucket }));
  return Bucket;
}

// --- bodies, hashes, checksums -------------------------------------------------

function md5ETag(bytes) {
  return `"${crypto.createHash('md5').update(bytes).digest('hex')}"`;
}

function sha256Base64(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('base64');
}

function crcTable(reversedPoly) {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ reversedPoly : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}
const CRC32_TABLE = crcTable(0xedb88320);
const CRC32C_TABLE = crcTable(0x82f63b78);

// The base64 of the big-endian CRC, as S3 carries it in x-amz-checksum-crc32[c].
function crcBase64(bytes, table) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

function randomBytes(n) {
  return new Uint8Array(crypto.randomBytes(n));
}

// A stream of `bytes` cut into pieces of uneven sizes, so the SDK's aws-chunked
// encoder emits several chunks of different lengths.
function unevenStream(bytes) {
  const buf = Buffer.from(bytes);
  const pieces = [];
  const sizes = [1, 999, 65536, 7, 131072];
  let off = 0;
  for (let i = 0; off < buf.length; i++) {
    const n = Math.min(sizes[i % sizes.length], buf.length - off);
    pieces.push(buf.subarray(off, off + n));
    off += n;
  }
  return Readable.from(pieces);
}

async function bodyOf(response) {
  return Buffer.from(await response.Body.transformToByteArray());
}

async function getObject(s3, Bucket, Key, extra = {}) {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key, ...extra }));
  return { r, body: await bodyOf(r) };
}

function assertSameBytes(got, want, what) {
  const g = Buffer.from(got);
  const w = Buffer.from(want);
  assert.equal(g.length, w.length, `${what}: ${g.length} bytes, want ${w.length}`);
  assert.ok(g.equals(w), `${what}: bytes differ (md5 ${md5ETag(g)}, want ${md5ETag(w)})`);
}

// HTTP dates carry whole seconds; the daemon and the tests share a clock.
function assertTimeWithin(date, startMs, endMs, what) {
  assert.ok(date instanceof Date && !Number.isNaN(date.getTime()), `${what}: not a date: ${date}`);
  const t = date.getTime();
  assert.ok(t >= startMs - 2000 && t <= endMs + 2000, `${what} ${date.toISOString()} outside [${new Date(startMs).toISOString()}, ${new Date(endMs).toISOString()}]`);
}

// S3 lists keys in the order of their UTF-8 bytes.
function utf8Compare(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// Every page of a ListObjectsV2 as it is returned, following NextContinuationToken.
async function listPages(s3, input) {
  const pages = [];
  let ContinuationToken;
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ ...input, ContinuationToken }));
    pages.push(page);
    if (!page.IsTruncated) return pages;
    assert.ok(page.NextContinuationToken, `page ${pages.length} IsTruncated without a NextContinuationToken`);
    assert.ok(pages.length < 1000, 'ListObjectsV2 never stops paging');
    ContinuationToken = page.NextContinuationToken;
  }
}

async function listKeys(s3, input) {
  return (await listPages(s3, input)).flatMap((p) => (p.Contents ?? []).map((c) => c.Key));
}

// CopySource is "bucket/key" with the key URL-encoded segment by segment.
function copySource(Bucket, Key) {
  return `${Bucket}/${Key.split('/').map(encodeURIComponent).join('/')}`;
}

// Keys that must round-trip byte for byte through the path, the XML listing and back.
const AWKWARD_KEYS = [
  'with space.txt',
  '  leading and trailing spaces  ',
  'unicode/ünïcødé/日本語/😀.txt',
  'a/b/c/d/slashes.txt',
  'dir/',
  'plus+sign+1.txt',
  'percent%20literal%.txt',
  '100%',
  'question?mark=1&and=2#hash.txt',
  "quote'double\"<angle>&amp.txt",
  'tilde~star*paren(1)[2]{3}.txt',
];

describe('S3 object store (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  const s3 = () => s3Client(box.nimbus);

  describe('buckets', () => {
    it('CreateBucket answers 200; HeadBucket finds the bucket; ListBuckets lists it with its CreationDate; DeleteBucket answers 204 and the bucket is gone', t(async () => {
      const client = s3();
      const Bucket = bucketName('lifecycle');
      const start = Date.now();
      const created = await client.send(new CreateBucketCommand({ Bucket }));
      const end = Date.now();
      assert.equal(created.$metadata.httpStatusCode, 200);
      assert.equal(created.Location, `/${Bucket}`);

      const head = await client.send(new HeadBucketCommand({ Bucket }));
      assert.equal(head.$metadata.httpStatusCode, 200);

      const listed = await client.send(new ListBucketsCommand({}));
      assert.equal(listed.$metadata.httpStatusCode, 200);
      const mine = listed.Buckets.find((b) => b.Name === Bucket);
      assert.ok(mine, `${Bucket} not in ListBuckets: ${listed.Buckets.map((b) => b.Name)}`);
      assertTimeWithin(mine.CreationDate, start, end, 'CreationDate');

      const deleted = await client.send(new DeleteBucketCommand({ Bucket }));
      assert.equal(deleted.$metadata.httpStatusCode, 204);
      await expectServiceError(() => client.send(new HeadBucketCommand({ Bucket })), { name: 'NotFound', status: 404 });
      const after = await client.send(new ListBucketsCommand({}));
      assert.ok(!(after.Buckets ?? []).some((b) => b.Name === Bucket), `${Bucket} still listed after DeleteBucket`);
    }));

    it('ListBuckets lists every bucket created, in name order', t(async () => {
      const client = s3();
      const names = [await createBucket(client, 'order-c'), await createBucket(client, 'order-a'), await createBucket(client, 'order-b')];
      const listed = (await client.send(new ListBucketsCommand({}))).Buckets.map((b) => b.Name);
      for (const n of names) assert.ok(listed.includes(n), `${n} missing from ${listed}`);
      assert.deepEqual(listed, [...listed].sort(utf8Compare), 'ListBuckets is not in name order');
    }));

    it('creating a bucket one already owns succeeds again in us-east-1, as S3 answers there (elsewhere: BucketAlreadyOwnedByYou, see S3ApiTest)', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'twice');
      await client.send(new PutObjectCommand({ Bucket, Key: 'kept', Body: 'still here' }));
      const again = await client.send(new CreateBucketCommand({ Bucket }));
      assert.equal(again.$metadata.httpStatusCode, 200);
      // The existing bucket and its contents are untouched.
      const { body } = await getObject(client, Bucket, 'kept');
      assert.equal(body.toString(), 'still here');
    }));

    it('bucket names that break the naming rules are refused with InvalidBucketName (400) and nothing is created', t(async () => {
      const client = s3();
      const bad = [
        'Bad_Bucket', // upper case and underscore
        'ab', // shorter than 3
        'a'.repeat(64), // longer than 63
        '-leading-hyphen',
        'trailing-hyphen-',
        'double..dots',
        '192.168.5.4', // formatted as an IP address
      ];
      for (const Bucket of bad) {
        await expectServiceError(() => client.send(new CreateBucketCommand({ Bucket })), { name: 'InvalidBucketName', status: 400 });
      }
      const listed = ((await client.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name);
      for (const Bucket of bad) assert.ok(!listed.includes(Bucket), `invalid bucket ${Bucket} was created`);
    }));

    it('DeleteBucket of a bucket that holds an object answers BucketNotEmpty (409) and keeps bucket and object', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'notempty');
      await client.send(new PutObjectCommand({ Bucket, Key: 'a/b.txt', Body: 'x' }));
      await expectServiceError(() => client.send(new DeleteBucketCommand({ Bucket })), { name: 'BucketNotEmpty', status: 409 });
      assert.equal((await client.send(new HeadBucketCommand({ Bucket }))).$metadata.httpStatusCode, 200);
      assert.equal((await getObject(client, Bucket, 'a/b.txt')).body.toString(), 'x');
      // Once emptied it can be deleted.
      await client.send(new DeleteObjectCommand({ Bucket, Key: 'a/b.txt' }));
      assert.equal((await client.send(new DeleteBucketCommand({ Bucket }))).$metadata.httpStatusCode, 204);
    }));

    it('HeadBucket of a missing bucket answers 404 (the SDK names it NotFound)', t(async () => {
      await expectServiceError(() => s3().send(new HeadBucketCommand({ Bucket: bucketName('missing') })), { name: 'NotFound', status: 404 });
    }));

    it('every operation on a missing bucket answers NoSuchBucket (404)', t(async () => {
      const client = s3();
      const Bucket = bucketName('missing');
      const Key = 'k.txt';
      const ops = {
        PutObject: () => client.send(new PutObjectCommand({ Bucket, Key, Body: 'x' })),
        GetObject: () => client.send(new GetObjectCommand({ Bucket, Key })),
        ListObjectsV2: () => client.send(new ListObjectsV2Command({ Bucket })),
        DeleteObject: () => client.send(new DeleteObjectCommand({ Bucket, Key })),
        DeleteBucket: () => client.send(new DeleteBucketCommand({ Bucket })),
      };
      for (const [op, fn] of Object.entries(ops)) {
        const err = await expectServiceError(fn, { status: 404 });
        assert.equal(err.name, 'NoSuchBucket', `${op}: got ${err.name}: ${err.message}`);
      }
      // A HEAD response has no body to name the error: the SDK reports NotFound.
      await expectServiceError(() => client.send(new HeadObjectCommand({ Bucket, Key })), { name: 'NotFound', status: 404 });
      // CopyObject into a missing bucket.
      const src = await createBucket(client, 'copysrc');
      await client.send(new PutObjectCommand({ Bucket: src, Key, Body: 'x' }));
      await expectServiceError(() => client.send(new CopyObjectCommand({ Bucket, Key, CopySource: copySource(src, Key) })), { name: 'NoSuchBucket', status: 404 });
    }));

    it('the Lambda API keeps answering on the same port', t(async () => {
      const r = await box.nimbus.lambda().send(new ListFunctionsCommand({}));
      assert.equal(r.$metadata.httpStatusCode, 200);
      assert.ok(Array.isArray(r.Functions));
    }));
  });

  describe('objects', () => {
    it('PutObject of a string answers 200 with the quoted hex MD5 as ETag; GetObject returns the bytes, ContentType, ContentLength, Metadata, ETag and LastModified', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'string');
      const text = 'hello, nimbus object store — ünïcødé ✓\n';
      const bytes = Buffer.from(text, 'utf8');
      const start = Date.now();
      const put = await client.send(new PutObjectCommand({ Bucket, Key: 'greeting.txt', Body: text, ContentType: 'text/plain; charset=utf-8', Metadata: { color: 'blue' } }));
      const end = Date.now();
      assert.equal(put.$metadata.httpStatusCode, 200);
      assert.equal(put.ETag, md5ETag(bytes));

      const { r, body } = await getObject(client, Bucket, 'greeting.txt');
      assert.equal(r.$metadata.httpStatusCode, 200);
      assertSameBytes(body, bytes, 'GetObject body');
      assert.equal(body.toString('utf8'), text);
      assert.equal(r.ContentType, 'text/plain; charset=utf-8');
      assert.equal(r.ContentLength, bytes.length);
      assert.deepEqual(r.Metadata, { color: 'blue' });
      assert.equal(r.ETag, put.ETag);
      assertTimeWithin(r.LastModified, start, end, 'LastModified');
    }));

    it('PutObject of 1 MiB of random bytes (a Uint8Array) round-trips exactly', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'mib');
      const bytes = randomBytes(MiB);
      const put = await client.send(new PutObjectCommand({ Bucket, Key: 'random.bin', Body: bytes, ContentType: 'application/octet-stream' }));
      assert.equal(put.ETag, md5ETag(bytes));
      const { r, body } = await getObject(client, Bucket, 'random.bin');
      assertSameBytes(body, bytes, '1 MiB object');
      assert.equal(r.ContentLength, MiB);
      assert.equal(r.ContentType, 'application/octet-stream');
      assert.equal(r.ETag, md5ETag(bytes));
    }));

    // The SDK (requestChecksumCalculation WHEN_SUPPORTED, its default) sends a CRC32
    // of every PutObject body: as an x-amz-checksum-* header for a string or bytes, and
    // for a stream as the trailer of an aws-chunked body (Content-Encoding: aws-chunked,
    // Transfer-Encoding: chunked, x-amz-decoded-content-length, x-amz-content-sha256:
    // STREAMING-UNSIGNED-PAYLOAD-TRAILER). ChecksumAlgorithm picks another algorithm.
    // Whatever the framing, the server must store the decoded bytes exactly.
    const checksumCases = [
      { label: 'bytes, default CRC32 header', stream: false, algorithm: undefined, header: 'x-amz-checksum-crc32' },
      { label: 'bytes, SHA256 header', stream: false, algorithm: 'SHA256', header: 'x-amz-checksum-sha256' },
      { label: 'bytes, CRC32C header', stream: false, algorithm: 'CRC32C', header: 'x-amz-checksum-crc32c' },
      { label: 'stream, aws-chunked with the default CRC32 trailer', stream: true, algorithm: undefined, header: 'x-amz-checksum-crc32' },
      { label: 'stream, aws-chunked with a SHA256 trailer', stream: true, algorithm: 'SHA256', header: 'x-amz-checksum-sha256' },
      { label: 'stream, aws-chunked with a CRC32C trailer', stream: true, algorithm: 'CRC32C', header: 'x-amz-checksum-crc32c' },
    ];
    for (const c of checksumCases) {
      it(`PutObject (${c.label}) stores the exact bytes and answers the MD5 ETag`, t(async () => {
        const client = s3();
        const sent = captureRequests(client);
        const Bucket = await createBucket(client, 'cksum');
        const bytes = randomBytes(MiB + 12345);
        const Key = `cksum/${c.stream ? 'stream' : 'bytes'}-${c.algorithm ?? 'default'}.bin`;
        const input = { Bucket, Key, Body: c.stream ? unevenStream(bytes) : bytes, Metadata: { color: 'blue' }, ContentType: 'application/x-e2e' };
        if (c.stream) input.ContentLength = bytes.length;
        if (c.algorithm) input.ChecksumAlgorithm = c.algorithm;
        const put = await client.send(new PutObjectCommand(input));
        assert.equal(put.$metadata.httpStatusCode, 200);
        assert.equal(put.ETag, md5ETag(bytes));

        // The request really had the framing this case is about.
        const req = sent.find((s) => s.method === 'PUT' && s.path.endsWith(Key.split('/').pop()));
        assert.ok(req, `PutObject request not captured: ${JSON.stringify(sent.map((s) => s.path))}`);
        if (c.stream) {
          assert.match(String(req.headers['content-encoding']), /aws-chunked/);
          assert.equal(req.headers['x-amz-trailer'], c.header);
          assert.equal(req.headers['x-amz-decoded-content-length'], String(bytes.length));
          assert.equal(req.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
          assert.equal(req.headers['transfer-encoding'], 'chunked');
        } else {
          assert.ok(req.headers[c.header], `no ${c.header} header: ${JSON.stringify(req.headers)}`);
          assert.equal(req.headers['content-encoding'], undefined);
        }

        // S3 echoes the checksum it verified; when the server does, it must be the right one.
        const want = { 'x-amz-checksum-crc32': ['ChecksumCRC32', crcBase64(bytes, CRC32_TABLE)], 'x-amz-checksum-crc32c': ['ChecksumCRC32C', crcBase64(bytes, CRC32C_TABLE)], 'x-amz-checksum-sha256': ['ChecksumSHA256', sha256Base64(bytes)] }[c.header];
        if (put[want[0]] !== undefined) assert.equal(put[want[0]], want[1], `${want[0]} echoed by PutObject`);

        const { r, body } = await getObject(client, Bucket, Key);
        assertSameBytes(body, bytes, c.label);
        assert.equal(r.ContentLength, bytes.length);
        assert.equal(r.ETag, md5ETag(bytes));
        assert.equal(r.ContentType, 'application/x-e2e');
        assert.deepEqual(r.Metadata, { color: 'blue' });
        // No content coding the client used for transport is stored with the object.
        assert.ok(!/aws-chunked/.test(r.ContentEncoding ?? ''), `ContentEncoding ${r.ContentEncoding} kept`);
      }));
    }

    it('PutObject from a client that sends no checksum (requestChecksumCalculation WHEN_REQUIRED) stores the exact bytes', t(async () => {
      const client = s3Client(box.nimbus, { requestChecksumCalculation: 'WHEN_REQUIRED' });
      const sent = captureRequests(client);
      const Bucket = await createBucket(client, 'nocksum');
      const bytes = randomBytes(300000);
      const put = await client.send(new PutObjectCommand({ Bucket, Key: 'plain.bin', Body: bytes }));
      assert.equal(put.ETag, md5ETag(bytes));
      const req = sent.find((s) => s.method === 'PUT' && s.path.endsWith('plain.bin'));
      assert.ok(!Object.keys(req.headers).some((h) => h.startsWith('x-amz-checksum-')), `a checksum was sent: ${JSON.stringify(req.headers)}`);
      assertSameBytes((await getObject(client, Bucket, 'plain.bin')).body, bytes, 'unchecksummed body');
    }));

    it('PutObject of an empty body stores a zero-length object with the MD5 of nothing', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'empty');
      // ContentLength 0 spares the SDK's "Stream of unknown length" warning for an empty body.
      const put = await client.send(new PutObjectCommand({ Bucket, Key: 'empty', Body: '', ContentLength: 0 }));
      assert.equal(put.ETag, '"d41d8cd98f00b204e9800998ecf8427e"');
      const { r, body } = await getObject(client, Bucket, 'empty');
      assert.equal(body.length, 0);
      assert.equal(r.ContentLength, 0);
      assert.equal(r.ETag, put.ETag);
    }));

    it('GetObject with a Range answers 206 with ContentRange and exactly those bytes (first, middle, suffix, open-ended, past-the-end end)', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'range');
      const size = 1000;
      const bytes = randomBytes(size);
      await client.send(new PutObjectCommand({ Bucket, Key: 'r.bin', Body: bytes }));
      const cases = [
        { Range: 'bytes=0-9', first: 0, last: 9 },
        { Range: 'bytes=100-199', first: 100, last: 199 },
        { Range: 'bytes=-5', first: size - 5, last: size - 1 }, // suffix: the last 5 bytes
        { Range: `bytes=${size - 3}-`, first: size - 3, last: size - 1 }, // open-ended
        { Range: 'bytes=990-999999', first: 990, last: size - 1 }, // end clamped to the object
        { Range: `bytes=${size - 1}-${size - 1}`, first: size - 1, last: size - 1 },
      ];
      for (const c of cases) {
        const { r, body } = await getObject(client, Bucket, 'r.bin', { Range: c.Range });
        assert.equal(r.$metadata.httpStatusCode, 206, c.Range);
        assert.equal(r.ContentRange, `bytes ${c.first}-${c.last}/${size}`, c.Range);
        assert.equal(r.ContentLength, c.last - c.first + 1, c.Range);
        assertSameBytes(body, bytes.subarray(c.first, c.last + 1), c.Range);
        assert.equal(r.ETag, md5ETag(bytes), `${c.Range}: the ETag is the whole object's`);
      }
    }));

    it('GetObject with a Range starting at or past the end of the object answers InvalidRange (416)', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'badrange');
      await client.send(new PutObjectCommand({ Bucket, Key: 'ten', Body: '0123456789' }));
      for (const Range of ['bytes=10-', 'bytes=10-20', 'bytes=5000-6000']) {
        await expectServiceError(() => client.send(new GetObjectCommand({ Bucket, Key: 'ten', Range })), { name: 'InvalidRange', status: 416 });
      }
    }));

    it('HeadObject returns the same ContentType, ContentLength, Metadata, ETag and LastModified as GetObject, without a body', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'head');
      const bytes = randomBytes(4096);
      await client.send(new PutObjectCommand({ Bucket, Key: 'h.bin', Body: bytes, ContentType: 'image/png', Metadata: { color: 'blue', 'two-words': 'a b' } }));
      const { r: got } = await getObject(client, Bucket, 'h.bin');
      const head = await client.send(new HeadObjectCommand({ Bucket, Key: 'h.bin' }));
      assert.equal(head.$metadata.httpStatusCode, 200);
      assert.equal(head.ContentType, 'image/png');
      assert.equal(head.ContentLength, 4096);
      assert.deepEqual(head.Metadata, { color: 'blue', 'two-words': 'a b' });
      assert.equal(head.ETag, md5ETag(bytes));
      for (const k of ['ContentType', 'ContentLength', 'ETag']) assert.equal(head[k], got[k], k);
      assert.deepEqual(head.Metadata, got.Metadata);
      assert.equal(head.LastModified.getTime(), got.LastModified.getTime());
      assert.equal(head.Body, undefined);
    }));

    it('HeadObject of a missing key answers 404 (NotFound); GetObject of a missing key answers NoSuchKey (404)', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'nokey');
      await expectServiceError(() => client.send(new HeadObjectCommand({ Bucket, Key: 'nope' })), { name: 'NotFound', status: 404 });
      await expectServiceError(() => client.send(new GetObjectCommand({ Bucket, Key: 'nope' })), { name: 'NoSuchKey', status: 404 });
    }));

    it('overwriting a key replaces its body, ContentType, Metadata and ETag', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'overwrite');
      const first = randomBytes(5000);
      const second = Buffer.from('short replacement');
      await client.send(new PutObjectCommand({ Bucket, Key: 'k', Body: first, ContentType: 'application/x-first', Metadata: { color: 'blue', old: 'yes' } }));
      const put2 = await client.send(new PutObjectCommand({ Bucket, Key: 'k', Body: second, ContentType: 'text/x-second', Metadata: { shape: 'round' } }));
      assert.equal(put2.ETag, md5ETag(second));
      const { r, body } = await getObject(client, Bucket, 'k');
      assertSameBytes(body, second, 'overwritten body');
      assert.equal(r.ContentLength, second.length);
      assert.equal(r.ContentType, 'text/x-second');
      assert.deepEqual(r.Metadata, { shape: 'round' });
      assert.equal(r.ETag, md5ETag(second));
      const listed = await client.send(new ListObjectsV2Command({ Bucket }));
      assert.deepEqual(listed.Contents.map((c) => [c.Key, c.Size, c.ETag]), [['k', second.length, md5ETag(second)]]);
    }));

    it('DeleteObject answers 204 for an existing key, which is then gone, and 204 for a key that never existed', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'delete');
      await client.send(new PutObjectCommand({ Bucket, Key: 'doomed', Body: 'x' }));
      await client.send(new PutObjectCommand({ Bucket, Key: 'kept', Body: 'y' }));
      const del = await client.send(new DeleteObjectCommand({ Bucket, Key: 'doomed' }));
      assert.equal(del.$metadata.httpStatusCode, 204);
      await expectServiceError(() => client.send(new GetObjectCommand({ Bucket, Key: 'doomed' })), { name: 'NoSuchKey', status: 404 });
      assert.deepEqual(await listKeys(client, { Bucket }), ['kept']);
      const missing = await client.send(new DeleteObjectCommand({ Bucket, Key: 'never-existed' }));
      assert.equal(missing.$metadata.httpStatusCode, 204);
      const again = await client.send(new DeleteObjectCommand({ Bucket, Key: 'doomed' }));
      assert.equal(again.$metadata.httpStatusCode, 204);
    }));

    it('keys with spaces, unicode, slashes, +, %, ?, # and XML-special characters round-trip through PutObject, ListObjectsV2, GetObject and HeadObject', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'keys');
      const bodies = new Map();
      for (const Key of AWKWARD_KEYS) {
        const body = Buffer.from(`body of ${JSON.stringify(Key)}`);
        bodies.set(Key, body);
        const put = await client.send(new PutObjectCommand({ Bucket, Key, Body: body }));
        assert.equal(put.ETag, md5ETag(body), `PutObject ${JSON.stringify(Key)}`);
      }
      const listed = await listKeys(client, { Bucket });
      assert.deepEqual(listed, [...AWKWARD_KEYS].sort(utf8Compare));
      for (const Key of AWKWARD_KEYS) {
        const { r, body } = await getObject(client, Bucket, Key);
        assertSameBytes(body, bodies.get(Key), `GetObject ${JSON.stringify(Key)}`);
        assert.equal(r.ETag, md5ETag(bodies.get(Key)));
        const head = await client.send(new HeadObjectCommand({ Bucket, Key }));
        assert.equal(head.ContentLength, bodies.get(Key).length, `HeadObject ${JSON.stringify(Key)}`);
      }
      // '+' in a key is a plus, not an encoded space: the two are different keys.
      await expectServiceError(() => client.send(new GetObjectCommand({ Bucket, Key: 'plus sign 1.txt' })), { name: 'NoSuchKey', status: 404 });
      // A prefix with special characters selects by the decoded key.
      assert.deepEqual(await listKeys(client, { Bucket, Prefix: 'unicode/ünïcødé/' }), ['unicode/ünïcødé/日本語/😀.txt']);
      assert.deepEqual(await listKeys(client, { Bucket, Prefix: 'question?' }), ['question?mark=1&and=2#hash.txt']);
    }));
  });

  describe('ListObjectsV2', () => {
    // Chosen so that UTF-8 byte order differs from JavaScript's UTF-16 order
    // ('ｆ' U+FF46 sorts before '😀' U+1F600 in UTF-8, after it in UTF-16) and from
    // case-insensitive order.
    const PAGING_KEYS = ['b', 'a', 'a/b', 'a0', 'B', 'Z-', '0', '~', 'é', 'ｆ', '😀', 'z', 'a/a', 'aa'];

    it('Prefix selects the keys that start with it', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'prefix');
      for (const Key of ['logs/2024/01.txt', 'logs/2024/02.txt', 'logs/2025/01.txt', 'logsheet.csv', 'other/logs/x']) {
        await client.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
      }
      const r = await client.send(new ListObjectsV2Command({ Bucket, Prefix: 'logs/2024/' }));
      assert.equal(r.$metadata.httpStatusCode, 200);
      assert.equal(r.Name, Bucket);
      assert.equal(r.Prefix, 'logs/2024/');
      assert.equal(r.KeyCount, 2);
      assert.equal(r.IsTruncated, false);
      assert.deepEqual(r.Contents.map((c) => c.Key), ['logs/2024/01.txt', 'logs/2024/02.txt']);
      assert.deepEqual(await listKeys(client, { Bucket, Prefix: 'logs' }), ['logs/2024/01.txt', 'logs/2024/02.txt', 'logs/2025/01.txt', 'logsheet.csv']);
      const none = await client.send(new ListObjectsV2Command({ Bucket, Prefix: 'nothing-here/' }));
      assert.equal(none.KeyCount, 0);
      assert.equal(none.Contents, undefined);
      assert.equal(none.IsTruncated, false);
    }));

    it('Delimiter "/" rolls keys up into CommonPrefixes, alone and under a Prefix; KeyCount counts keys and prefixes', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'delim');
      for (const Key of ['photos/2024/a.jpg', 'photos/2024/b.jpg', 'photos/2025/c.jpg', 'photos/top.jpg', 'readme.txt', 'videos/v.mp4']) {
        await client.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
      }
      const top = await client.send(new ListObjectsV2Command({ Bucket, Delimiter: '/' }));
      assert.equal(top.Delimiter, '/');
      assert.deepEqual(top.Contents.map((c) => c.Key), ['readme.txt']);
      assert.deepEqual(top.CommonPrefixes.map((p) => p.Prefix), ['photos/', 'videos/']);
      assert.equal(top.KeyCount, 3);

      const photos = await client.send(new ListObjectsV2Command({ Bucket, Delimiter: '/', Prefix: 'photos/' }));
      assert.deepEqual(photos.Contents.map((c) => c.Key), ['photos/top.jpg']);
      assert.deepEqual(photos.CommonPrefixes.map((p) => p.Prefix), ['photos/2024/', 'photos/2025/']);
      assert.equal(photos.KeyCount, 3);

      const leaf = await client.send(new ListObjectsV2Command({ Bucket, Delimiter: '/', Prefix: 'photos/2024/' }));
      assert.deepEqual(leaf.Contents.map((c) => c.Key), ['photos/2024/a.jpg', 'photos/2024/b.jpg']);
      assert.equal(leaf.CommonPrefixes, undefined);
      assert.equal(leaf.KeyCount, 2);
    }));

    it('MaxKeys pages with IsTruncated and NextContinuationToken through every key exactly once in UTF-8 byte order', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'paging');
      for (const Key of PAGING_KEYS) await client.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
      const want = [...PAGING_KEYS].sort(utf8Compare);
      assert.notDeepEqual(want, [...PAGING_KEYS].sort(), 'the keys must tell byte order from UTF-16 order');

      const pages = await listPages(client, { Bucket, MaxKeys: 3 });
      assert.equal(pages.length, Math.ceil(PAGING_KEYS.length / 3));
      let token;
      pages.forEach((p, i) => {
        const last = i === pages.length - 1;
        assert.equal(p.MaxKeys, 3);
        assert.equal(p.KeyCount, p.Contents.length, `page ${i}`);
        assert.equal(p.Contents.length, last ? PAGING_KEYS.length - 3 * i : 3, `page ${i}`);
        assert.equal(p.IsTruncated, !last, `page ${i}`);
        if (last) assert.equal(p.NextContinuationToken, undefined);
        assert.equal(p.ContinuationToken, token, `page ${i} echoes the ContinuationToken it was asked for`);
        token = p.NextContinuationToken;
      });
      assert.deepEqual(pages.flatMap((p) => p.Contents.map((c) => c.Key)), want);

      // An unpaged listing gives the same order.
      const all = await client.send(new ListObjectsV2Command({ Bucket }));
      assert.equal(all.MaxKeys, 1000);
      assert.equal(all.IsTruncated, false);
      assert.deepEqual(all.Contents.map((c) => c.Key), want);
    }));

    it('StartAfter lists only the keys after it, and combines with MaxKeys paging', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'startafter');
      for (const Key of PAGING_KEYS) await client.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
      const sorted = [...PAGING_KEYS].sort(utf8Compare);
      const r = await client.send(new ListObjectsV2Command({ Bucket, StartAfter: 'a0' }));
      assert.equal(r.StartAfter, 'a0');
      assert.deepEqual(r.Contents.map((c) => c.Key), sorted.slice(sorted.indexOf('a0') + 1));
      assert.equal(r.KeyCount, sorted.length - sorted.indexOf('a0') - 1);
      // StartAfter need not be a key that exists.
      assert.deepEqual(await listKeys(client, { Bucket, StartAfter: 'a/aa', MaxKeys: 2 }), sorted.filter((k) => utf8Compare(k, 'a/aa') > 0));
      // Past every key: nothing.
      const none = await client.send(new ListObjectsV2Command({ Bucket, StartAfter: '😀😀' }));
      assert.equal(none.KeyCount, 0);
      assert.equal(none.IsTruncated, false);
    }));

    it('each Contents entry carries Key, Size, ETag, LastModified and StorageClass STANDARD', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'entries');
      const objects = { 'one.txt': Buffer.from('1'), 'dir/two.bin': Buffer.from(randomBytes(70000)), 'zero': Buffer.alloc(0) };
      const start = Date.now();
      for (const [Key, Body] of Object.entries(objects)) await client.send(new PutObjectCommand({ Bucket, Key, Body }));
      const end = Date.now();
      const r = await client.send(new ListObjectsV2Command({ Bucket }));
      assert.equal(r.KeyCount, 3);
      for (const c of r.Contents) {
        const body = objects[c.Key];
        assert.ok(body, `unexpected key ${c.Key}`);
        assert.equal(c.Size, body.length, c.Key);
        assert.equal(c.ETag, md5ETag(body), c.Key);
        assert.equal(c.StorageClass, 'STANDARD', c.Key);
        assertTimeWithin(c.LastModified, start, end, `${c.Key} LastModified`);
        const head = await client.send(new HeadObjectCommand({ Bucket, Key: c.Key }));
        assert.equal(Math.floor(c.LastModified.getTime() / 1000), Math.floor(head.LastModified.getTime() / 1000), `${c.Key}: listed and HEAD LastModified differ`);
      }
    }));
  });

  describe('CopyObject', () => {
    it('CopyObject within a bucket copies bytes, ContentType and Metadata; CopyObjectResult.ETag equals the source ETag', t(async () => {
      const client = s3();
      const Bucket = await createBucket(client, 'copy');
      const bytes = randomBytes(200000);
      const src = await client.send(new PutObjectCommand({ Bucket, Key: 'src.bin', Body: bytes, ContentType: 'application/x-src', Metadata: { color: 'blue' } }));
      const start = Date.now();
      const copied = await client.send(new CopyObjectCommand({ Bucket, Key: 'dst.bin', CopySource: copySource(Bucket, 'src.bin') }));
      const end = Date.now();
      assert.equal(copied.$metadata.httpStatusCode, 200);
      assert.equal(copied.CopyObjectResult.ETag, src.ETag);
      assert.equal(copied.CopyObjectResult.ETag, md5ETag(bytes));
      assertTimeWithin(copied.CopyObjectResult.LastModified, start, end, 'CopyObjectResult.LastModified');
      const { r, body } = await getObject(client, Bucket, 'dst.bin');
      assertSameBytes(body, bytes, 'copy');
      assert.equal(r.ContentType, 'application/x-src');
      assert.deepEqual(r.Metadata, { color: 'blue' });
      assert.equal(r.ETag, src.ETag);
      // The source is untouched.
      assertSameBytes((await getObject(client, Bucket, 'src.bin')).body, bytes, 'source after copy');
      assert.deepEqual(await listKeys(client, { Bucket }), ['dst.bin', 'src.bin']);
    }));

    it('CopyObject across buckets with a URL-encoded CopySource copies keys with special characters', t(async () => {
      const client = s3();
      const from = await createBucket(client, 'copyfrom');
      const to = await createBucket(client, 'copyto');
      const keys = ['unicode/ünïcødé/日本語/😀.txt', 'with space.txt', 'plus+sign+1.txt', 'percent%20literal%.txt', 'question?mark=1&and=2#hash.txt'];
      for (const Key of keys) {
        const body = Buffer.from(`copy me: ${Key}`);
        const src = await client.send(new PutObjectCommand({ Bucket: from, Key, Body: body, Metadata: { color: 'blue' }, ContentType: 'text/x-copy' }));
        const copied = await client.send(new CopyObjectCommand({ Bucket: to, Key, CopySource: copySource(from, Key) }));
        assert.equal(copied.CopyObjectResult.ETag, src.ETag, `copy of ${JSON.stringify(Key)}`);
        const { r, body: got } = await getObject(client, to, Key);
        assertSameBytes(got, body, `copied ${JSON.stringify(Key)}`);
        assert.deepEqual(r.Metadata, { color: 'blue' });
        assert.equal(r.ContentType, 'text/x-copy');
      }
      assert.deepEqual(await listKeys(client, { Bucket: to }), [...keys].sort(utf8Compare));
      // A missing source key is NoSuchKey.
      await expectServiceError(() => client.send(new CopyObjectCommand({ Bucket: to, Key: 'x', CopySource: copySource(from, 'not-there') })), { name: 'NoSuchKey', status: 404 });
    }));
  });

  describe('virtual-hosted style', () => {
    // Done with @aws-sdk/client-s3 itself, signed: the client's endpoint is
    // http://localhost:<port> with forcePathStyle false, so the SDK addresses the
    // bucket as <bucket>.localhost:<port> (Host header and signature) with the key
    // alone as the path; its http.Agent's `lookup` resolves every *.localhost name to
    // 127.0.0.1. `requestHandler` is given as NodeHttpHandler (@smithy/node-http-handler)
    // options, which the client turns into its NodeHttpHandler.
    it('requests signed for <bucket>.localhost:<port> reach the bucket: PutObject, GetObject, HeadObject and ListObjectsV2', t(async () => {
      const port = box.nimbus.port;
      const looked = [];
      const lookup = (hostname, options, callback) => {
        if (typeof options === 'function') [callback, options] = [options, {}];
        looked.push(hostname);
        if (hostname !== 'localhost' && !hostname.endsWith('.localhost')) return dns.lookup(hostname, options, callback);
        if (options?.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
        return callback(null, '127.0.0.1', 4);
      };
      const agent = new http.Agent({ keepAlive: false, lookup });
      const vhost = new S3Client({
        endpoint: `http://localhost:${port}`,
        forcePathStyle: false,
        region: REGION,
        credentials: CREDENTIALS,
        maxAttempts: 1,
        requestHandler: { httpAgent: agent },
      });
      const sent = captureRequests(vhost);
      const pathStyle = s3();
      try {
        const Bucket = await createBucket(pathStyle, 'vhost');
        const bytes = randomBytes(10000);
        const put = await vhost.send(new PutObjectCommand({ Bucket, Key: 'dir/v.bin', Body: bytes, Metadata: { color: 'blue' } }));
        assert.equal(put.ETag, md5ETag(bytes));
        // The SDK really addressed the bucket by host name.
        assert.equal(sent[0].hostname, `${Bucket}.localhost`);
        assert.equal(sent[0].path, '/dir/v.bin');
        assert.ok(looked.includes(`${Bucket}.localhost`), `looked up: ${looked}`);

        // Stored in the bucket named by the host: path-style sees it.
        const viaPath = await getObject(pathStyle, Bucket, 'dir/v.bin');
        assertSameBytes(viaPath.body, bytes, 'path-style read of a virtual-hosted write');
        assert.deepEqual(viaPath.r.Metadata, { color: 'blue' });

        const viaHost = await getObject(vhost, Bucket, 'dir/v.bin');
        assertSameBytes(viaHost.body, bytes, 'virtual-hosted read');
        assert.equal((await vhost.send(new HeadObjectCommand({ Bucket, Key: 'dir/v.bin' }))).ContentLength, bytes.length);
        const listed = await vhost.send(new ListObjectsV2Command({ Bucket }));
        assert.equal(listed.Name, Bucket);
        assert.deepEqual(listed.Contents.map((c) => c.Key), ['dir/v.bin']);
        assert.ok(sent.every((s) => s.hostname === `${Bucket}.localhost`), `requests not all virtual-hosted: ${JSON.stringify(sent.map((s) => s.hostname))}`);
        await expectServiceError(() => vhost.send(new GetObjectCommand({ Bucket, Key: 'absent' })), { name: 'NoSuchKey', status: 404 });
      } finally {
        vhost.destroy();
        agent.destroy();
      }
    }));
  });
});

describe('S3 object store across a restart', { skip: SKIP_NO_BINARY }, () => {
  it('a restart on the same data dir keeps buckets (with CreationDate) and objects (bytes, ContentType, Metadata, ETag, LastModified); deletions stay deleted', { timeout: 180000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-s3-restart-'));
    try {
      const big = randomBytes(MiB);
      const objects = [
        { Key: 'small.txt', Body: Buffer.from('kept across restarts'), ContentType: 'text/plain', Metadata: { color: 'blue' } },
        { Key: 'big/random.bin', Body: big, ContentType: 'application/octet-stream', Metadata: {} },
        { Key: 'unicode/ünïcødé/😀 +%?.txt', Body: Buffer.from('awkward'), ContentType: 'text/x-awkward', Metadata: { shape: 'round' } },
      ];
      let Bucket;
      let Gone;
      const before = {};
      let creationDate;
      await withDaemon({ dataDir }, async (n) => {
        const client = s3Client(n);
        Bucket = await createBucket(client, 'durable');
        Gone = await createBucket(client, 'gone');
        for (const o of objects) await client.send(new PutObjectCommand({ Bucket, ...o }));
        // Streamed (aws-chunked) uploads are durable too.
        await client.send(new PutObjectCommand({ Bucket, Key: 'streamed.bin', Body: unevenStream(big), ContentLength: big.length }));
        await client.send(new PutObjectCommand({ Bucket, Key: 'deleted.txt', Body: 'x' }));
        await client.send(new DeleteObjectCommand({ Bucket, Key: 'deleted.txt' }));
        await client.send(new DeleteBucketCommand({ Bucket: Gone }));
        for (const o of [...objects, { Key: 'streamed.bin' }]) before[o.Key] = await client.send(new HeadObjectCommand({ Bucket, Key: o.Key }));
        creationDate = (await client.send(new ListBucketsCommand({}))).Buckets.find((b) => b.Name === Bucket).CreationDate;
        await n.stop(); // asserts a clean shutdown
      });
      await withDaemon({ dataDir }, async (n) => {
        const client = s3Client(n);
        const buckets = (await client.send(new ListBucketsCommand({}))).Buckets ?? [];
        const mine = buckets.find((b) => b.Name === Bucket);
        assert.ok(mine, `${Bucket} lost across restart (listed: ${buckets.map((b) => b.Name)})`);
        assert.equal(mine.CreationDate.getTime(), creationDate.getTime(), 'CreationDate changed across restart');
        assert.ok(!buckets.some((b) => b.Name === Gone), 'a deleted bucket came back');
        assert.equal((await client.send(new HeadBucketCommand({ Bucket }))).$metadata.httpStatusCode, 200);

        assert.deepEqual(await listKeys(client, { Bucket }), [...objects.map((o) => o.Key), 'streamed.bin'].sort(utf8Compare));
        for (const o of objects) {
          const { r, body } = await getObject(client, Bucket, o.Key);
          assertSameBytes(body, o.Body, `${o.Key} after restart`);
          assert.equal(r.ContentType, o.ContentType, o.Key);
          assert.deepEqual(r.Metadata ?? {}, o.Metadata, o.Key);
          assert.equal(r.ETag, md5ETag(o.Body), o.Key);
          assert.equal(r.ETag, before[o.Key].ETag, o.Key);
          assert.equal(r.LastModified.getTime(), before[o.Key].LastModified.getTime(), `${o.Key}: LastModified changed across restart`);
        }
        assertSameBytes((await getObject(client, Bucket, 'streamed.bin')).body, big, 'streamed object after restart');
        await expectServiceError(() => client.send(new GetObjectCommand({ Bucket, Key: 'deleted.txt' })), { name: 'NoSuchKey', status: 404 });

        // The store still takes writes after the restart.
        const put = await client.send(new PutObjectCommand({ Bucket, Key: 'after.txt', Body: 'written after restart' }));
        assert.equal(put.ETag, md5ETag(Buffer.from('written after restart')));
        assert.equal((await getObject(client, Bucket, 'after.txt')).body.toString(), 'written after restart');
        await n.stop();
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
