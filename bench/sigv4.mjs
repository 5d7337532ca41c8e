// SigV4 for the benchmark clients (bench.mjs, services.mjs, async.mjs): `nimbus serve`
// verifies every API request against the keys in <data-dir>/credentials.json, so the
// scripts write an admin key there before starting the daemon and sign each request
// with @smithy/signature-v4 (the AWS SDK for JavaScript's signer), as the SDKs do.
//
// SigV4 has no nonce: a signature is valid for 15 minutes and may be replayed. The
// Signer signs a given (service, method, host, path, headers, body) once and hands
// the same headers out for identical requests until they are 5 minutes old, so a
// loop of identical requests costs one signature (what a client would pay per
// request is left out of the latency figures; a request with a new body is signed
// when it is asked for, outside the timed region where the script allows it).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';

export const REGION = 'us-east-1';
const RESIGN_MS = 5 * 60 * 1000;
const CACHE_MAX = 16384;

// The hash constructor @smithy/signature-v4 takes: SHA-256, or HMAC-SHA-256 when
// constructed with a secret; update(data), async digest() -> Uint8Array.
const bytes = (d) => (typeof d === 'string' ? Buffer.from(d, 'utf8') : d instanceof ArrayBuffer ? new Uint8Array(d) : d);
export class Sha256 {
  constructor(secret) { this.secret = secret; this.reset(); }
  update(data) { this.h.update(bytes(data)); }
  async digest() { return new Uint8Array(this.h.digest()); }
  reset() { this.h = this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret)); }
}

// A new admin key ("AKIA" + 16 base-32 characters, a 40-character secret) written as
// <dataDir>/credentials.json (mode 0600) in the KeyStore's format; start the daemon after.
export function writeAdminKey(dataDir) {
  const b32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = 'AKIA' + Array.from(randomBytes(16), (b) => b32[b & 31]).join('');
  const secret = randomBytes(30).toString('base64');
  writeFileSync(path.join(dataDir, 'credentials.json'),
    JSON.stringify({ AccessKeys: [{ AccessKeyId: id, SecretAccessKey: secret, Policy: 'admin', Created: Date.now() }] }) + '\n',
    { mode: 0o600 });
  return { accessKeyId: id, secretAccessKey: secret };
}

// HTTP Basic credentials for /metrics: the access key id and its secret.
export const basicAuth = (creds) => `Basic ${Buffer.from(`${creds.accessKeyId}:${creds.secretAccessKey}`).toString('base64')}`;

// Signs requests with one key. Services: "lambda", "logs", "sqs", "dynamodb" (signed
// payload hash, no X-Amz-Content-Sha256 header, path URI-escaped twice, as the SDKs
// do for them) and "s3" (path as it is, X-Amz-Content-Sha256 added).
export class Signer {
  constructor(creds, region = REGION) {
    this.creds = creds;
    this.signers = new Map();
    for (const service of ['lambda', 'logs', 'sqs', 'dynamodb', 's3']) {
      const s3 = service === 's3';
      this.signers.set(service, new SignatureV4({
        credentials: creds, region, service, sha256: Sha256, uriEscapePath: !s3, applyChecksum: s3,
      }));
    }
    this.cache = new Map();
    this.bodyIds = new WeakMap();
    this.nextBodyId = 0;
  }

  // The request's headers with Host, X-Amz-Date, Authorization (and X-Amz-Content-Sha256
  // for S3) added. `host` is what the client sends as Host ("127.0.0.1:<port>").
  async headers(service, method, host, urlPath, body, headers = {}) {
    const key = this.#key(service, method, host, urlPath, body, headers);
    const hit = key && this.cache.get(key);
    if (hit && Date.now() - hit.at < RESIGN_MS) return hit.headers;
    const signed = await this.sign(service, method, host, urlPath, body, headers);
    if (key) {
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(key, { at: Date.now(), headers: signed });
    }
    return signed;
  }

  // Signs now, without the cache.
  async sign(service, method, host, urlPath, body, headers = {}) {
    const signer = this.signers.get(service);
    if (!signer) throw new Error(`no signer for service ${service}`);
    const q = urlPath.indexOf('?');
    const query = {};
    if (q >= 0) {
      for (const [k, v] of new URLSearchParams(urlPath.slice(q + 1))) query[k] = v;
    }
    const [hostname, port] = host.split(':');
    const req = await signer.sign({
      method, protocol: 'http:', hostname, port: port ? Number(port) : undefined,
      path: q >= 0 ? urlPath.slice(0, q) : urlPath, query,
      headers: { ...headers, host }, body: body === undefined || body === '' ? undefined : body,
    });
    return req.headers;
  }

  // Cache key: strings by value; Buffers by identity (a body is not hashed twice).
  #key(service, method, host, urlPath, body, headers) {
    let b;
    if (body === undefined) b = '';
    else if (typeof body === 'string') b = `s${body}`;
    else if (typeof body === 'object') {
      let id = this.bodyIds.get(body);
      if (id === undefined) { id = this.nextBodyId++; this.bodyIds.set(body, id); }
      b = `b${id}`;
    } else return null;
    return `${service}\n${method}\n${host}\n${urlPath}\n${JSON.stringify(headers)}\n${b}`;
  }
}
