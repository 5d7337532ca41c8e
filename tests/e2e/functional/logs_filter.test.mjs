// CloudWatch Logs filter patterns, paging, `aws logs tail --follow`-style
// polling and retention, through @aws-sdk/client-cloudwatch-logs and the AWS CLI.
//
// A function prints JSON lines, text lines and an access-log line; every kind of
// filter pattern (terms, ?alternatives, -exclusions, "phrases", %regex%, JSON
// { $.field ... } and space-delimited [a, b = ...]) must find exactly its lines
// through FilterLogEvents.
//
// `aws logs tail --follow` is an AWS CLI v2 command: the test runs the v2 on PATH,
// else Debian's /usr/bin/aws (2.9, package awscli), and skips without one. The
// test after it does what v2's tail does (awscli/customizations/logs/tail.py)
// with the SDK:
// FilterLogEvents from startTime, following nextToken, then polling again from
// the newest timestamp seen and dropping event ids already printed.
//
// Retention: the daemon keeps real days (there is no test scaling), so expiry is
// shown with events put with past timestamps; the sweep itself is unit-tested
// with an injected clock (src/obs/log_store_test.cc).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DeleteRetentionPolicyCommand,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { useNimbus, withLogs, withDaemon, uniqueName, SKIP_NO_BINARY, waitFor, sleep, runCommand, CREDENTIALS } from '../lib/nimbus.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { createFunction, invoke, expectServiceError } from '../lib/lambda.mjs';

const DAY = 86400000;

// One invocation prints these lines (MARKER replaced by the event's marker).
const APP = `
import json

def handler(event, context):
    m = event["marker"]
    print(json.dumps({"level": "ERROR", "marker": m, "latency": 1500, "ok": False, "note": None,
                      "user": {"id": 7, "tags": ["a", "b"]}}))
    print(json.dumps({"level": "INFO", "marker": m, "latency": 20, "ok": True, "user": {"id": 8}}))
    print(f"[ERROR 419] MISSING ARGUMENTS {m}")
    print(f"[WARNING 412] MISSING ARGUMENTS {m}")
    print(f"[SUCCESS 200] AUTHORIZED REQUEST {m}")
    print('127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534')
    return {"ok": True}
`;

// pattern → the lines it must find (by a distinctive part), for one invocation.
const CASES = [
  ['MISSING', ['[ERROR 419]', '[WARNING 412]']],
  ['?WARNING ?SUCCESS', ['[WARNING 412]', '[SUCCESS 200]']],
  ['MISSING -WARNING', ['[ERROR 419]']],
  ['"AUTHORIZED REQUEST"', ['[SUCCESS 200]']],
  ['"ARGUMENTS" "ERROR 419"', ['[ERROR 419]']],
  ['missing', []], // case-sensitive
  ['%^\\[[A-Z]+.4[0-9]{2}\\]%', ['[ERROR 419]', '[WARNING 412]']], // AWS allows no blanks in a regex
  ['{ $.level = "ERROR" }', ['"level": "ERROR"']],
  ['{ $.level = INF* }', ['"level": "INFO"']],
  ['{ $.level != "ERROR" }', ['"level": "INFO"']],
  ['{ $.latency > 1000 }', ['"level": "ERROR"']],
  ['{ $.latency <= 20 }', ['"level": "INFO"']],
  ['{ $.user.tags[1] = "b" }', ['"level": "ERROR"']],
  ['{ $.ok IS FALSE }', ['"level": "ERROR"']],
  ['{ $.ok IS TRUE }', ['"level": "INFO"']],
  ['{ $.note IS NULL }', ['"level": "ERROR"']],
  ['{ $.note NOT EXISTS }', ['"level": "INFO"']],
  ['{ ($.level = "ERROR" && $.latency >= 1500) || $.user.id = 8 }', ['"level": "ERROR"', '"level": "INFO"']],
  ['{ $.level = %^ERR% }', ['"level": "ERROR"']],
  ['{ $.marker NOT EXISTS }', []], // text lines are not JSON, so never match
  ['[ip, user, username, timestamp, request = "GET *", status_code = 4*, bytes > 1000]', ['127.0.0.1 - frank']],
  ['[..., status_code = 5*, bytes]', []],
];

function awsVersion(aws = 'aws') {
  try {
    return execFileSync(aws, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 }).trim();
  } catch {
    return null;
  }
}
const AWS_VERSION = awsVersion();
// `logs tail` needs v2: the one on PATH, else Debian's (package awscli, which
// tools/deps.sh --test installs) when a v1 comes first on PATH.
const AWS_V2 = ['aws', '/usr/bin/aws'].find((aws) => awsVersion(aws)?.startsWith('aws-cli/2'));

async function filterAll(logs, input) {
  const events = [];
  let nextToken;
  for (let i = 0; i < 1000; i++) {
    const page = await logs.send(new FilterLogEventsCommand({ ...input, nextToken }));
    events.push(...page.events);
    nextToken = page.nextToken;
    if (!nextToken) return events;
  }
  throw new Error('FilterLogEvents never stopped paging');
}

describe('CloudWatch Logs filter patterns, polling and retention', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let name;
  let group;
  let tmp;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-logs-'));
    name = uniqueName('logs-filter');
    group = `/aws/lambda/${name}`;
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.11', handler: 'app.handler' });
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  function awsEnv() {
    return {
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
      AWS_CONFIG_FILE: path.join(tmp, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, 'no-credentials'),
      AWS_PAGER: '',
    };
  }

  // Invokes once with a fresh marker and waits until its REPORT line is stored.
  async function invokeOnce() {
    const marker = uniqueName('m');
    const r = await invoke(box.nimbus.lambda(), name, { marker });
    assert.equal(r.json.ok, true, JSON.stringify(r.json));
    await waitFor(
      () => filterAll(box.nimbus.logs(), { logGroupName: group, filterPattern: `"REPORT RequestId: ${r.requestId}"` }),
      (evs) => evs.length === 1,
      10000,
    );
    return { marker, requestId: r.requestId };
  }

  it('every kind of filter pattern finds exactly its lines', t(async () => {
    const logs = box.nimbus.logs();
    const { marker } = await invokeOnce();
    const ours = (e) => e.message.includes(marker) || e.message.startsWith('127.0.0.1');
    for (const [pattern, wanted] of CASES) {
      const events = (await filterAll(logs, { logGroupName: group, filterPattern: pattern })).filter(ours);
      const got = events.map((e) => wanted.find((w) => e.message.includes(w)) ?? e.message);
      assert.deepEqual(got.sort(), [...wanted].sort(), `pattern ${pattern}: ${JSON.stringify(events.map((e) => e.message))}`);
      for (const e of events) {
        assert.match(e.eventId, /^\d{56}$/);
        assert.equal(typeof e.logStreamName, 'string');
      }
    }
  }));

  it('a malformed pattern is an InvalidParameterException', t(async () => {
    const logs = box.nimbus.logs();
    for (const pattern of ['{ $.level = ', '"unterminated', '{ $.latency > high }', '[a, b', '%bad!%']) {
      await expectServiceError(
        () => logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: pattern })),
        { name: 'InvalidParameterException', status: 400, messageMatch: /^Invalid filter pattern/ },
      );
    }
  }));

  it('FilterLogEvents pages through every event once, in time order, with limits, time ranges and stream choices', t(async () => {
    const logs = box.nimbus.logs();
    await invokeOnce();
    const all = await filterAll(logs, { logGroupName: group });
    assert.ok(all.length >= 14, `only ${all.length} events`);
    const paged = await filterAll(logs, { logGroupName: group, limit: 3 });
    assert.deepEqual(paged.map((e) => e.eventId), all.map((e) => e.eventId));
    assert.equal(new Set(all.map((e) => e.eventId)).size, all.length);
    const ts = all.map((e) => e.timestamp);
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b));

    // startTime and endTime are both inclusive.
    const mid = all[Math.floor(all.length / 2)].timestamp;
    const ranged = await filterAll(logs, { logGroupName: group, startTime: mid, endTime: mid });
    assert.deepEqual(ranged.map((e) => e.eventId), all.filter((e) => e.timestamp === mid).map((e) => e.eventId));

    const stream = all[0].logStreamName;
    const byName = await filterAll(logs, { logGroupName: group, logStreamNames: [stream] });
    assert.deepEqual(byName.map((e) => e.eventId), all.filter((e) => e.logStreamName === stream).map((e) => e.eventId));
    const byPrefix = await filterAll(logs, { logGroupName: group, logStreamNamePrefix: stream.slice(0, 12) });
    assert.ok(byPrefix.length > 0 && byPrefix.every((e) => e.logStreamName.startsWith(stream.slice(0, 12))));
    await expectServiceError(
      () => logs.send(new FilterLogEventsCommand({ logGroupName: group, logStreamNames: [stream], logStreamNamePrefix: 'x' })),
      { name: 'InvalidParameterException', status: 400 },
    );
  }));

  it('GetLogEvents tokens: the forward token comes back at the end, and a poll with it gets later events', t(async () => {
    const logs = box.nimbus.logs();
    await invokeOnce();
    const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group, orderBy: 'LastEventTime', descending: true, limit: 1 }));
    const stream = streams.logStreams[0].logStreamName;
    let token;
    let page;
    const seen = [];
    for (let i = 0; i < 100; i++) {
      page = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, limit: 5, nextToken: token }));
      seen.push(...page.events);
      if (page.nextForwardToken === token) break;
      token = page.nextForwardToken;
    }
    assert.equal(page.events.length, 0);
    assert.equal(page.nextForwardToken, token, 'at the end the same forward token comes back');
    const { marker } = await invokeOnce();
    const after = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, nextToken: token }));
    assert.ok(after.events.some((e) => e.message.includes(marker)), JSON.stringify(after.events));
    // Reading backward from the newest page reaches the first event.
    const newest = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, limit: 4 }));
    assert.equal(newest.events.length, 4);
    const back = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, limit: 4, nextToken: newest.nextBackwardToken }));
    assert.equal(back.events.at(-1).timestamp <= newest.events[0].timestamp, true);
    assert.equal(seen[0].message, (await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, limit: 1 }))).events[0].message);
  }));

  it('DescribeLogGroups and DescribeLogStreams: prefixes, patterns, paging and LastEventTime order', t(async () => {
    const logs = box.nimbus.logs();
    const base = `/nimbus-e2e/${uniqueName('dg')}`;
    for (const g of ['a', 'b', 'c', 'MixedCase']) await logs.send(new CreateLogGroupCommand({ logGroupName: `${base}/${g}` }));
    const names = [];
    let nextToken;
    do {
      const page = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: `${base}/`, limit: 3, nextToken }));
      names.push(...page.logGroups.map((g) => g.logGroupName));
      nextToken = page.nextToken;
    } while (nextToken);
    assert.deepEqual(names, ['MixedCase', 'a', 'b', 'c'].map((g) => `${base}/${g}`));
    const byPattern = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePattern: 'ixedCas' }));
    assert.deepEqual(byPattern.logGroups.map((g) => g.logGroupName), [`${base}/MixedCase`]);
    assert.deepEqual(Object.keys(byPattern.logGroups[0]).sort(), ['arn', 'creationTime', 'logGroupName']);
    assert.equal((await logs.send(new DescribeLogGroupsCommand({ logGroupNamePattern: 'ixedcas' }))).logGroups.length, 0);

    const g = `${base}/a`;
    const now = Date.now();
    for (const [s, ts] of [['old', now - 3000], ['new', now - 1000], ['mid', now - 2000]]) {
      await logs.send(new CreateLogStreamCommand({ logGroupName: g, logStreamName: s }));
      await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: s, logEvents: [{ timestamp: ts, message: s }] }));
    }
    const order = [];
    nextToken = undefined;
    do {
      const page = await logs.send(new DescribeLogStreamsCommand({ logGroupName: g, orderBy: 'LastEventTime', descending: true, limit: 2, nextToken }));
      order.push(...page.logStreams.map((s) => s.logStreamName));
      nextToken = page.nextToken;
    } while (nextToken);
    assert.deepEqual(order, ['new', 'mid', 'old']);
    const prefixed = await logs.send(new DescribeLogStreamsCommand({ logGroupName: g, logStreamNamePrefix: 'm' }));
    assert.deepEqual(prefixed.logStreams.map((s) => s.logStreamName), ['mid']);
    await expectServiceError(
      () => logs.send(new DescribeLogStreamsCommand({ logGroupName: g, logStreamNamePrefix: 'm', orderBy: 'LastEventTime' })),
      { name: 'InvalidParameterException', status: 400 },
    );
  }));

  it('aws logs tail --follow prints new lines as they come (AWS CLI v2 only)', { skip: AWS_V2 ? false : `needs AWS CLI v2 for 'logs tail'; this machine has ${AWS_VERSION ?? 'no aws'}; the next test polls as v2 does` }, t(async () => {
    const proc = spawn(AWS_V2, ['logs', 'tail', group, '--follow', '--since', '10m', '--format', 'short', '--endpoint-url', box.nimbus.endpoint, '--region', 'us-east-1'], {
      env: { ...process.env, ...awsEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    try {
      const { marker } = await invokeOnce();
      const text = await waitFor(() => out, (s) => s.includes(`MISSING ARGUMENTS ${marker}`), 30000, 250);
      assert.ok(text.includes(`MISSING ARGUMENTS ${marker}`), text);
      const second = await invokeOnce();
      const text2 = await waitFor(() => out, (s) => s.includes(`AUTHORIZED REQUEST ${second.marker}`), 30000, 250);
      assert.ok(text2.includes(`AUTHORIZED REQUEST ${second.marker}`), text2);
      assert.equal(text2.split(`[ERROR 419] MISSING ARGUMENTS ${marker}`).length, 2, 'each line once');
    } finally {
      proc.kill('SIGINT');
    }
  }));

  it('polling like `aws logs tail --follow` (FilterLogEvents from the newest timestamp, de-duplicated by eventId) sees every line once', t(async () => {
    const logs = box.nimbus.logs();
    const printed = [];
    let stop = false;
    // awscli v2 tail: kwargs {logGroupName, interleaved, startTime}; follow
    // nextToken; on the last page poll again from max(timestamp) seen, keeping
    // the ids of events at that timestamp to drop repeats. v2 sleeps 5 s; 1 s here.
    const poller = (async () => {
      const kwargs = { logGroupName: group, interleaved: true, startTime: Date.now() - 10 * 60 * 1000 };
      let idsAtTimestamp = new Map();
      while (!stop) {
        const page = await logs.send(new FilterLogEventsCommand(kwargs));
        for (const e of page.events) {
          const ids = idsAtTimestamp.get(e.timestamp) ?? new Set();
          if (!ids.has(e.eventId)) {
            ids.add(e.eventId);
            idsAtTimestamp.set(e.timestamp, ids);
            printed.push(e);
          }
        }
        if (idsAtTimestamp.size) {
          const newest = Math.max(...idsAtTimestamp.keys());
          idsAtTimestamp = new Map([[newest, idsAtTimestamp.get(newest)]]);
        }
        if (page.nextToken) {
          kwargs.nextToken = page.nextToken;
        } else {
          delete kwargs.nextToken;
          if (idsAtTimestamp.size) kwargs.startTime = Math.max(...idsAtTimestamp.keys());
          await sleep(1000);
        }
      }
    })();
    try {
      const markers = [];
      for (let i = 0; i < 3; i++) {
        markers.push((await invokeOnce()).marker);
        await sleep(300);
      }
      for (const m of markers) {
        await waitFor(() => printed, (p) => p.some((e) => e.message.includes(`SUCCESS 200] AUTHORIZED REQUEST ${m}`)), 15000, 200);
      }
      for (const m of markers) {
        const lines = printed.filter((e) => e.message.includes(m));
        assert.equal(lines.length, 5, `marker ${m}: ${JSON.stringify(lines.map((e) => e.message))}`);
      }
      const ids = printed.map((e) => e.eventId);
      assert.equal(new Set(ids).size, ids.length, 'no event printed twice');
      const ts = printed.map((e) => e.timestamp);
      assert.deepEqual(ts, [...ts].sort((a, b) => a - b), 'printed in time order');
    } finally {
      stop = true;
      await poller;
    }
  }));

  it('the AWS CLI filters, gets events and sets retention (v1 commands)', { skip: AWS_VERSION ? false : 'no aws CLI' }, t(async () => {
    const aws = async (args) => {
      const r = await runCommand('aws', [...args, '--endpoint-url', box.nimbus.endpoint, '--region', 'us-east-1', '--output', 'json'], { timeoutMs: 120000, env: awsEnv() });
      assert.equal(r.code, 0, `aws ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      return r.stdout ? JSON.parse(r.stdout) : {};
    };
    const { marker } = await invokeOnce();
    const json = await aws(['logs', 'filter-log-events', '--log-group-name', group, '--filter-pattern', '{ $.level = "ERROR" }']);
    assert.ok(json.events.some((e) => e.message.includes(marker) && e.message.includes('"latency": 1500')), JSON.stringify(json.events));
    assert.ok(json.events.every((e) => e.message.includes('"level": "ERROR"')));
    const text = await aws(['logs', 'filter-log-events', '--log-group-name', group, '--filter-pattern', `"MISSING ARGUMENTS ${marker}" -WARNING`]);
    assert.deepEqual(text.events.map((e) => e.message.trim()), [`[ERROR 419] MISSING ARGUMENTS ${marker}`]);
    const g = `/nimbus-e2e/${uniqueName('cli-retention')}`;
    await aws(['logs', 'create-log-group', '--log-group-name', g]);
    await aws(['logs', 'put-retention-policy', '--log-group-name', g, '--retention-in-days', '30']);
    const described = await aws(['logs', 'describe-log-groups', '--log-group-name-prefix', g]);
    assert.equal(described.logGroups[0].retentionInDays, 30);
    await aws(['logs', 'delete-retention-policy', '--log-group-name', g]);
    assert.equal((await aws(['logs', 'describe-log-groups', '--log-group-name-prefix', g])).logGroups[0].retentionInDays, undefined);
    await aws(['logs', 'delete-log-group', '--log-group-name', g]);
  }));

  it('retention: PutRetentionPolicy hides and reclaims older events at once, and DescribeLogGroups shows it', t(async () => {
    const logs = box.nimbus.logs();
    const g = `/nimbus-e2e/${uniqueName('retention')}`;
    const now = Date.now();
    await logs.send(new CreateLogGroupCommand({ logGroupName: g }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: g, logStreamName: 'old' }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: g, logStreamName: 'mixed' }));
    await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 'old', logEvents: [{ timestamp: now - 3 * DAY, message: 'old 1' }, { timestamp: now - 3 * DAY + 1, message: 'old 2' }] }));
    await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 'mixed', logEvents: [{ timestamp: now - 2 * DAY, message: 'two days ago' }] }));
    await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 'mixed', logEvents: [{ timestamp: now - 1000, message: 'just now' }] }));
    const before = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: g }));
    assert.equal(before.logGroups[0].retentionInDays, undefined);
    assert.equal(before.logGroups[0].storedBytes, 'old 1old 2two days agojust now'.length);
    assert.equal((await filterAll(logs, { logGroupName: g })).length, 4);

    await expectServiceError(
      () => logs.send(new PutRetentionPolicyCommand({ logGroupName: g, retentionInDays: 2 })),
      { name: 'InvalidParameterException', status: 400, messageMatch: /retentionInDays.*enum value set: \[1, 3, 5, 7, 14, 30/ },
    );
    await expectServiceError(
      () => logs.send(new PutRetentionPolicyCommand({ logGroupName: `${g}-missing`, retentionInDays: 1 })),
      { name: 'ResourceNotFoundException', status: 400 },
    );
    await logs.send(new PutRetentionPolicyCommand({ logGroupName: g, retentionInDays: 1 }));

    const after = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: g }));
    assert.equal(after.logGroups[0].retentionInDays, 1);
    assert.deepEqual((await filterAll(logs, { logGroupName: g })).map((e) => e.message), ['just now']);
    const mixed = await logs.send(new GetLogEventsCommand({ logGroupName: g, logStreamName: 'mixed', startFromHead: true }));
    assert.deepEqual(mixed.events.map((e) => e.message), ['just now']);
    // The stream with nothing left is gone, and its bytes with it.
    const streams = await waitFor(
      async () => (await logs.send(new DescribeLogStreamsCommand({ logGroupName: g }))).logStreams.map((s) => s.logStreamName),
      (s) => s.length === 1,
      10000,
    );
    assert.deepEqual(streams, ['mixed']);
    assert.equal((await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: g }))).logGroups[0].storedBytes, 'two days agojust now'.length);

    // Events already past the retention are refused, as AWS reports them.
    // (One request may span 24 hours at most.)
    const put = await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 'mixed', logEvents: [{ timestamp: now - DAY - 60000, message: 'late' }, { timestamp: now - 7200000, message: 'fresh' }] }));
    assert.deepEqual(put.rejectedLogEventsInfo, { expiredLogEventEndIndex: 1 });
    const tooNew = await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 'mixed', logEvents: [{ timestamp: now + 3 * 3600 * 1000, message: 'future' }] }));
    assert.deepEqual(tooNew.rejectedLogEventsInfo, { tooNewLogEventStartIndex: 0 });
    assert.deepEqual((await filterAll(logs, { logGroupName: g })).map((e) => e.message), ['fresh', 'just now']);

    await logs.send(new DeleteRetentionPolicyCommand({ logGroupName: g }));
    assert.equal((await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: g }))).logGroups[0].retentionInDays, undefined);
  }));
});

describe('CloudWatch Logs retention across a restart', { skip: SKIP_NO_BINARY }, () => {
  it('a retention policy survives a daemon restart and is still enforced', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-logs-restart-'));
    const g = `/nimbus-e2e/${uniqueName('restart')}`;
    const now = Date.now();
    try {
      await withDaemon({ dataDir }, async (n) => {
        const logs = n.logs();
        await logs.send(new CreateLogGroupCommand({ logGroupName: g }));
        await logs.send(new CreateLogStreamCommand({ logGroupName: g, logStreamName: 's' }));
        await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 's', logEvents: [{ timestamp: now - 4 * DAY, message: 'four days ago' }] }));
        await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 's', logEvents: [{ timestamp: now - 2 * DAY, message: 'two days ago' }] }));
        await logs.send(new PutLogEventsCommand({ logGroupName: g, logStreamName: 's', logEvents: [{ timestamp: now - DAY / 2, message: 'today' }] }));
        await logs.send(new PutRetentionPolicyCommand({ logGroupName: g, retentionInDays: 3 }));
        assert.deepEqual((await filterAll(logs, { logGroupName: g })).map((e) => e.message), ['two days ago', 'today']);
      });
      await withDaemon({ dataDir }, async (n) => {
        const logs = n.logs();
        const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: g }));
        assert.equal(groups.logGroups[0].retentionInDays, 3);
        assert.deepEqual((await filterAll(logs, { logGroupName: g })).map((e) => e.message), ['two days ago', 'today']);
        await logs.send(new PutRetentionPolicyCommand({ logGroupName: g, retentionInDays: 1 }));
        assert.deepEqual((await filterAll(logs, { logGroupName: g })).map((e) => e.message), ['today']);
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
