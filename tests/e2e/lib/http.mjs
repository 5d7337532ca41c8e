// Plain HTTP to the daemon as a browser or curl would send it: to 127.0.0.1:<port>
// with any Host header (function URLs and HTTP APIs are addressed by Host), no
// signature. Resolves with the status, the headers (node's: set-cookie as an array)
// and the body as text.
import http from 'node:http';

export function httpRequest(port, { host, method = 'GET', path = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...(host ? { Host: host } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
