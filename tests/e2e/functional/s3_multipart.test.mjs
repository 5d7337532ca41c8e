// S3 multipart uploads (issue #5, scope 1) with @aws-sdk/client-s3's own commands:
// CreateMultipartUpload, UploadPart, ListParts, ListMultipartUploads,
// CompleteMultipartUpload (S3's "<md5 of md5s>-<parts>" ETag) and AbortMultipartUpload,
// with S3's errors for parts out of order, unknown parts, parts under 5 MiB and unknown
// uploads. Objects larger than a request can be assembled, read back and copied
// without the daemon holding them in memory.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  ListPartsCommand,
  ListMultipartUploadsCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  CopyObjectCommand,
} from '@aws-sdk/client-s3';
import fs from 'node:fs';
import { useNimbus, withLogs, SKIP_NO_BINARY, REGION, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { expectServiceError } from '../lib/lambda.mjs';

const MiB = 1024 * 1024;
const md5 = (b) => crypto.createHash('md5').update(b).digest();

describe('S3 multipart uploads', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let s3;
  let Bucket;

  before(async () => {
    s3 = new S3Client({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true, maxAttempts: 1 });
    Bucket = `${RUN_ID}-multipart`.toLowerCase();
    await s3.send(new CreateBucketCommand({ Bucket }));
  });

  it('parts uploaded in any order complete into one object with S3\'s multipart ETag, content type and metadata', t(async () => {
    const Key = 'big/file.bin';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ContentType: 'application/x-test', Metadata: { origin: 'parts' } }));
    assert.ok(UploadId);
    const parts = [crypto.randomBytes(5 * MiB), crypto.randomBytes(5 * MiB), crypto.randomBytes(1234)];
    const etags = [];
    for (const i of [2, 0, 1]) {
      const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: parts[i] }));
      assert.equal(r.ETag, `"${md5(parts[i]).toString('hex')}"`);
      etags[i] = r.ETag;
    }
    const listed = await s3.send(new ListPartsCommand({ Bucket, Key, UploadId }));
    assert.deepEqual(listed.Parts.map((p) => [p.PartNumber, p.Size]), [[1, 5 * MiB], [2, 5 * MiB], [3, 1234]]);
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
    assert.ok(uploads.Uploads.some((u) => u.UploadId === UploadId && u.Key === Key));
    const done = await s3.send(new CompleteMultipartUploadCommand({
      Bucket, Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }));
    const expected = `"${md5(Buffer.concat(parts.map(md5))).toString('hex')}-3"`;
    assert.equal(done.ETag, expected);
    const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
    assert.equal(got.ETag, expected);
    assert.equal(got.ContentType, 'application/x-test');
    assert.deepEqual(got.Metadata, { origin: 'parts' });
    assert.ok(Buffer.from(await got.Body.transformToByteArray()).equals(Buffer.concat(parts)));
    await expectServiceError(() => s3.send(new ListPartsCommand({ Bucket, Key, UploadId })), { name: 'NoSuchUpload', status: 404 });
  }));

  it('out-of-order, unknown and too-small parts are refused as S3 refuses them; an aborted upload is gone', t(async () => {
    const Key = 'bad.bin';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const a = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: 'small' }));
    const b = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: 'also small' }));
    const complete = (Parts) => s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
    await expectServiceError(() => complete([{ ETag: b.ETag, PartNumber: 2 }, { ETag: a.ETag, PartNumber: 1 }]), { name: 'InvalidPartOrder', status: 400 });
    await expectServiceError(() => complete([{ ETag: '"00000000000000000000000000000000"', PartNumber: 1 }]), { name: 'InvalidPart', status: 400 });
    await expectServiceError(() => complete([{ ETag: a.ETag, PartNumber: 1 }, { ETag: b.ETag, PartNumber: 2 }]), { name: 'EntityTooSmall', status: 400 });
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
    await expectServiceError(() => s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 3, Body: 'x' })), { name: 'NoSuchUpload', status: 404 });
    await expectServiceError(() => s3.send(new HeadObjectCommand({ Bucket, Key })), { status: 404 });
  }));

  // The daemon's peak resident memory from here on: writing 5 to clear_refs resets
  // VmHWM (root only, as CI runs; skipped otherwise with the reason).
  const resetPeak = () => fs.writeFileSync(`/proc/${box.nimbus.pid}/clear_refs`, '5');
  const peakMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${box.nimbus.pid}/status`, 'utf8'))[1]) / 1024;
  const canResetPeak = process.getuid?.() === 0 ? false : 'resetting a process\'s peak RSS (clear_refs) needs root';

  it('a 160 MiB object is assembled, read whole and by range, and copied, in little daemon memory', { skip: canResetPeak, timeout: 120000 }, t(async () => {
    const Key = 'huge/object.bin';
    const partSize = 8 * MiB; // the AWS CLI's part size
    const count = 20;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const whole = crypto.createHash('md5');
    const partMd5s = [];
    const Parts = [];
    for (let i = 0; i < count; i++) {
      const body = Buffer.alloc(partSize, i + 1);
      body.writeUInt32BE(i, 0);
      whole.update(body);
      partMd5s.push(md5(body));
      const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: body }));
      Parts.push({ ETag: r.ETag, PartNumber: i + 1 });
    }
    const size = partSize * count;
    resetPeak();
    const before = peakMiB();
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
    assert.equal(done.ETag, `"${md5(Buffer.concat(partMd5s)).toString('hex')}-${count}"`);

    const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
    assert.equal(got.ContentLength, size);
    const read = crypto.createHash('md5');
    let bytes = 0;
    for await (const chunk of got.Body) {
      read.update(chunk);
      bytes += chunk.length;
    }
    assert.equal(bytes, size);
    const wholeMd5 = whole.digest('hex');
    assert.equal(read.digest('hex'), wholeMd5);

    // A range across the boundary of parts 10 and 11.
    const start = 10 * partSize - 3;
    const ranged = await s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${start + 9}` }));
    assert.equal(ranged.ContentRange, `bytes ${start}-${start + 9}/${size}`);
    const slice = Buffer.from(await ranged.Body.transformToByteArray());
    assert.deepEqual([...slice], [10, 10, 10, 0, 0, 0, 10, 11, 11, 11]);

    // A copy of a multipart object gets the MD5 of its bytes as its ETag, as in S3.
    const copied = await s3.send(new CopyObjectCommand({ Bucket, Key: 'huge/copy.bin', CopySource: `${Bucket}/${Key}` }));
    assert.equal(copied.CopyObjectResult.ETag, `"${wholeMd5}"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'huge/copy.bin' }));
    assert.equal(head.ContentLength, size);

    const grew = peakMiB() - before;
    assert.ok(grew < 48, `the daemon's peak RSS grew by ${grew.toFixed(1)} MiB while completing, reading and copying a ${size / MiB} MiB object`);
  }));
});
