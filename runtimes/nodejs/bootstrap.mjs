/**
 * Nimbus runtime interface client for nodejs20.x functions.
 *
 * Started by the daemon inside an execution environment as
 * `/usr/bin/node /var/runtime/nodejs/bootstrap.mjs`, cwd /var/task. It loads the handler named
 * by _HANDLER ("dir/file.export.nested"), then loops over the Lambda Runtime API 2018-06-01 at
 * http://$AWS_LAMBDA_RUNTIME_API. Behaviour follows AWS's aws-lambda-nodejs-runtime-interface-
 * client v3 (the nodejs20.x managed runtime): handler resolution order, async and callback
 * handlers, context.succeed/fail/done, callbackWaitsForEmptyEventLoop through 'beforeExit',
 * error body shapes, and console line formats.
 *
 * Nothing may read the function's environment before main() has run specialize().
 *
 * Single-threaded (the Node event loop). One invocation at a time; the loop is
 * next -> handler -> post -> setImmediate(next).
 */

import { createRequire, register as registerHooks } from 'node:module';
import { writeSync, existsSync, readFileSync, closeSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { format as utilFormat, types as utilTypes } from 'node:util';
import net from 'node:net';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Layers. require() finds packages in /opt/nodejs/node_modules (and nodejs/nodeNN/node_modules)
// through NODE_PATH, set by the daemon; ES module `import` ignores NODE_PATH. Lambda's Node.js
// 18+ runtimes resolve layer packages for `import` too, so a resolve hook retries a bare
// specifier from the layer directories when the normal lookup (the task root's node_modules)
// fails. Registered only when a layer provides /opt/nodejs: the hooks thread costs start-up time.

const LAYER_RESOLVE_HOOK = `
const BASES = ${JSON.stringify([
  `file:///opt/nodejs/node${process.versions.node.split('.')[0]}/`,
  'file:///opt/nodejs/',
])};
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const bare = !/^([./#]|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);
    if (!bare || e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    for (const parentURL of BASES) {
      try {
        return await next(specifier, { ...context, parentURL });
      } catch {}
    }
    throw e;
  }
}
`;

function registerLayerHooks() {
  if (existsSync('/opt/nodejs') && typeof registerHooks === 'function') {
    registerHooks('data:text/javascript,' + encodeURIComponent(LAYER_RESOLVE_HOOK));
  }
}

// ---------------------------------------------------------------------------------------------
// Errors (RIC Errors.js): runtime error classes are named `Runtime.<ClassName>`.

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
class NodeJsExit extends Error {
  constructor() {
    super('Error: Runtime exited without providing a reason');
  }
}
for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
  NodeJsExit,
]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function isErrorLike(obj) {
  return (
    obj &&
    obj.name &&
    obj.message &&
    obj.stack &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string'
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

/** The error document posted to /error and /init/error: {errorType, errorMessage, trace}. */
function toRapidResponse(error) {
  try {
    if (utilTypes.isNativeError(error) || isErrorLike(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: error.stack.split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_err) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(error) {
  if (error instanceof Error) {
    const ret = Object.assign(
      { errorType: error.name, errorMessage: error.message, code: error.code },
      error,
    );
    if (typeof error.stack === 'string') ret.stack = error.stack.split('\n');
    return ret;
  }
  return error;
}

/** How the text log format renders an error: a tab, then JSON (RIC toFormatted). */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_err) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

function xrayCause(err) {
  try {
    const stack = [];
    if (err && typeof err.stack === 'string') {
      const lines = err.stack.split('\n');
      lines.shift();
      for (const stackLine of lines) {
        let line = stackLine.trim().replace(/\(|\)/g, '');
        line = line.substring(line.indexOf(' ') + 1);
        const label = line.lastIndexOf(' ') >= 0 ? line.slice(0, line.lastIndexOf(' ')) : null;
        let file = !label ? line : line.slice(line.lastIndexOf(' ') + 1);
        file = file.split(':');
        stack.push({ path: file[0], line: parseInt(file[1]), label: label || 'anonymous' });
      }
    }
    return JSON.stringify({
      working_directory: process.cwd(),
      exceptions: [{ type: err?.name, message: err?.message, stack }],
      paths: Array.from(new Set(stack.map((e) => e.path))),
    });
  } catch (_e) {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Console patch (RIC LogPatch.js), writing synchronously to fd 1 so that every line is in the
// pipe before the invocation's response is posted.

const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const setCurrentRequestId = (id) => (globalThis[REQUEST_ID_SYMBOL] = id);
const currentRequestId = () => globalThis[REQUEST_ID_SYMBOL];

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text` to fd, waiting out EAGAIN if someone made the pipe non-blocking. */
function writeFully(fd, text) {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(sleepCell, 0, 0, 1);
    }
  }
}

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});

const jsonErrorReplacer = (_, value) => {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
};

function formatJsonMessage(requestId, timestamp, level, ...messageParams) {
  const result = { timestamp, level: level.name, requestId };
  if (messageParams.length === 1) {
    result.message = messageParams[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_) {
      result.message = utilFormat(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = utilFormat(...messageParams);
  for (const param of messageParams) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function logText(level, message, ...params) {
  const line = `${new Date().toISOString()}\t${currentRequestId()}\t${level.name}\t${utilFormat(
    message,
    ...params,
  )}`;
  writeFully(1, line.replace(/\n/g, '\r') + '\n');
}

function logJson(level, message, ...params) {
  const line = formatJsonMessage(
    currentRequestId(),
    new Date().toISOString(),
    level,
    message,
    ...params,
  );
  writeFully(1, line.replace(/\n/g, '\r') + '\n');
}

// From the function's environment, in main() (a stem cell learns it late).
let logFormatIsJson = false;

/** structuredConsole.logError of the RIC: how the runtime reports errors in the log. */
function logError(msg, err) {
  if (logFormatIsJson) console.error(intoError(err));
  else console.error(msg, toFormatted(intoError(err)));
}

function patchConsole() {
  const log = logFormatIsJson ? logJson : logText;
  const nop = () => {};
  const minLevel = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  const make = (level) =>
    level.priority >= minLevel.priority ? (msg, ...params) => log(level, msg, ...params) : nop;
  console.trace = make(LEVELS.TRACE);
  console.debug = make(LEVELS.DEBUG);
  console.info = make(LEVELS.INFO);
  console.log = console.info;
  console.warn = make(LEVELS.WARN);
  console.error = make(LEVELS.ERROR);
  console.fatal = (msg, ...params) => log(LEVELS.FATAL, msg, ...params);
}

// ---------------------------------------------------------------------------------------------
// Runtime API client: one persistent TCP connection and a minimal HTTP/1.1 exchange, as the
// Python client does. node:http cost ~190 us of CPU per invocation here against ~50 us for
// Python (runtimes/tests/measure_invoke_cpu.py); a request here is one write of one string,
// and a response is parsed from the socket's read buffer (net's `onread`, no stream machinery),
// usually in one read. The Runtime API is plain HTTP/1.1 on loopback from our own daemon, so
// the reader handles what HTTP/1.1 allows a server to send and no more: a status line, headers
// (names case-insensitive), a Content-Length, chunked or close-delimited body, interim 1xx
// responses, and `Connection: close`.
//
// The socket is ref'd only while a request is outstanding: an idle connection must not keep
// the event loop alive, or 'beforeExit' (which callbackWaitsForEmptyEventLoop relies on) would
// never fire. If the daemon closed the connection while it was idle, the next request opens a
// new one; if a reused connection is closed or reset before any byte of the response arrived,
// the request is sent once more on a new connection.

const RUNTIME_PATH = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const XRAY_CAUSE_HEADER = 'Lambda-Runtime-Function-XRay-Error-Cause';
const MAX_XRAY_CAUSE_BYTES = 1024 * 1024;
// Responses from the Runtime API are small except the event (up to 6 MB); one read of up to
// 64 KiB takes a typical exchange whole.
const READ_BUFFER_BYTES = 64 * 1024;
const NOT_ASCII = /[^\x00-\x7f]/;

// States of the response reader.
const READ_HEAD = 0;
const READ_LENGTH_BODY = 1;
const READ_CHUNK_SIZE = 2;
const READ_CHUNK_DATA = 3;
const READ_TRAILERS = 4;
const READ_TO_EOF = 5;

class RuntimeApiError extends Error {
  constructor(message, code) {
    super(message);
    if (code !== undefined) this.code = code;
  }
}

class RuntimeApiClient {
  constructor(hostPort) {
    const i = hostPort.lastIndexOf(':');
    this.hostname = i > 0 ? hostPort.slice(0, i).replace(/^\[|\]$/g, '') : hostPort;
    this.port = i > 0 ? parseInt(hostPort.slice(i + 1), 10) : 80;
    this.hostHeader = hostPort;
    this.socket = null;
    this.readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    // The outstanding request: {data, resolve, reject, reused, retried}; null when idle.
    this.pending = null;
    this.gotResponseBytes = false;
    // Bytes received but not yet consumed, copied out of readBuffer: held[0, heldLength).
    this.held = null;
    this.heldLength = 0;
    this.resetReader();
  }

  resetReader() {
    this.state = READ_HEAD;
    this.headScanFrom = 0;
    this.status = 0;
    this.headers = null;
    this.closeAfter = false;
    this.remaining = 0;
    this.chunks = null;
  }

  connect() {
    const socket = net.connect({
      host: this.hostname,
      port: this.port,
      noDelay: true,
      onread: {
        buffer: this.readBuffer,
        callback: (nread, buf) => {
          if (socket === this.socket) this.onRead(buf, nread);
        },
      },
    });
    let error = null;
    socket.on('error', (err) => {
      error = err;
    });
    socket.on('close', () => {
      if (socket === this.socket) this.onClose(error);
    });
    this.socket = socket;
    this.held = null;
    this.heldLength = 0;
    this.resetReader();
  }

  /**
   * Sends `data` (a whole request: head and body, a string or a Buffer) and resolves to
   * {status, headers, body}: headers keyed by lowercase name, body a string (UTF-8).
   */
  request(data) {
    return new Promise((resolve, reject) => {
      this.pending = { data, resolve, reject, reused: this.socket !== null, retried: false };
      this.send();
    });
  }

  send() {
    if (this.socket === null) {
      this.connect();
      this.pending.reused = false;
    } else {
      this.socket.ref();
    }
    this.gotResponseBytes = false;
    this.socket.write(this.pending.data);
  }

  onClose(error) {
    this.socket = null;
    const p = this.pending;
    if (p === null) return;
    if (this.state === READ_TO_EOF && error === null) {
      this.complete(Buffer.concat(this.chunks).toString('utf8'));
      return;
    }
    if (!this.gotResponseBytes && p.reused && !p.retried) {
      p.retried = true;
      this.send();
      return;
    }
    this.pending = null;
    if (error === null) {
      error = this.gotResponseBytes
        ? new RuntimeApiError('runtime api closed the connection inside a response', 'ECONNRESET')
        : new RuntimeApiError('socket hang up', 'ECONNRESET');
    }
    p.reject(error);
  }

  onRead(buf, nread) {
    this.gotResponseBytes = true;
    try {
      if (this.heldLength === 0) {
        const used = this.parse(buf, 0, nread);
        if (used < nread) this.hold(buf, used, nread, used);
        return;
      }
      this.hold(buf, 0, nread, 0);
      const used = this.parse(this.held, 0, this.heldLength);
      if (used === this.heldLength) {
        this.held = null;
        this.heldLength = 0;
      } else if (used > 0) {
        this.held.copy(this.held, 0, used, this.heldLength);
        this.heldLength -= used;
        this.headScanFrom = Math.max(0, this.headScanFrom - used);
      }
    } catch (err) {
      // A response we cannot read: the connection is unusable, and so is the request on it.
      const socket = this.socket;
      const p = this.pending;
      this.socket = null;
      this.pending = null;
      socket.destroy();
      if (p !== null) p.reject(err);
    }
  }

  /**
   * Appends buf[start, end) to the held bytes (amortised linear: capacity doubles); `shift`
   * bytes before `start` were consumed, so positions the reader noted move down by it.
   */
  hold(buf, start, end, shift) {
    this.headScanFrom = Math.max(0, this.headScanFrom - shift);
    const n = end - start;
    if (this.held === null || this.held.length < this.heldLength + n) {
      const grown = Buffer.allocUnsafe(Math.max(2 * (this.heldLength + n), 4096));
      if (this.heldLength > 0) this.held.copy(grown, 0, 0, this.heldLength);
      this.held = grown;
    }
    buf.copy(this.held, this.heldLength, start, end);
    this.heldLength += n;
  }

  /**
   * Consumes what it can of b[pos, end) and returns the offset of the first unconsumed byte.
   * Bytes that the current state needs more of are left unconsumed (held until more arrive),
   * except chunk payloads, which are copied out as they complete. Each state returns when it
   * lacks bytes; a zero-length body completes at once.
   */
  parse(b, pos, end) {
    for (;;) {
      switch (this.state) {
        case READ_HEAD: {
          const i = b.indexOf('\r\n\r\n', Math.max(pos, this.headScanFrom), 'latin1');
          if (i < 0 || i >= end) {
            this.headScanFrom = Math.max(pos, end - 3);
            return pos;
          }
          this.parseHead(b.latin1Slice(pos, i));
          pos = i + 4;
          this.headScanFrom = 0;
          break;
        }
        case READ_LENGTH_BODY: {
          if (end - pos < this.remaining) return pos;
          const body = b.utf8Slice(pos, pos + this.remaining);
          this.complete(body);
          // Nothing is outstanding now: any further bytes were not asked for and are dropped.
          return end;
        }
        case READ_CHUNK_SIZE:
        case READ_TRAILERS: {
          const i = b.indexOf('\r\n', pos, 'latin1');
          if (i < 0 || i >= end) return pos;
          const line = b.latin1Slice(pos, i);
          pos = i + 2;
          if (this.state === READ_TRAILERS) {
            if (line !== '') break;
            this.complete(Buffer.concat(this.chunks).toString('utf8'));
            return end;
          }
          const size = parseInt(line, 16); // stops at a ';' chunk extension
          if (!(size >= 0)) throw new RuntimeApiError(`bad chunk size from runtime api: ${line}`);
          if (size === 0) {
            this.state = READ_TRAILERS;
          } else {
            this.remaining = size;
            this.state = READ_CHUNK_DATA;
          }
          break;
        }
        case READ_CHUNK_DATA: {
          if (end - pos < this.remaining + 2) return pos;
          this.chunks.push(Buffer.from(b.subarray(pos, pos + this.remaining)));
          pos += this.remaining + 2;
          this.state = READ_CHUNK_SIZE;
          break;
        }
        case READ_TO_EOF: {
          if (pos < end) this.chunks.push(Buffer.from(b.subarray(pos, end)));
          return end;
        }
      }
    }
  }

  parseHead(head) {
    const lines = head.split('\r\n');
    const statusLine = lines[0];
    const m = /^HTTP\/1\.(\d) (\d{3})/.exec(statusLine);
    if (m === null) throw new RuntimeApiError(`bad status line from runtime api: ${statusLine}`);
    const status = Number(m[2]);
    if (status >= 100 && status < 200) return; // interim response: the real one follows
    const headers = {};
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k];
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const prior = headers[name];
      headers[name] = prior === undefined ? value : `${prior}, ${value}`;
    }
    this.status = status;
    this.headers = headers;
    const connection = headers.connection;
    this.closeAfter =
      m[1] === '0'
        ? connection === undefined || connection.toLowerCase() !== 'keep-alive'
        : connection !== undefined && connection.toLowerCase() === 'close';
    const te = headers['transfer-encoding'];
    if (te !== undefined && te.toLowerCase().endsWith('chunked')) {
      this.chunks = [];
      this.state = READ_CHUNK_SIZE;
    } else if (headers['content-length'] !== undefined) {
      this.remaining = Number(headers['content-length']);
      if (!Number.isSafeInteger(this.remaining) || this.remaining < 0) {
        throw new RuntimeApiError(`bad content-length from runtime api: ${headers['content-length']}`);
      }
      this.state = READ_LENGTH_BODY;
    } else if (status === 204 || status === 304) {
      this.remaining = 0;
      this.state = READ_LENGTH_BODY;
    } else {
      this.chunks = [];
      this.closeAfter = true;
      this.state = READ_TO_EOF;
    }
  }

  complete(body) {
    const p = this.pending;
    const res = { status: this.status, headers: this.headers, body };
    const closeAfter = this.closeAfter;
    this.pending = null;
    this.resetReader();
    if (closeAfter) {
      const socket = this.socket;
      this.socket = null;
      if (socket !== null) socket.destroy();
    } else {
      this.socket.unref();
    }
    if (p !== null) p.resolve(res);
  }

  async nextInvocation() {
    const res = await this.request(
      `GET ${RUNTIME_PATH}/invocation/next HTTP/1.1\r\nHost: ${this.hostHeader}\r\nConnection: keep-alive\r\n\r\n`,
    );
    if (res.status !== 200) {
      throw new Error(`GET /runtime/invocation/next returned ${res.status}: ${res.body.slice(0, 512)}`);
    }
    return { bodyJson: res.body, headers: res.headers };
  }

  async postInvocationResponse(response, id) {
    await this.postSerializedResponse(trySerializeResponse(response), id);
  }

  async postSerializedResponse(json, id) {
    await this.post(
      `/invocation/${encodeURIComponent(id)}/response`,
      json,
      'Content-Type: application/json\r\n',
    );
  }

  async postInvocationError(error, id) {
    await this.postError(`/invocation/${encodeURIComponent(id)}/error`, error);
  }

  async postInitError(error) {
    await this.postError('/init/error', error);
  }

  async postError(urlPath, error) {
    const response = toRapidResponse(error);
    const json = trySerializeResponse(response);
    // A header value is a line of Latin-1 text: line breaks become spaces and characters that
    // cannot be sent (controls, beyond U+00FF) become '?'.
    const errorType = String(response.errorType || 'Unhandled')
      .replace(/[\r\n]/g, ' ')
      .replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');
    let headerLines = `Content-Type: application/json\r\n${ERROR_TYPE_HEADER}: ${errorType}\r\n`;
    const cause = xrayCause(error);
    if (cause && Buffer.byteLength(cause) < MAX_XRAY_CAUSE_BYTES && /^[\x20-\x7e]*$/.test(cause)) {
      headerLines += `${XRAY_CAUSE_HEADER}: ${cause}\r\n`;
    }
    await this.post(urlPath, json, headerLines);
  }

  /** POSTs the JSON text `json` with the given header lines ("Name: value\r\n" each). */
  async post(urlPath, json, headerLines) {
    const head =
      `POST ${RUNTIME_PATH}${urlPath} HTTP/1.1\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
      `${headerLines}Host: ${this.hostHeader}\r\nConnection: keep-alive\r\n\r\n`;
    // One write of one string (UTF-8) in the usual case; a head with Latin-1 text goes as bytes.
    const data = NOT_ASCII.test(head)
      ? Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(json, 'utf8')])
      : head + json;
    const res = await this.request(data);
    if (res.status === 202) return;
    // 413: response too large; the platform fails the invoke itself, so carry on. Other 4xx
    // (unknown or already-answered request id) are reported and skipped; 5xx means the
    // environment is broken and is thrown, which ends the process.
    const text = res.body.slice(0, 512);
    if (res.status >= 400 && res.status < 500) {
      writeFully(2, `nimbus runtime: POST ${urlPath} returned ${res.status}: ${text}\n`);
      return;
    }
    throw new Error(`POST ${urlPath} returned ${res.status}: ${text}`);
  }
}

function trySerializeResponse(body) {
  try {
    return JSON.stringify(body === undefined ? null : body);
  } catch (_err) {
    throw new Error('Unable to stringify response body');
  }
}

function fatal(err) {
  writeFully(2, `nimbus runtime: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Handler loading (RIC UserFunction.js).

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

function moduleRootAndHandler(fullHandlerString) {
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  return [moduleRoot, handlerString];
}

function splitHandlerString(handler) {
  const match = handler.match(FUNCTION_EXPR);
  if (!match || match.length !== 3) throw new MalformedHandlerName('Bad handler');
  return [match[1], match[2]];
}

function resolveHandler(object, nestedProperty) {
  return nestedProperty.split('.').reduce((nested, key) => nested && nested[key], object);
}

function tryRequireFile(file, extension) {
  const p = file + (extension || '');
  return existsSync(p) ? require(p) : undefined;
}

async function tryAwaitImport(file, extension) {
  const p = file + (extension || '');
  return existsSync(p) ? await import(pathToFileURL(p).href) : undefined;
}

function hasFolderPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, '/package.json');
  if (existsSync(pj)) {
    try {
      const pkg = JSON.parse(readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(
        `${pj} cannot be read, it will be ignored for ES module detection purposes.`,
        e,
      );
      return false;
    }
  }
  if (folder === '/') return false;
  return hasFolderPackageJsonTypeModule(path.resolve(folder, '..'));
}

async function tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;

  const pjHasModule = hasFolderPackageJsonTypeModule(path.resolve(path.dirname(lambdaStylePath)));
  if (!pjHasModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await tryAwaitImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;

  // require() resolves relative to this file, not the task root: resolve explicitly.
  const nodeStylePath = require.resolve(module, { paths: [appRoot, moduleRoot] });
  return require(nodeStylePath);
}

async function loadUserApp(appRoot, moduleRoot, module) {
  try {
    return await tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e.code !== undefined && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
}

async function loadHandler(appRoot, fullHandlerString) {
  if (fullHandlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const [moduleRoot, moduleAndHandler] = moduleRootAndHandler(fullHandlerString);
  const [module, handlerPath] = splitHandlerString(moduleAndHandler);
  const userApp = await loadUserApp(appRoot, moduleRoot, module);
  const handlerFunc = resolveHandler(userApp, handlerPath);
  if (!handlerFunc) {
    throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  }
  if (typeof handlerFunc !== 'function') {
    throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  }
  return handlerFunc;
}

function isAsyncFunction(handler) {
  try {
    return handler?.constructor?.name === 'AsyncFunction';
  } catch (_e) {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Invoke loop (RIC Runtime.js, CallbackContext.js, InvokeContext.js, BeforeExitListener.js).

const noopListener = () => {};
let beforeExitListener = noopListener;

function buildCallbackContext(client, id, scheduleNext) {
  const postError = (err) => {
    logError('Invoke Error', err);
    client.postInvocationError(err, id).then(scheduleNext, fatal);
  };

  let isCompleteInvoked = false;
  const complete = (result) => {
    if (isCompleteInvoked) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    isCompleteInvoked = true;
    let serialized;
    try {
      serialized = trySerializeResponse(result);
    } catch (err) {
      postError(err);
      return;
    }
    client.postSerializedResponse(serialized, id).then(scheduleNext, fatal);
  };

  let waitForEmptyEventLoop = true;

  const callback = (err, result) => {
    beforeExitListener = noopListener;
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      beforeExitListener = () => setImmediate(() => complete(result));
    }
  };

  const done = (err, result) => {
    beforeExitListener = noopListener;
    if (err !== undefined && err !== null) postError(err);
    else complete(result);
  };

  let finished = false;
  const onlyFirstCall =
    (fn) =>
    (...args) => {
      if (!finished) {
        fn(...args);
        finished = true;
      }
    };

  const callbackContext = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: onlyFirstCall((result) => done(null, result)),
    fail: onlyFirstCall((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
    done: onlyFirstCall(done),
  };
  const markCompleted = () => {
    isCompleteInvoked = true;
  };
  return [onlyFirstCall(callback), callbackContext, markCompleted];
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function attachEnvironmentData(callbackContext, headers) {
  const traceId = headers['lambda-runtime-trace-id'];
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  else delete process.env._X_AMZN_TRACE_ID;
  const deadline = headers['lambda-runtime-deadline-ms'];
  return Object.assign(
    callbackContext,
    {
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    },
    {
      clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: headers['lambda-runtime-aws-request-id'],
      tenantId: headers['lambda-runtime-aws-tenant-id'],
      getRemainingTimeInMillis: () => deadline - Date.now(),
    },
  );
}

function isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

class Runtime {
  constructor(client, handler, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.isAsync = isAsyncFunction(handler);
    this.errorCallbacks = errorCallbacks;
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().then(
        () => {},
        (err) => {
          console.log(`Unexpected Top Level Error: ${err.toString()}`);
          this.errorCallbacks.uncaughtException(err);
        },
      );
    });
  }

  async handleOnce() {
    let next;
    try {
      next = await this.client.nextInvocation();
    } catch (err) {
      fatal(err);
    }
    const { bodyJson, headers } = next;
    const invokeId = headers['lambda-runtime-aws-request-id'];
    if (!invokeId) fatal(new Error('invocation id is missing or invalid'));
    setCurrentRequestId(invokeId);

    const scheduleNext = () => this.scheduleIteration();
    const [callback, callbackContext, markCompleted] = buildCallbackContext(
      this.client,
      invokeId,
      scheduleNext,
    );

    try {
      this.setErrorCallbacks(invokeId);
      this.setDefaultExitListener(invokeId, markCompleted);
      const result = this.handler(
        JSON.parse(bodyJson),
        attachEnvironmentData(callbackContext, headers),
        callback,
      );
      if (isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  setErrorCallbacks(invokeId) {
    this.errorCallbacks.uncaughtException = (error) => {
      this.client.postInvocationError(error, invokeId).then(() => process.exit(129), fatal);
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      this.client.postInvocationError(error, invokeId).then(() => process.exit(128), fatal);
    };
  }

  /**
   * Used when the loop drains without the callback having been called: an async handler whose
   * promise never settled fails with Runtime.NodeJsExit; a sync handler succeeds with null.
   */
  setDefaultExitListener(invokeId, markCompleted) {
    beforeExitListener = () => {
      markCompleted();
      if (this.isAsync) {
        const error = new NodeJsExit();
        logError('Invoke Error', error);
        this.client.postInvocationError(error, invokeId).then(() => this.scheduleIteration(), fatal);
      } else {
        this.client.postInvocationResponse(null, invokeId).then(() => this.scheduleIteration(), fatal);
      }
    };
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * A stem cell (a pre-started environment, docs/decisions/0006-stem-cells.md) starts with
 * _NIMBUS_SPECIALIZATION_FD set and no function: it blocks on that pipe until the daemon has
 * mounted a function's code and layers and writes {"env": {...}}, the whole environment the
 * runtime would have been started with. EOF without a payload: the cell is being discarded.
 */
function specialize(fd, readyFd) {
  // Closing the readiness descriptor tells the daemon this cell has loaded.
  if (readyFd !== undefined) closeSync(Number(readyFd));
  const payload = readFileSync(fd);
  closeSync(fd);
  if (payload.length === 0) process.exit(0);
  const { env } = JSON.parse(payload);
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, env);
  // The cwd was the empty directory the code is now mounted over.
  process.chdir(process.env.LAMBDA_TASK_ROOT || '/var/task');
  // require() reads NODE_PATH once, at start-up.
  require('node:module')._initPaths();
}

async function main() {
  const specializationFd = process.env._NIMBUS_SPECIALIZATION_FD;
  if (specializationFd !== undefined) {
    specialize(Number(specializationFd), process.env._NIMBUS_READY_FD);
  }
  registerLayerHooks();
  logFormatIsJson = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  patchConsole();
  const address = process.env.AWS_LAMBDA_RUNTIME_API;
  const handlerString = process.argv[2] || process.env._HANDLER;
  if (!address || !handlerString) {
    writeFully(2, 'nimbus runtime: AWS_LAMBDA_RUNTIME_API and _HANDLER must be set\n');
    process.exit(2);
  }
  const client = new RuntimeApiClient(address);

  const errorCallbacks = {
    uncaughtException: (error) => {
      client.postInitError(error).then(() => process.exit(129), fatal);
    },
    unhandledRejection: (error) => {
      client.postInitError(error).then(() => process.exit(128), fatal);
    },
  };

  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  beforeExitListener = noopListener;
  process.on('beforeExit', () => beforeExitListener());

  let handlerFunc;
  try {
    handlerFunc = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), handlerString);
  } catch (error) {
    // AWS reaches this through the process-level handler of the rejected top-level await.
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
    return;
  }
  new Runtime(client, handlerFunc, errorCallbacks).scheduleIteration();
}

await main();
