// Java (java17) and Ruby (ruby3.x) functions through @aws-sdk/client-lambda: results,
// context object and environment, logs in the tail (function output between START and
// END), handler errors, init errors, timeouts, warm reuse, java21 refused clearly, and
// the cold start of no-op functions (reported as a diagnostic).
//
// The Java fixtures (tests/fixtures/functions/java/hello) are compiled here with javac
// against Nimbus's handler API jar: <dir of NIMBUS_BIN>/runtimes/java/nimbus-lambda-java-core.jar,
// the one the build puts in the daemon's runtime directory.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, NIMBUS_BIN, FIXTURES, REGION } from '../lib/nimbus.mjs';
import { zipDir, zipFixture } from '../lib/zip.mjs';
import { createFunction, createFunctions, invoke, checkPlatformLines, functionArn, expectServiceError, UUID_RE, LOG_STREAM_RE } from '../lib/lambda.mjs';

const API_JAR = path.join(path.dirname(NIMBUS_BIN), 'runtimes', 'java', 'nimbus-lambda-java-core.jar');

function skipReason() {
  if (SKIP_NO_BINARY) return SKIP_NO_BINARY;
  if (!fs.existsSync(API_JAR)) return `Java API jar not found at ${API_JAR} (build the nimbus target, which builds the runtime directory)`;
  try {
    execFileSync('javac', ['-version'], { stdio: 'ignore' });
  } catch {
    return 'javac not found (tools/deps.sh installs openjdk-17-jdk-headless)';
  }
  if (!fs.existsSync('/usr/bin/ruby')) return '/usr/bin/ruby not found (tools/deps.sh installs ruby)';
  return false;
}

// Compiles the Java fixture (classes at the package root, as a Lambda zip has them).
function buildJavaZip() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-java-'));
  try {
    const src = path.join(FIXTURES, 'functions', 'java', 'hello', 'example');
    const sources = fs.readdirSync(src).filter((f) => f.endsWith('.java')).map((f) => path.join(src, f));
    execFileSync('javac', ['--release', '17', '-cp', API_JAR, '-d', tmp, ...sources], { stdio: ['ignore', 'ignore', 'pipe'] });
    return zipDir(tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

describe('java17 and ruby3.x runtimes (SDK)', { skip: skipReason() }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  const fns = {};

  before(async () => {
    const lambda = box.nimbus.lambda();
    const jar = buildJavaZip();
    const rb = zipFixture('functions', 'ruby', 'echo');
    const defs = {
      javaHello: { zip: jar, runtime: 'java17', handler: 'example.Hello', MemorySize: 256, Environment: { Variables: { E2E_X: 'j' } } },
      javaHelloMethod: { zip: jar, runtime: 'java17', handler: 'example.Hello::handleRequest', MemorySize: 256 },
      javaFail: { zip: jar, runtime: 'java17', handler: 'example.Fail' },
      javaSleep: { zip: jar, runtime: 'java17', handler: 'example.Sleep::handle', Timeout: 1 },
      javaNoClass: { zip: jar, runtime: 'java17', handler: 'example.Nope' },
      javaNoMethod: { zip: jar, runtime: 'java17', handler: 'example.Hello::nope' },
      javaBadInit: { zip: jar, runtime: 'java17', handler: 'example.BadInit' },
      rubyEcho: { zip: rb, runtime: 'ruby3.3', handler: 'function.handler', Environment: { Variables: { E2E_X: 'r' } } },
      rubyFail: { zip: rb, runtime: 'ruby3.3', handler: 'function.fail' },
      rubySleep: { zip: rb, runtime: 'ruby3.3', handler: 'function.sleep_for', Timeout: 1 },
      rubyClass: { zip: rb, runtime: 'ruby3.2', handler: 'function.Shop::Orders.total' },
      rubyMissing: { zip: rb, runtime: 'ruby3.3', handler: 'function.nope' },
      rubyLoadError: { zip: zipFixture('functions', 'ruby', 'load_error'), runtime: 'ruby3.3', handler: 'function.handler' },
    };
    await createFunctions(lambda, defs, fns);
  }, { timeout: 180000 });

  it('java: RequestHandler result, context object, environment, logs between START and END', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.javaHello, { marker: 'jm1', nested: { a: [1, 2.5, null] } }, {
      ClientContext: Buffer.from(JSON.stringify({ custom: { tenant: 'blue' }, env: {}, client: {} })).toString('base64'),
    });
    assert.equal(r.status, 200);
    assert.equal(r.functionError, undefined, r.text);
    const j = r.json;
    assert.deepEqual(j.event, { marker: 'jm1', nested: { a: [1, 2.5, null] } });
    assert.match(j.requestId, UUID_RE);
    assert.equal(r.requestId, j.requestId);
    assert.equal(j.functionName, fns.javaHello);
    assert.equal(j.functionVersion, '$LATEST');
    assert.equal(j.invokedFunctionArn, functionArn(fns.javaHello));
    assert.equal(j.memoryLimitInMB, 256, 'getMemoryLimitInMB() is an int');
    assert.equal(j.logGroupName, `/aws/lambda/${fns.javaHello}`);
    assert.match(j.logStreamName, LOG_STREAM_RE);
    assert.ok(j.remainingMs > 0 && j.remainingMs <= 3000, `remaining ${j.remainingMs}`);
    assert.deepEqual(j.clientContextCustom, { tenant: 'blue' });
    assert.equal(j.cwd, '/var/task');
    assert.equal(j.javaVersion, '17');
    // -XX:MaxHeapSize is 85 % of MemorySize (the JVM cannot see the cgroup limit).
    assert.ok(j.maxHeapMB >= 200 && j.maxHeapMB <= 218, `max heap ${j.maxHeapMB} MB for 256 MB`);
    assert.deepEqual(j.env, {
      AWS_EXECUTION_ENV: 'AWS_Lambda_java17', AWS_LAMBDA_FUNCTION_NAME: fns.javaHello,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256', _HANDLER: 'example.Hello', LAMBDA_TASK_ROOT: '/var/task',
      AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001', E2E_X: 'j',
    });
    const rep = checkPlatformLines(r.tail, j.requestId, { memorySize: 256, coldStart: true });
    const between = rep.between.join('\n');
    assert.match(between, new RegExp(`^java-stdout ${j.requestId} jm1$`, 'm'));
    assert.match(between, /^java-stderr jm1$/m);
    assert.match(between, /^java-logger jm1$/m);
    // Warm: same JVM, static state kept, no Init Duration.
    const w = await invoke(lambda, fns.javaHello, { marker: 'jm2' });
    assert.equal(w.json.count, 2);
    assert.equal(w.json.logStreamName, j.logStreamName);
    checkPlatformLines(w.tail, w.json.requestId, { coldStart: false });
  }));

  it('java: Class::method handler', t(async () => {
    const r = await invoke(box.nimbus.lambda(), fns.javaHelloMethod, { marker: 'x' });
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.json.env._HANDLER, 'example.Hello::handleRequest');
  }));

  it('java: handler exception → errorType = exception class, stackTrace of the user frames', t(async () => {
    const r = await invoke(box.nimbus.lambda(), fns.javaFail, { why: 'disk' });
    assert.equal(r.status, 200);
    assert.equal(r.functionError, 'Unhandled');
    assert.deepEqual(Object.keys(r.json), ['errorMessage', 'errorType', 'stackTrace'], r.text);
    assert.equal(r.json.errorMessage, 'java fail disk');
    assert.equal(r.json.errorType, 'java.lang.IllegalArgumentException');
    assert.match(r.json.stackTrace[0], /^example\.Fail\.handleRequest\(Fail\.java:\d+\)$/);
    assert.ok(r.json.stackTrace.every((f) => !f.startsWith('dev.nimbus.')), r.text);
    assert.match(r.tail, /^java fail disk: java\.lang\.IllegalArgumentException$/m);
  }));

  it('java: class not found and method not found are reported as Lambda reports them', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.javaNoClass, {});
    assert.equal(r.functionError, 'Unhandled');
    assert.deepEqual(r.json, { errorMessage: 'Class not found: example.Nope', errorType: 'java.lang.ClassNotFoundException' });
    const m = await invoke(lambda, fns.javaNoMethod, {});
    assert.equal(m.functionError, 'Unhandled');
    assert.deepEqual(m.json, { errorMessage: 'No public method named nope with appropriate method signature found on class example.Hello' });
  }));

  it('java: a failing static initializer is an init error', t(async () => {
    const r = await invoke(box.nimbus.lambda(), fns.javaBadInit, {});
    assert.equal(r.functionError, 'Unhandled');
    assert.deepEqual(r.json, { errorMessage: 'Error loading class example.BadInit', errorType: 'java.lang.ExceptionInInitializerError' });
  }));

  it('java: Timeout 1 → Sandbox.Timedout, REPORT Status: timeout', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.javaSleep, { seconds: 5 });
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.json.errorType, 'Sandbox.Timedout', r.text);
    assert.equal(r.json.errorMessage, `RequestId: ${r.requestId} Error: Task timed out after 1.00 seconds`);
    const rep = checkPlatformLines(r.tail, r.requestId, { status: /^Status: timeout$/ });
    assert.equal(rep.duration, 1000);
  }));

  it('java21 is refused with a clear message (the host JDK 17 cannot load its class files)', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('java21');
    await createFunction(lambda, { name, zip: buildJavaZip(), runtime: 'java21', handler: 'example.Noop' });
    await expectServiceError(() => invoke(lambda, name, {}), {
      name: 'ServiceException', status: 500, messageMatch: /java21 is not supported.*OpenJDK 17/,
    });
  }));

  it('ruby: result, context object, environment, puts/stderr/Logger between START and END; warm reuse', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.rubyEcho, { marker: 'rm1', list: [1, 'two', null] });
    assert.equal(r.status, 200);
    assert.equal(r.functionError, undefined, r.text);
    const j = r.json;
    assert.deepEqual(j.event, { marker: 'rm1', list: [1, 'two', null] });
    assert.equal(r.requestId, j.requestId);
    assert.equal(j.functionName, fns.rubyEcho);
    assert.equal(j.functionVersion, '$LATEST');
    assert.equal(j.invokedFunctionArn, functionArn(fns.rubyEcho));
    assert.equal(j.memoryLimitInMB, '128', 'memory_limit_in_mb is a string');
    assert.equal(j.logGroupName, `/aws/lambda/${fns.rubyEcho}`);
    assert.match(j.logStreamName, LOG_STREAM_RE);
    assert.ok(j.remainingMs > 0 && j.remainingMs <= 3000, `remaining ${j.remainingMs}`);
    assert.equal(j.clientContext, null);
    assert.equal(j.cwd, '/var/task');
    assert.equal(j.env.AWS_EXECUTION_ENV, 'AWS_Lambda_ruby3.3');
    assert.equal(j.env._HANDLER, 'function.handler');
    assert.equal(j.env.E2E_X, 'r');
    assert.match(j.env.GEM_PATH, /^\/var\/task\/vendor\/bundle\/ruby\//);
    const rep = checkPlatformLines(r.tail, j.requestId, { memorySize: 128, coldStart: true });
    const between = rep.between.join('\n');
    assert.match(between, new RegExp(`^ruby-puts ${j.requestId} rm1$`, 'm'));
    assert.match(between, /^ruby-stderr rm1$/m);
    assert.match(between, new RegExp(`^I, \\[\\S+ #\\d+\\]  INFO ${j.requestId} -- : ruby-logger rm1$`, 'm'));
    const w = await invoke(lambda, fns.rubyEcho, { marker: 'rm2' });
    assert.equal(w.json.count, 2);
    checkPlatformLines(w.tail, w.json.requestId, { coldStart: false });
  }));

  it('ruby: Module::Class.method handler (ruby3.2)', t(async () => {
    const r = await invoke(box.nimbus.lambda(), fns.rubyClass, { items: [{ price: 3, qty: 2 }, { price: 1, qty: 4 }] });
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.text, '10');
  }));

  it('ruby: handler error → Function<Class>, stackTrace; missing method → Function<NoMethodError>', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.rubyFail, { why: 'disk' });
    assert.equal(r.functionError, 'Unhandled');
    assert.deepEqual(Object.keys(r.json), ['errorMessage', 'errorType', 'stackTrace'], r.text);
    assert.equal(r.json.errorMessage, 'ruby fail disk');
    assert.equal(r.json.errorType, 'Function<RubyFailure>');
    assert.match(r.json.stackTrace[0], /^\/var\/task\/function\.rb:\d+:in `fail'$/);
    assert.match(r.tail, /^Error raised from handler method$/m);
    const m = await invoke(lambda, fns.rubyMissing, {});
    assert.equal(m.functionError, 'Unhandled');
    assert.equal(m.json.errorType, 'Function<NoMethodError>', m.text);
    assert.match(m.json.errorMessage, /undefined method `nope'/);
  }));

  it('ruby: a LoadError while loading the handler file is an init error (Init<LoadError>)', t(async () => {
    const r = await invoke(box.nimbus.lambda(), fns.rubyLoadError, {});
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.json.errorType, 'Init<LoadError>', r.text);
    assert.match(r.json.errorMessage, /cannot load such file -- gem_that_is_not_installed/);
  }));

  it('ruby: Timeout 1 → Sandbox.Timedout, REPORT Status: timeout', t(async () => {
    const r = await invoke(box.nimbus.lambda(), fns.rubySleep, { seconds: 5 });
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.json.errorType, 'Sandbox.Timedout', r.text);
    assert.equal(r.json.errorMessage, `RequestId: ${r.requestId} Error: Task timed out after 1.00 seconds`);
    checkPlatformLines(r.tail, r.requestId, { status: /^Status: timeout$/ });
  }));

  it('cold start of no-op functions (first invoke wall time and Init Duration)', t(async (tc) => {
    const lambda = box.nimbus.lambda();
    const jar = buildJavaZip();
    const rb = zipFixture('functions', 'ruby', 'echo');
    const cases = [
      ['java17 RequestStreamHandler, 128 MB', { zip: jar, runtime: 'java17', handler: 'example.NoopStream', MemorySize: 128 }],
      ['java17 RequestHandler (Jackson), 128 MB', { zip: jar, runtime: 'java17', handler: 'example.Noop', MemorySize: 128 }],
      ['java17 RequestHandler (Jackson), 1024 MB', { zip: jar, runtime: 'java17', handler: 'example.Noop', MemorySize: 1024 }],
      ['ruby3.3, 128 MB', { zip: rb, runtime: 'ruby3.3', handler: 'function.noop', MemorySize: 128 }],
    ];
    for (const [label, d] of cases) {
      const samples = [];
      for (let i = 0; i < 3; i++) {
        const name = uniqueName('cold');
        const { zip, runtime, handler, ...rest } = d;
        // A generous timeout: this measures, it does not race the default 3 s on a loaded host.
        await createFunction(lambda, { name, zip, runtime, handler, Timeout: 30, ...rest });
        const started = performance.now();
        const r = await invoke(lambda, name, {});
        const wall = performance.now() - started;
        assert.equal(r.functionError, undefined, r.text);
        assert.equal(r.text, '"ok"');
        const rep = checkPlatformLines(r.tail, r.requestId, { coldStart: true });
        samples.push({ wall, init: rep.initDuration, duration: rep.duration });
      }
      const med = (k) => samples.map((s) => s[k]).sort((a, b) => a - b)[1];
      const line = `${label}: first invoke ${med('wall').toFixed(0)} ms wall, Init Duration ${med('init').toFixed(0)} ms, Duration ${med('duration').toFixed(1)} ms (median of 3)`;
      tc.diagnostic(line);
      console.log(`# cold start ${line}`);
      // A loose bound: catches a runtime that hangs or re-initialises, not a slow machine.
      assert.ok(med('wall') < 15000, line);
    }
  }));
});
