// Metrics and metering (issue #7, scopes 2 and 3): after a function's invocations,
// GET /metrics (parsed with a Prometheus text-format parser) counts them per
// function, and the usage report (GET /nimbus/usage and `nimbus usage --json`)
// equals the sum of the REPORT lines' Billed Duration × memory, priced with the
// configured model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { useNimbus, withLogs, SKIP_NO_BINARY, RUN_ID, NIMBUS_BIN, runCommand, sleep } from '../lib/nimbus.mjs';
import { createFunction, invoke, rawRequest } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const APP = `def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
`;

// Every flush of the recorder (2 s) plus slack.
const FLUSH_WAIT_MS = 5000;

describe('metrics and metering', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('/metrics counts a function\'s invocations and errors, and the usage report equals the REPORT lines\' billed GB-seconds', t(async () => {
    const name = `${RUN_ID}-metered`;
    const memory = 256;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler', MemorySize: memory });
    let billed = 0;
    for (const fail of [false, false, true, false, true, false, false]) {
      const r = await invoke(box.nimbus.lambda(), name, { fail });
      assert.equal(Boolean(r.functionError), fail, r.text);
      const m = /Billed Duration: (\d+) ms/.exec(r.tail);
      assert.ok(m, `no REPORT line in the tail:\n${r.tail}`);
      billed += Number(m[1]);
    }

    const metrics = await rawRequest(box.nimbus.endpoint, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    const families = parsePrometheusTextFormat(metrics.text);
    const value = (family) => {
      const f = families.find((x) => x.name === family);
      assert.ok(f, `no ${family} family in /metrics`);
      const sample = f.metrics.find((s) => s.labels?.function === name);
      assert.ok(sample, `no ${family}{function="${name}"}`);
      return Number(sample.value ?? sample.count);
    };
    assert.equal(value('nimbus_function_invocations_total'), 7);
    assert.equal(value('nimbus_function_errors_total'), 2);
    assert.equal(value('nimbus_function_cold_starts_total'), 1);

    await sleep(FLUSH_WAIT_MS);
    const report = await rawRequest(box.nimbus.endpoint, 'GET', `/nimbus/usage?function=${encodeURIComponent(name)}`);
    assert.equal(report.status, 200, report.text);
    const usage = JSON.parse(report.text);
    assert.equal(usage.Functions.length, 1);
    const row = usage.Functions[0];
    assert.equal(row.FunctionName, name);
    assert.equal(row.Requests, 7);
    assert.equal(row.BilledDurationMs, billed);
    const gbSeconds = (billed / 1000) * (memory / 1024);
    assert.ok(Math.abs(row.GBSeconds - gbSeconds) < 1e-9, `${row.GBSeconds} vs ${gbSeconds}`);
    const cost = gbSeconds * usage.PriceModel.PerGBSecond + 7 * usage.PriceModel.PerMillionRequests / 1e6;
    assert.ok(Math.abs(row.Cost - cost) < 1e-12, `${row.Cost} vs ${cost}`);
    assert.equal(usage.PriceModel.PerGBSecond, 0.0000166667);

    const cli = await runCommand(NIMBUS_BIN, ['--endpoint', box.nimbus.endpoint, 'usage', '--function', name, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).Functions[0].BilledDurationMs, billed);
    const table = await runCommand(NIMBUS_BIN, ['--endpoint', box.nimbus.endpoint, 'usage', '--function', name]);
    assert.match(table.stdout, new RegExp(`${name}\\s+7\\s+${billed}\\s`));
  }));

  it('/metrics reports each queue\'s messages by state and the pending async events', t(async () => {
    const q = `${RUN_ID}-depth`;
    const sqs = async (action, body) => rawRequest(box.nimbus.endpoint, 'POST', '/', {
      body: JSON.stringify(body),
      service: 'sqs',
      headers: { 'X-Amz-Target': `AmazonSQS.${action}`, 'Content-Type': 'application/x-amz-json-1.0' },
    });
    const created = await sqs('CreateQueue', { QueueName: q });
    assert.equal(created.status, 200, created.text);
    const QueueUrl = created.json.QueueUrl;
    for (let i = 0; i < 3; i++) assert.equal((await sqs('SendMessage', { QueueUrl, MessageBody: `m${i}` })).status, 200);
    assert.equal((await sqs('SendMessage', { QueueUrl, MessageBody: 'later', DelaySeconds: 60 })).status, 200);
    assert.equal((await sqs('ReceiveMessage', { QueueUrl, MaxNumberOfMessages: 1 })).status, 200);
    const metrics = await rawRequest(box.nimbus.endpoint, 'GET', '/metrics');
    const families = parsePrometheusTextFormat(metrics.text);
    const depth = families.find((f) => f.name === 'nimbus_sqs_messages');
    assert.ok(depth, 'no nimbus_sqs_messages family');
    const state = (s) => Number(depth.metrics.find((m) => m.labels.queue === q && m.labels.state === s)?.value);
    assert.equal(state('visible'), 2);
    assert.equal(state('in_flight'), 1);
    assert.equal(state('delayed'), 1);
    assert.ok(families.some((f) => f.name === 'nimbus_async_events_pending'));
  }));

  it('the usage API refuses a malformed period with a clear error', t(async () => {
    const r = await rawRequest(box.nimbus.endpoint, 'GET', '/nimbus/usage?start=tomorrow');
    assert.equal(r.status, 400);
    assert.match(r.text, /InvalidParameterValueException.*start and end must be epoch seconds/);
  }));
});
