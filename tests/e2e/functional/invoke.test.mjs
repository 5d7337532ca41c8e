// Invoke through @aws-sdk/client-lambda: results, headers, tail logs and
// START/END/REPORT lines, client context, DryRun, handler conventions of each
// runtime, outcomes (handler exception, timeout, crash, init errors), warm
// reuse and separate environments for concurrent invokes.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, REGION, ACCOUNT } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, createFunctions, invoke, checkPlatformLines, functionArn, UUID_RE, LOG_STREAM_RE } from '../lib/lambda.mjs';


describe('invoke (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  const fns = {};

  before(async () => {
    const lambda = box.nimbus.lambda();
    const py = zipFixture('functions', 'python', 'echo');
    const defs = {
      echo: { zip: py, runtime: 'python3.11', handler: 'app.handler', Environment: { Variables: { E2E_X: 'y' } } },
      pyfail: { zip: py, runtime: 'python3.11', handler: 'app.fail' },
      pysleep: { zip: py, runtime: 'python3.11', handler: 'app.sleep', Timeout: 1 },
      pyslow: { zip: py, runtime: 'python3.11', handler: 'app.sleep', Timeout: 10 },
      pycrash: { zip: py, runtime: 'python3.11', handler: 'app.crash' },
      pybig: { zip: py, runtime: 'python3.11', handler: 'app.big', MemorySize: 512 },
      pymissing: { zip: py, runtime: 'python3.11', handler: 'app.nope' },
      pyimport: { zip: zipFixture('functions', 'python', 'import_error'), runtime: 'python3.11', handler: 'app.handler' },
      pynomodule: { zip: py, runtime: 'python3.11', handler: 'missing_module.handler' },
      pybadname: { zip: py, runtime: 'python3.11', handler: 'nodot' },
      pynested: { zip: zipFixture('functions', 'python', 'nested'), runtime: 'python3.11', handler: 'src/app.handler' },
      py312: { zip: py, runtime: 'python3.12', handler: 'app.handler' },
      nodeAsync: { zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.handler' },
      nodeFail: { zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.fail' },
      nodeMissing: { zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'index.nope' },
      nodeNoModule: { zip: zipFixture('functions', 'node', 'cjs-async'), runtime: 'nodejs20.x', handler: 'missing.handler' },
      nodeCallback: { zip: zipFixture('functions', 'node', 'cjs-callback'), runtime: 'nodejs20.x', handler: 'index.handler' },
      nodeCallbackFail: { zip: zipFixture('functions', 'node', 'cjs-callback'), runtime: 'nodejs20.x', handler: 'index.fail' },
      nodeMjs: { zip: zipFixture('functions', 'node', 'esm-mjs'), runtime: 'nodejs20.x', handler: 'index.handler' },
      nodeTypeModule: { zip: zipFixture('functions', 'node', 'esm-type-module'), runtime: 'nodejs20.x', handler: 'index.handler' },
      nodeNested: { zip: zipFixture('functions', 'node', 'nested'), runtime: 'nodejs20.x', handler: 'index.a.b' },
      bash: { zip: zipFixture('functions', 'provided', 'bash'), runtime: 'provided.al2023', handler: 'echo' },
      bashFail: { zip: zipFixture('functions', 'provided', 'bash'), runtime: 'provided.al2023', handler: 'fail' },
      provPy: { zip: zipFixture('functions', 'provided', 'python'), runtime: 'provided.al2', handler: 'handle' },
      providedNoBootstrap: { zip: zipFixture('functions', 'python', 'echo'), runtime: 'provided.al2023', handler: 'x' },
    };
    await createFunctions(lambda, defs, fns);
  }, { timeout: 180000 });

  it('python: result, context object, environment, X-Amz-Executed-Version, tail log with START/END/REPORT', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.echo, { marker: 'm1', nested: { a: [1, 2, 3] } });
    assert.equal(r.status, 200);
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.executedVersion, '$LATEST');
    const j = r.json;
    assert.deepEqual(j.event, { marker: 'm1', nested: { a: [1, 2, 3] } });
    assert.match(j.requestId, UUID_RE);
    assert.equal(r.requestId, j.requestId, 'x-amzn-RequestId must be the invocation request id');
    assert.equal(j.functionName, fns.echo);
    assert.equal(j.functionVersion, '$LATEST');
    assert.equal(j.invokedFunctionArn, functionArn(fns.echo));
    assert.equal(j.memoryLimitInMB, '128');
    assert.equal(j.logGroupName, `/aws/lambda/${fns.echo}`);
    assert.match(j.logStreamName, LOG_STREAM_RE);
    assert.ok(j.remainingMs > 0 && j.remainingMs <= 3000, `remaining ${j.remainingMs}`);
    assert.equal(j.clientContext, null);
    assert.equal(j.cwd, '/var/task');
    assert.deepEqual(j.customEnv, { E2E_X: 'y' });
    const env = j.env;
    assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, fns.echo);
    assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, '$LATEST');
    assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '128');
    assert.equal(env.AWS_LAMBDA_LOG_GROUP_NAME, `/aws/lambda/${fns.echo}`);
    assert.equal(env.AWS_LAMBDA_LOG_STREAM_NAME, j.logStreamName);
    assert.equal(env.AWS_LAMBDA_RUNTIME_API, '127.0.0.1:9001');
    assert.equal(env.AWS_REGION, REGION);
    assert.equal(env.AWS_DEFAULT_REGION, REGION);
    assert.equal(env.LAMBDA_TASK_ROOT, '/var/task');
    assert.equal(env._HANDLER, 'app.handler');
    assert.equal(env.TZ, ':UTC');
    assert.equal(env.AWS_LAMBDA_INITIALIZATION_TYPE, 'on-demand');
    assert.match(env._X_AMZN_TRACE_ID ?? '', /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};/);

    // Tail log: base64, <= 4 KB, platform lines in order, function output between.
    assert.ok(r.tailBase64, 'no X-Amz-Log-Result with LogType Tail');
    assert.ok(Buffer.from(r.tailBase64, 'base64').length <= 4096);
    const rep = checkPlatformLines(r.tail, j.requestId, { memorySize: 128 });
    const between = rep.between.join('\n');
    assert.match(between, new RegExp(`echo-print ${j.requestId} m1`));
    assert.match(between, new RegExp(`^\\[INFO\\]\\t\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z\\t${j.requestId}\\techo-log m1$`, 'm'));
    assert.match(between, /echo-stderr m1/, 'stderr must be captured too');
  }));

  it('cold start REPORT has Init Duration; the warm one does not; a warm invoke reuses the environment', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('warm');
    await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler' });
    const a = await invoke(lambda, name, {});
    const b = await invoke(lambda, name, {});
    assert.equal(a.json.count, 1, 'first invoke of a fresh environment');
    assert.equal(b.json.count, 2, 'second sequential invoke must hit the same warm environment');
    assert.equal(a.json.pid, b.json.pid);
    assert.equal(a.json.logStreamName, b.json.logStreamName, 'same environment, same log stream');
    checkPlatformLines(a.tail, a.json.requestId, { coldStart: true });
    checkPlatformLines(b.tail, b.json.requestId, { coldStart: false });
    assert.notEqual(a.json.requestId, b.json.requestId);
  }));

  it('LogType None: no X-Amz-Log-Result', t(async () => {
    const lambda = box.nimbus.lambda();
    const res = await lambda.send(new InvokeCommand({ FunctionName: fns.echo, Payload: '{}', LogType: 'None' }));
    assert.equal(res.StatusCode, 200);
    assert.equal(res.LogResult, undefined);
  }));

  it('DryRun → 204 and the function does not run', t(async () => {
    const lambda = box.nimbus.lambda();
    const before = await invoke(lambda, fns.echo, {});
    const res = await lambda.send(new InvokeCommand({ FunctionName: fns.echo, InvocationType: 'DryRun', Payload: '{}' }));
    assert.equal(res.StatusCode, 204);
    assert.equal(res.FunctionError, undefined);
    const after = await invoke(lambda, fns.echo, {});
    if (after.json.pid === before.json.pid) assert.equal(after.json.count, before.json.count + 1, 'DryRun must not run the handler');
  }));

  it('client context round trip (X-Amz-Client-Context → context.client_context / clientContext)', t(async () => {
    const lambda = box.nimbus.lambda();
    const cc = { custom: { user: 'alice', n: 1 }, env: { platform: 'e2e' }, client: { installation_id: 'inst-1', app_title: 'nimbus-e2e' } };
    const ClientContext = Buffer.from(JSON.stringify(cc)).toString('base64');
    const py = await invoke(lambda, fns.echo, {}, { ClientContext });
    assert.equal(py.functionError, undefined, py.text);
    assert.deepEqual(py.json.clientContext.custom, cc.custom);
    assert.deepEqual(py.json.clientContext.env, cc.env);
    assert.equal(py.json.clientContext.client?.installation_id, 'inst-1');
    const node = await invoke(lambda, fns.nodeAsync, {}, { ClientContext });
    assert.equal(node.functionError, undefined, node.text);
    assert.deepEqual(node.json.clientContext.Custom ?? node.json.clientContext.custom, cc.custom);
    const prov = await invoke(lambda, fns.provPy, {}, { ClientContext });
    assert.deepEqual(JSON.parse(prov.json.clientContext), cc, 'Lambda-Runtime-Client-Context must carry the decoded JSON');
  }));

  it('python handler exception → 200, X-Amz-Function-Error Unhandled, AWS error JSON', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.pyfail, { marker: 'kaboom' });
    assert.equal(r.status, 200);
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.json.errorType, 'ValueError');
    assert.equal(r.json.errorMessage, 'boom kaboom');
    assert.ok(Array.isArray(r.json.stackTrace), r.text);
    assert.match(r.tail, /ValueError/);
    checkPlatformLines(r.tail, r.requestId);
  }));

  it('python nested module handler src/app.handler, python3.12 runtime string', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.pynested, { q: 1 });
    assert.equal(r.functionError, undefined, r.text);
    assert.deepEqual(r.json, { nested: true, module: 'src.app', event: { q: 1 } });
    const r2 = await invoke(lambda, fns.py312, { q: 2 });
    assert.equal(r2.functionError, undefined, r2.text);
    assert.deepEqual(r2.json.event, { q: 2 });
  }));

  it('python init errors: Runtime.ImportModuleError, Runtime.HandlerNotFound, Runtime.MalformedHandlerName', t(async () => {
    const lambda = box.nimbus.lambda();
    const imp = await invoke(lambda, fns.pyimport, {});
    assert.equal(imp.functionError, 'Unhandled');
    assert.equal(imp.json.errorType, 'Runtime.ImportModuleError', imp.text);
    assert.equal(imp.json.errorMessage, "Unable to import module 'app': No module named 'nimbus_e2e_module_that_does_not_exist'");
    const nomod = await invoke(lambda, fns.pynomodule, {});
    assert.equal(nomod.json.errorType, 'Runtime.ImportModuleError', nomod.text);
    assert.match(nomod.json.errorMessage, /^Unable to import module 'missing_module': No module named 'missing_module'/);
    const missing = await invoke(lambda, fns.pymissing, {});
    assert.equal(missing.functionError, 'Unhandled');
    assert.equal(missing.json.errorType, 'Runtime.HandlerNotFound', missing.text);
    assert.equal(missing.json.errorMessage, "Handler 'nope' missing on module 'app'");
    const bad = await invoke(lambda, fns.pybadname, {});
    assert.equal(bad.functionError, 'Unhandled');
    assert.equal(bad.json.errorType, 'Runtime.MalformedHandlerName', bad.text);
    // The init error is returned again on a later invoke (fresh init).
    const again = await invoke(lambda, fns.pyimport, {});
    assert.equal(again.json.errorType, 'Runtime.ImportModuleError');
  }));

  it('timeout (Timeout 1) → Sandbox.Timedout with AWS message; REPORT Status: timeout; next invoke is a fresh environment', t(async () => {
    const lambda = box.nimbus.lambda();
    const started = Date.now();
    const r = await invoke(lambda, fns.pysleep, {});
    const took = Date.now() - started;
    assert.equal(r.status, 200);
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.json.errorType, 'Sandbox.Timedout', r.text);
    assert.equal(r.json.errorMessage, `RequestId: ${r.requestId} Error: Task timed out after 1.00 seconds`);
    assert.ok(took >= 900 && took < 15000, `timeout invoke took ${took} ms`);
    assert.match(r.tail, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ${r.requestId} Task timed out after 1\\.00 seconds$`, 'm'));
    const rep = checkPlatformLines(r.tail, r.requestId, { status: /^Status: timeout$/ });
    assert.equal(rep.duration, 1000, `timeout REPORT Duration must be the timeout: ${rep.line}`);
    // The environment was destroyed: the next invoke is a cold start (and times out again).
    const r2 = await invoke(lambda, fns.pysleep, { seconds: 0 });
    assert.equal(r2.functionError, undefined, r2.text);
    checkPlatformLines(r2.tail, r2.requestId, { coldStart: true });
  }));

  it('runtime exits during the invoke → Runtime.ExitError "exit status 1"; recovers on the next invoke', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.pycrash, {});
    assert.equal(r.functionError, 'Unhandled');
    assert.equal(r.json.errorType, 'Runtime.ExitError', r.text);
    assert.equal(r.json.errorMessage, `RequestId: ${r.requestId} Error: Runtime exited with error: exit status 1`);
    assert.match(r.tail, /about to exit 1/);
    checkPlatformLines(r.tail, r.requestId, { status: /Status: error\tError Type: Runtime\.ExitError/ });
    const r2 = await invoke(lambda, fns.pycrash, {});
    assert.equal(r2.json.errorType, 'Runtime.ExitError', 'a crashed environment is replaced, not wedged');
    assert.notEqual(r2.requestId, r.requestId);
  }));

  it('response larger than 6 MB → Function.ResponseSizeTooLarge; just under is returned', t(async () => {
    const lambda = box.nimbus.lambda();
    const ok = await invoke(lambda, fns.pybig, { bytes: 6 * 1024 * 1024 - 1000 }, { LogType: 'None' });
    assert.equal(ok.functionError, undefined, ok.text.slice(0, 300));
    assert.equal(ok.raw.length, 6 * 1024 * 1024 - 1000 + 2);
    const big = await invoke(lambda, fns.pybig, { bytes: 7 * 1024 * 1024 }, { LogType: 'None' });
    assert.equal(big.functionError, 'Unhandled');
    assert.equal(big.json.errorType, 'Function.ResponseSizeTooLarge', big.text.slice(0, 300));
    assert.match(big.json.errorMessage, /^Response payload size \(\d+ bytes\) exceeded maximum allowed payload size \(6291556 bytes\)\.$/);
  }));

  it('node: CJS async, CJS callback, ESM .mjs, "type":"module" package, nested export', t(async () => {
    const lambda = box.nimbus.lambda();
    const a = await invoke(lambda, fns.nodeAsync, { marker: 'n1' });
    assert.equal(a.functionError, undefined, a.text);
    assert.equal(a.json.style, 'cjs-async');
    assert.deepEqual(a.json.event, { marker: 'n1' });
    assert.equal(a.json.functionName, fns.nodeAsync);
    assert.equal(a.json.functionVersion, '$LATEST');
    assert.equal(a.json.invokedFunctionArn, functionArn(fns.nodeAsync));
    assert.equal(a.json.memoryLimitInMB, '128');
    assert.equal(a.json.logGroupName, `/aws/lambda/${fns.nodeAsync}`);
    assert.match(a.json.logStreamName, LOG_STREAM_RE);
    assert.ok(a.json.remainingMs > 0 && a.json.remainingMs <= 3000);
    assert.equal(a.requestId, a.json.requestId);
    // console.log format: <ISO ts>\t<requestId>\tINFO\t<msg>
    assert.match(a.tail, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\t${a.json.requestId}\\tINFO\\tnode-log n1$`, 'm'));
    checkPlatformLines(a.tail, a.json.requestId);
    for (const [key, style] of [['nodeCallback', 'cjs-callback'], ['nodeMjs', 'esm-mjs'], ['nodeTypeModule', 'esm-type-module'], ['nodeNested', 'nested']]) {
      const r = await invoke(lambda, fns[key], { k: key });
      assert.equal(r.functionError, undefined, `${key}: ${r.text}`);
      assert.equal(r.json.style, style);
      assert.deepEqual(r.json.event, { k: key });
      assert.equal(r.json.requestId, r.requestId);
    }
    const tm = await invoke(lambda, fns.nodeTypeModule, {});
    assert.equal(tm.json.helper, 'imported');
  }));

  it('node errors: thrown Error, callback error, missing export (Runtime.HandlerNotFound), missing module (Runtime.ImportModuleError)', t(async () => {
    const lambda = box.nimbus.lambda();
    const f = await invoke(lambda, fns.nodeFail, { marker: 'x' });
    assert.equal(f.functionError, 'Unhandled');
    assert.equal(f.json.errorType, 'Error', f.text);
    assert.equal(f.json.errorMessage, 'node boom x');
    assert.ok(Array.isArray(f.json.trace), `node errors carry "trace": ${f.text}`);
    const cb = await invoke(lambda, fns.nodeCallbackFail, {});
    assert.equal(cb.functionError, 'Unhandled');
    assert.equal(cb.json.errorType, 'Error', cb.text);
    assert.equal(cb.json.errorMessage, 'callback boom');
    const m = await invoke(lambda, fns.nodeMissing, {});
    assert.equal(m.functionError, 'Unhandled');
    assert.equal(m.json.errorType, 'Runtime.HandlerNotFound', m.text);
    assert.equal(m.json.errorMessage, 'index.nope is undefined or not exported');
    const nm = await invoke(lambda, fns.nodeNoModule, {});
    assert.equal(nm.functionError, 'Unhandled');
    assert.equal(nm.json.errorType, 'Runtime.ImportModuleError', nm.text);
  }));

  it('provided: bash and python bootstraps speak the Runtime API; /error gives Unhandled; headers reach the runtime', t(async () => {
    const lambda = box.nimbus.lambda();
    const b = await invoke(lambda, fns.bash, { marker: 'sh' });
    assert.equal(b.functionError, undefined, `${b.text}\n${b.tail}`);
    assert.equal(b.json.runtime, 'provided-bash');
    assert.equal(b.json.handler, 'echo');
    assert.equal(b.json.requestId, b.requestId);
    assert.equal(b.json.taskRoot, '/var/task');
    assert.deepEqual(b.json.event, { marker: 'sh' });
    assert.equal(b.json.invokedFunctionArn, functionArn(fns.bash));
    const deadline = Number(b.json.deadlineMs);
    assert.ok(deadline > Date.now() - 60000 && deadline < Date.now() + 60000, `Lambda-Runtime-Deadline-Ms ${b.json.deadlineMs} is not epoch ms`);
    assert.match(b.tail, new RegExp(`bash-bootstrap handling ${b.requestId}`));
    checkPlatformLines(b.tail, b.requestId);
    const b2 = await invoke(lambda, fns.bash, {});
    assert.equal(b2.json.count, 2, 'provided runtimes stay warm too');
    const bf = await invoke(lambda, fns.bashFail, {});
    assert.equal(bf.functionError, 'Unhandled');
    assert.deepEqual(bf.json, { errorMessage: 'bash says no', errorType: 'BashError', stackTrace: [] });
    const p = await invoke(lambda, fns.provPy, { marker: 'py' });
    assert.equal(p.functionError, undefined, p.text);
    assert.equal(p.json.runtime, 'provided-python');
    assert.match(p.json.traceId ?? '', /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]/);
  }));

  it('provided without a bootstrap → a function error (Runtime.InvalidEntrypoint or Runtime.ExitError)', t(async () => {
    const lambda = box.nimbus.lambda();
    const r = await invoke(lambda, fns.providedNoBootstrap, {});
    assert.equal(r.functionError, 'Unhandled');
    assert.ok(['Runtime.InvalidEntrypoint', 'Runtime.ExitError'].includes(r.json?.errorType), r.text);
  }));

  it('concurrent invokes get separate environments', t(async () => {
    const lambda = box.nimbus.lambda();
    const start = Date.now();
    const rs = await Promise.all([1, 2, 3].map(() => invoke(lambda, fns.pyslow, { seconds: 1.5 })));
    const took = Date.now() - start;
    for (const r of rs) assert.equal(r.functionError, undefined, r.text);
    const streams = new Set(rs.map((r) => r.json.logStreamName));
    assert.equal(streams.size, 3, `concurrent invokes shared environments: ${[...streams]}`);
    // Each handler sleeps 1.5 s; serialised execution would take >= 4.5 s.
    assert.ok(took < 4400, `3 concurrent 1.5 s invokes took ${took} ms: they were not run in parallel`);
    // Afterwards the three environments are warm: a sequential invoke reuses one of them.
    const again = await invoke(lambda, fns.pyslow, { seconds: 0 });
    assert.ok(streams.has(again.json.logStreamName), 'a warm environment should have been reused');
  }));

  it('requests with the function ARN report the invoked ARN to the function', t(async () => {
    const lambda = box.nimbus.lambda();
    const arn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${fns.echo}`;
    const r = await invoke(lambda, arn, {});
    assert.equal(r.functionError, undefined, r.text);
    assert.equal(r.json.invokedFunctionArn, arn);
  }));
});
