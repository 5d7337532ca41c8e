// Helpers around @aws-sdk/client-lambda: create-and-wait, invoke-and-decode,
// error capture, tail-log parsing, and raw (non-SDK) HTTP for requests an SDK
// cannot produce (a ZipFile that is not base64, an invalid JSON body...).
import assert from 'node:assert/strict';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  InvokeCommand,
  waitUntilFunctionActiveV2,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import { ROLE, REGION, ACCOUNT, CREDENTIALS, uniqueName } from './nimbus.mjs';
import { signedHeaders, basicAuthorization } from './sign.mjs';

export const WAITER = { maxWaitTime: 60, minDelay: 1, maxDelay: 2 };

export function functionArn(name) {
  return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
}

export async function createFunction(client, { name, zip, runtime, handler, wait = true, ...rest }) {
  const out = await client.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Role: ROLE,
      Runtime: runtime,
      Handler: handler,
      Code: { ZipFile: zip },
      ...rest,
    }),
  );
  if (wait) await waitActive(client, name);
  return out;
}

// Creates one function per entry of `defs` ({ key: { zip, runtime, handler, ...CreateFunction
// fields } }) under uniqueName(key in lower case), all before waiting for any to become Active,
// so their creation overlaps; stores each name in `fns[key]`.
export async function createFunctions(client, defs, fns) {
  for (const [key, d] of Object.entries(defs)) {
    fns[key] = uniqueName(key.toLowerCase());
    const { zip, runtime, handler, ...rest } = d;
    await createFunction(client, { name: fns[key], zip, runtime, handler, wait: false, ...rest });
  }
  for (const name of Object.values(fns)) await waitActive(client, name);
}

export async function waitActive(client, name) {
  const r = await waitUntilFunctionActiveV2({ client, ...WAITER }, { FunctionName: name });
  assert.equal(r.state, 'SUCCESS', `FunctionActiveV2 waiter for ${name}: ${JSON.stringify(r)}`);
}

export async function waitUpdated(client, name) {
  const r = await waitUntilFunctionUpdatedV2({ client, ...WAITER }, { FunctionName: name });
  assert.equal(r.state, 'SUCCESS', `FunctionUpdatedV2 waiter for ${name}: ${JSON.stringify(r)}`);
}

export async function deleteQuietly(client, name) {
  try {
    await client.send(new DeleteFunctionCommand({ FunctionName: name }));
  } catch {
    /* already gone */
  }
}

// Invokes and decodes. Returns { status, functionError, executedVersion, raw,
// text, json (or undefined), tail (decoded X-Amz-Log-Result or undefined),
// requestId, response }.
export async function invoke(client, name, payload, extra = {}) {
  const input = { FunctionName: name, LogType: 'Tail', ...extra };
  if (payload !== undefined) input.Payload = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  const res = await client.send(new InvokeCommand(input));
  const raw = res.Payload ? Buffer.from(res.Payload) : Buffer.alloc(0);
  const text = raw.toString('utf8');
  let json;
  try {
    json = text.length ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return {
    status: res.StatusCode,
    functionError: res.FunctionError,
    executedVersion: res.ExecutedVersion,
    raw,
    text,
    json,
    tail: res.LogResult !== undefined ? Buffer.from(res.LogResult, 'base64').toString('utf8') : undefined,
    tailBase64: res.LogResult,
    requestId: res.$metadata.requestId,
    response: res,
  };
}

// Runs `fn`, expects it to throw an AWS service error, returns the error.
export async function expectServiceError(fn, { name, status, messageMatch } = {}) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${name ?? 'an error'} (${status ?? '?'}), but the call succeeded`);
  const got = `${err.name} (HTTP ${err.$metadata?.httpStatusCode}): ${err.message}`;
  if (name !== undefined) {
    if (Array.isArray(name)) assert.ok(name.includes(err.name), `want one of ${name.join('|')}, got ${got}`);
    else assert.equal(err.name, name, `want ${name}, got ${got}`);
  }
  if (status !== undefined) assert.equal(err.$metadata?.httpStatusCode, status, `want HTTP ${status}, got ${got}`);
  if (messageMatch !== undefined) assert.match(err.message, messageMatch, `message of ${got}`);
  return err;
}

// --- platform log lines (LAMBDA_COMPAT §3.3) -------------------------------

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const UUID_RE = new RegExp(`^${UUID}$`);
// A $LATEST log stream name: "2024/01/14/[$LATEST]" and 32 hex digits.
export const LOG_STREAM_RE = /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/;

export function startLineRe(requestId, version = '$LATEST') {
  return new RegExp(`^START RequestId: ${escapeRe(requestId)} Version: ${escapeRe(version)}$`, 'm');
}
export function endLineRe(requestId) {
  return new RegExp(`^END RequestId: ${escapeRe(requestId)}$`, 'm');
}
// Captures: 1 duration, 2 billed, 3 memory size, 4 max used, 5 init duration (optional), 6 rest.
export function reportLineRe(requestId) {
  return new RegExp(
    `^REPORT RequestId: ${escapeRe(requestId)}\\tDuration: (\\d+\\.\\d{2}) ms\\tBilled Duration: (\\d+) ms\\tMemory Size: (\\d+) MB\\tMax Memory Used: (\\d+) MB\\t(?:Init Duration: (\\d+\\.\\d{2}) ms\\t)?(.*)$`,
    'm',
  );
}

// Parses START/END/REPORT for one request id out of a log text and checks
// their format and order. Returns the REPORT fields.
export function checkPlatformLines(log, requestId, { version = '$LATEST', memorySize, coldStart, status } = {}) {
  const lines = log.split('\n');
  const iStart = lines.findIndex((l) => startLineRe(requestId, version).test(l));
  const iEnd = lines.findIndex((l) => endLineRe(requestId).test(l));
  const iReport = lines.findIndex((l) => reportLineRe(requestId).test(l));
  assert.ok(iStart >= 0, `no "START RequestId: ${requestId} Version: ${version}" line in:\n${log}`);
  assert.ok(iEnd >= 0, `no "END RequestId: ${requestId}" line in:\n${log}`);
  assert.ok(iReport >= 0, `no well-formed REPORT line for ${requestId} in:\n${JSON.stringify(log)}`);
  assert.ok(iStart < iEnd && iEnd < iReport, `START/END/REPORT out of order (${iStart}, ${iEnd}, ${iReport}) in:\n${log}`);
  const m = lines[iReport].match(reportLineRe(requestId));
  const report = {
    line: lines[iReport],
    duration: Number(m[1]),
    billed: Number(m[2]),
    memorySize: Number(m[3]),
    maxMemoryUsed: Number(m[4]),
    initDuration: m[5] !== undefined ? Number(m[5]) : undefined,
    rest: m[6],
    between: lines.slice(iStart + 1, iEnd),
  };
  // Billed = ceil(Duration [+ Init Duration]) to 1 ms (LAMBDA_COMPAT §3.4).
  const billable = report.duration + (report.initDuration ?? 0);
  assert.ok(
    report.billed >= Math.ceil(billable - 0.011) && report.billed <= Math.ceil(billable + 0.011) + 1,
    `Billed Duration ${report.billed} is not ceil(${billable}) in ${report.line}`,
  );
  assert.ok(report.maxMemoryUsed >= 1 && report.maxMemoryUsed <= report.memorySize + 1, `Max Memory Used ${report.maxMemoryUsed} MB outside 1..${report.memorySize} in ${report.line}`);
  if (memorySize !== undefined) assert.equal(report.memorySize, memorySize, report.line);
  if (coldStart === true) assert.notEqual(report.initDuration, undefined, `cold start REPORT lacks Init Duration: ${report.line}`);
  if (coldStart === false) assert.equal(report.initDuration, undefined, `warm REPORT has Init Duration: ${report.line}`);
  if (status === undefined) assert.equal(report.rest, '', `unexpected trailing REPORT fields: ${JSON.stringify(report.rest)}`);
  else assert.match(report.rest, status, report.line);
  return report;
}

export function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// --- raw HTTP ---------------------------------------------------------------

// A request built by hand, signed as the SDKs sign (lib/sign.mjs) with the test
// daemon's admin key: `auth` 'sigv4' (default; for `service`), 'basic' (HTTP
// Basic with the key, what /metrics takes; the default for /metrics) or 'none'.
export async function rawRequest(endpoint, method, path, { body, headers = {}, service = 'lambda', auth, credentials = CREDENTIALS } = {}) {
  const url = endpoint + path;
  const how = auth ?? (path.startsWith('/metrics') ? 'basic' : 'sigv4');
  let sent = headers;
  if (how === 'sigv4') sent = await signedHeaders(url, { method, headers, body, credentials, region: REGION, service });
  if (how === 'basic') sent = { ...headers, authorization: basicAuthorization(credentials) };
  const res = await fetch(url, { method, headers: sent, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json, errorType: (res.headers.get('x-amzn-errortype') ?? '').split(':')[0] };
}

export function assertRawError(r, name, status) {
  const names = Array.isArray(name) ? name : [name];
  assert.equal(r.status, status, `want HTTP ${status} ${names.join('|')}, got ${r.status} ${r.errorType}: ${r.text.slice(0, 500)}`);
  assert.ok(names.includes(r.errorType), `want x-amzn-ErrorType ${names.join('|')}, got ${JSON.stringify(r.errorType)} (${r.status}): ${r.text.slice(0, 500)}`);
  assert.ok(r.json && typeof (r.json.message ?? r.json.Message) === 'string', `error body is not {"Type","Message"}: ${r.text.slice(0, 500)}`);
}
