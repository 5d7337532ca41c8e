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

// The headers to send with `method url` (and `body`), signed for `service`.
export async function signedHeaders(url, { method = 'GET', headers = {}, body, credentials, region = 'us-east-1', service = 'lambda' }) {
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
  const signed = await signer(credentials, region, service).sign(request);
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

// The value of an Authorization header for HTTP Basic authentication (/metrics).
export function basicAuthorization({ accessKeyId, secretAccessKey }) {
  return `Basic ${Buffer.from(`${accessKeyId}:${secretAccessKey}`).toString('base64')}`;
}
