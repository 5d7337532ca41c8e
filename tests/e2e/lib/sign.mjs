// SigV4 signing for requests the tests build by hand (raw fetches of API paths),
// with @smithy/signature-v4 — the signer inside the AWS SDKs — so that they pass
// the server's verification as the SDKs' requests do.
import crypto from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

// The SDK's Checksum interface over node's crypto (an HMAC when given a secret).
class Sha256 {
  constructor(secret) {
    this.hash = secret ? crypto.createHmac('sha256', secret) : crypto.createHash('sha256');
  }
  update(data) {
    this.hash.update(typeof data === 'string' ? Buffer.from(data) : data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

function signer(credentials, region, service) {
  return new SignatureV4({ credentials, region, service, sha256: Sha256, uriEscapePath: service !== 's3', applyChecksum: service === 's3' });
}

// The headers to send with `method url` (and `body`), signed for `service` at
// `signingDate` (default: now).
export async function signedHeaders(url, { method = 'GET', headers = {}, body, credentials, region = 'us-east-1', service = 'lambda', signingDate }) {
  const u = new URL(url);
  const query = {};
  for (const [k, v] of u.searchParams) query[k] = v;
  const request = {
    method,
    protocol: u.protocol,
    hostname: u.hostname,
    port: u.port ? Number(u.port) : undefined,
    path: u.pathname,
    query,
    headers: { host: u.host, ...headers },
    body,
  };
  const signed = await signer(credentials, region, service).sign(request, signingDate ? { signingDate } : {});
  return signed.headers;
}

// A presigned URL for `method url`, valid for `expiresIn` seconds.
export async function presignedUrl(url, { method = 'GET', credentials, region = 'us-east-1', service = 's3', expiresIn = 900, signingDate } = {}) {
  const u = new URL(url);
  const query = {};
  for (const [k, v] of u.searchParams) query[k] = v;
  const request = { method, protocol: u.protocol, hostname: u.hostname, port: u.port ? Number(u.port) : undefined, path: u.pathname, query, headers: { host: u.host } };
  const p = await signer(credentials, region, service).presign(request, { expiresIn, signingDate });
  const qs = Object.entries(p.query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `${u.protocol}//${u.host}${p.path}?${qs}`;
}

const sha256Hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

// An S3 PUT of `data` in aws-chunked encoding with signed chunks
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), as the S3 docs' "Signature Calculations for
// the Authorization Header: Transferring Payload in Multiple Chunks" describe it:
// the headers are signed with the streaming payload hash (the seed signature),
// then each `chunkSize` chunk and the final empty one carry a signature chained
// from the previous one. Returns { headers, body } for fetch(url, { method:
// 'PUT', headers, body }). `alterChunk` (an index) sends that chunk with one
// character of its signature changed.
export async function signedChunkedUpload(url, data, { chunkSize = 64 * 1024, credentials, region = 'us-east-1', headers = {}, alterChunk } = {}) {
  const payload = Buffer.from(data);
  const chunks = [];
  for (let i = 0; i < payload.length; i += chunkSize) chunks.push(payload.subarray(i, i + chunkSize));
  chunks.push(Buffer.alloc(0));
  // Every chunk's signature is 64 hex digits: the body's length is known before signing.
  const framedLength = chunks.reduce((n, c) => n + c.length.toString(16).length + ';chunk-signature='.length + 64 + 2 + (c.length ? c.length + 2 : 0), 0) + 2;
  const signed = await signedHeaders(url, {
    method: 'PUT',
    credentials,
    region,
    service: 's3',
    headers: {
      ...headers,
      'content-encoding': 'aws-chunked',
      'content-length': String(framedLength),
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'x-amz-decoded-content-length': String(payload.length),
    },
  });
  const authorization = signed.authorization ?? signed.Authorization;
  const amzDate = signed['x-amz-date'];
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/s3/aws4_request`;
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, date), region), 's3'), 'aws4_request');
  let previous = authorization.match(/Signature=([0-9a-f]{64})/)[1];
  const parts = [];
  chunks.forEach((chunk, index) => {
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, sha256Hex(''), sha256Hex(chunk)].join('\n');
    previous = hmac(key, stringToSign).toString('hex');
    let signature = previous;
    if (index === alterChunk) signature = (signature[0] === 'a' ? 'b' : 'a') + signature.slice(1);
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`));
    if (chunk.length) parts.push(chunk, Buffer.from('\r\n'));
  });
  parts.push(Buffer.from('\r\n'));
  const body = Buffer.concat(parts);
  if (body.length !== framedLength) throw new Error(`aws-chunked body is ${body.length} bytes, signed as ${framedLength}`);
  const { host, ...rest } = signed;
  return { headers: rest, body };
}

// The value of an Authorization header for HTTP Basic authentication (/metrics).
export function basicAuthorization({ accessKeyId, secretAccessKey }) {
  return `Basic ${Buffer.from(`${accessKeyId}:${secretAccessKey}`).toString('base64')}`;
}
