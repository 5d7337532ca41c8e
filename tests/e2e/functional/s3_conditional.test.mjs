// S3 conditional requests with @aws-sdk/client-s3: conditional writes (IfNoneMatch "*",
// IfMatch) and reads (IfMatch, IfNoneMatch, IfModifiedSince, IfUnmodifiedSince), answered
// 412 PreconditionFailed or 304 as S3 answers them; a refused write changes nothing.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { useNimbus, withLogs, SKIP_NO_BINARY, REGION, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { expectServiceError } from '../lib/lambda.mjs';

describe('S3 conditional requests', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let s3;
  let Bucket;

  before(async () => {
    s3 = new S3Client({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true, maxAttempts: 1 });
    Bucket = `${RUN_ID}-conditional`.toLowerCase();
    await s3.send(new CreateBucketCommand({ Bucket }));
  });

  it('IfNoneMatch "*" writes only a new key and IfMatch only over the version it names', t(async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'first', IfNoneMatch: '*' }));
    await expectServiceError(() => s3.send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'second', IfNoneMatch: '*' })),
      { name: 'PreconditionFailed', status: 412 });
    await expectServiceError(() => s3.send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'second', IfMatch: '"0123456789abcdef0123456789abcdef"' })),
      { name: 'PreconditionFailed', status: 412 });
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'once' }));
    assert.equal(await got.Body.transformToString(), 'first');
    const second = await s3.send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'second', IfMatch: first.ETag }));
    assert.notEqual(second.ETag, first.ETag);
  }));

  it('reads honour IfMatch, IfNoneMatch, IfModifiedSince and IfUnmodifiedSince', t(async () => {
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket, Key: 'read', Body: 'x' }));
    const notModified = await expectServiceError(() => s3.send(new GetObjectCommand({ Bucket, Key: 'read', IfNoneMatch: ETag })), { status: 304 });
    assert.ok(notModified);
    await expectServiceError(() => s3.send(new GetObjectCommand({ Bucket, Key: 'read', IfMatch: '"ffffffffffffffffffffffffffffffff"' })), { status: 412 });
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket, Key: 'read', IfMatch: ETag }))).ETag, ETag);
    await expectServiceError(() => s3.send(new GetObjectCommand({ Bucket, Key: 'read', IfModifiedSince: new Date(Date.now() + 3600e3) })), { status: 304 });
    await expectServiceError(() => s3.send(new GetObjectCommand({ Bucket, Key: 'read', IfUnmodifiedSince: new Date('2015-01-01') })), { status: 412 });
    const fresh = await s3.send(new GetObjectCommand({ Bucket, Key: 'read', IfModifiedSince: new Date('2015-01-01') }));
    assert.equal(await fresh.Body.transformToString(), 'x');
  }));
});
