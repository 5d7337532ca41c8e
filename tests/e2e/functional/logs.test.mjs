// CloudWatch Logs API (JSON 1.1, Logs_20140328.*) with
// @aws-sdk/client-cloudwatch-logs: log group /aws/lambda/NAME, one stream per
// execution environment, START/END/REPORT lines and function output.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  GetLogEventsCommand,
  FilterLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, waitFor } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, invoke, checkPlatformLines, expectServiceError } from '../lib/lambda.mjs';

const STREAM_RE = /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/;

async function allEvents(logs, group, stream) {
  const out = [];
  let token;
  for (let i = 0; i < 100; i++) {
    const page = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, nextToken: token }));
    out.push(...page.events);
    if (!page.nextForwardToken || page.nextForwardToken === token || page.events.length === 0) break;
    token = page.nextForwardToken;
  }
  return out;
}

describe('CloudWatch Logs API', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);

  it('log group, one stream per environment, START/END/REPORT and function output as events', t(async () => {
    const lambda = box.nimbus.lambda();
    const logs = box.nimbus.logs();
    const name = uniqueName('logs');
    const group = `/aws/lambda/${name}`;
    await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.handler' });
    const a = await invoke(lambda, name, { marker: 'first-marker' });
    const b = await invoke(lambda, name, { marker: 'second-marker' });
    assert.equal(a.json.logStreamName, b.json.logStreamName);
    const stream = a.json.logStreamName;
    assert.match(stream, STREAM_RE);
    // The date in the stream name is today's (UTC).
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    const yesterday = new Date(Date.now() - 86400000).toISOString().slice(0, 10).replace(/-/g, '/');
    assert.ok(stream.startsWith(today) || stream.startsWith(yesterday), `${stream} vs ${today}`);

    const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: group }));
    assert.deepEqual(groups.logGroups.map((g) => g.logGroupName), [group]);

    const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
    assert.deepEqual(streams.logStreams.map((s) => s.logStreamName), [stream]);

    const events = await waitFor(
      () => allEvents(logs, group, stream),
      (evs) => evs.some((e) => e.message.startsWith(`REPORT RequestId: ${b.requestId}`)),
      10000,
    );
    const text = events.map((e) => e.message.replace(/\n$/, '')).join('\n');
    checkPlatformLines(text, a.requestId, { coldStart: true });
    checkPlatformLines(text, b.requestId, { coldStart: false });
    assert.match(text, new RegExp(`echo-print ${a.requestId} first-marker`));
    assert.match(text, new RegExp(`echo-print ${b.requestId} second-marker`));
    for (const e of events) {
      assert.equal(typeof e.timestamp, 'number');
      assert.ok(Math.abs(e.timestamp - Date.now()) < 600000, `timestamp ${e.timestamp} is not epoch ms`);
      assert.equal(typeof e.ingestionTime, 'number');
    }
    const ts = events.map((e) => e.timestamp);
    assert.deepEqual(ts, [...ts].sort((x, y) => x - y), 'GetLogEvents startFromHead must be in time order');
    // Each platform line is its own event.
    assert.ok(events.some((e) => /^START RequestId: \S+ Version: \$LATEST\n?$/.test(e.message)));

    const reports = await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'REPORT' }));
    const reportIds = reports.events.map((e) => e.message.match(/^REPORT RequestId: (\S+)\t/)?.[1]);
    assert.deepEqual(reportIds.sort(), [a.requestId, b.requestId].sort());
    for (const e of reports.events) assert.equal(e.logStreamName, stream);

    const marker = await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'second-marker' }));
    assert.ok(marker.events.length >= 1 && marker.events.every((e) => e.message.includes('second-marker')), JSON.stringify(marker.events));
  }));

  it('concurrent invokes write to separate streams', t(async () => {
    const lambda = box.nimbus.lambda();
    const logs = box.nimbus.logs();
    const name = uniqueName('logs-conc');
    await createFunction(lambda, { name, zip: zipFixture('functions', 'python', 'echo'), runtime: 'python3.11', handler: 'app.sleep', Timeout: 10 });
    const rs = await Promise.all([invoke(lambda, name, { seconds: 1 }), invoke(lambda, name, { seconds: 1 })]);
    const want = new Set(rs.map((r) => r.json.logStreamName));
    assert.equal(want.size, 2);
    const streams = await waitFor(
      async () => (await logs.send(new DescribeLogStreamsCommand({ logGroupName: `/aws/lambda/${name}` }))).logStreams.map((s) => s.logStreamName),
      (s) => s.length >= 2,
      10000,
    );
    assert.deepEqual(new Set(streams), want);
  }));

  it('unknown log group → ResourceNotFoundException', t(async () => {
    const logs = box.nimbus.logs();
    await expectServiceError(
      () => logs.send(new GetLogEventsCommand({ logGroupName: `/aws/lambda/${uniqueName('none')}`, logStreamName: 'x' })),
      { name: 'ResourceNotFoundException', status: 400 },
    );
  }));
});
