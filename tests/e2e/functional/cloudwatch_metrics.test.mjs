// CloudWatch metrics (issue #7, scope 2): after a function's invocations (some
// failing, some through an alias), GetMetricStatistics, GetMetricData and
// ListMetrics in namespace AWS/Lambda give back exactly those invocations, errors
// and durations, in each protocol a CloudWatch client speaks:
//   - AWS JSON 1.0: @aws-sdk/client-cloudwatch as it comes;
//   - Smithy RPC v2 CBOR: the same client with its CBOR protocol, and botocore (when
//     the one on PATH has it) made to prefer it;
//   - the query protocol (form-encoded, XML answers): Debian's boto3/botocore 1.29
//     (/usr/bin/python3), unchanged;
//   - and the AWS CLI on PATH (`aws cloudwatch ...`), whichever it speaks.
// Metrics reach the store on the recorder's flush (every 2 s), so the first query
// polls for up to 30 s.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CloudWatchClient,
  GetMetricStatisticsCommand,
  GetMetricDataCommand,
  ListMetricsCommand,
  paginateGetMetricData,
} from '@aws-sdk/client-cloudwatch';
import { AwsSmithyRpcV2CborProtocol } from '@aws-sdk/core/protocols';
import { PublishVersionCommand, CreateAliasCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, SKIP_NO_BINARY, RUN_ID, REGION, CREDENTIALS, runCommand, sleep, commandExists } from '../lib/nimbus.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const APP = `import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
`;

// The invocations: unqualified, then through alias "live".
const PLAN = [
  { fail: false, sleep: 0.05 },
  { fail: true },
  { fail: false },
  { fail: false, sleep: 0.2 },
  { fail: true, sleep: 0.01 },
  { fail: false },
  { fail: false, sleep: 0.1 },
];
const ALIAS_PLAN = [{ fail: false }, { fail: true }, { fail: false }];
const N = PLAN.length + ALIAS_PLAN.length;
const ERRORS = [...PLAN, ...ALIAS_PLAN].filter((p) => p.fail).length;

const DEBIAN_PYTHON = '/usr/bin/python3';

// Debian's boto3 (botocore 1.29 speaks CloudWatch's query protocol), unchanged.
// Prints what it read as JSON. argv: endpoint function start end (epoch seconds).
const BOTO3_SCRIPT = `
import datetime, json, os, sys
import boto3, botocore
from botocore.exceptions import ClientError
endpoint, name, start, end = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
prefer = sys.argv[5] if len(sys.argv) > 5 else ""
if prefer:
    import botocore.model
    botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = (prefer,)
utc = datetime.timezone.utc
start, end = datetime.datetime.fromtimestamp(start, utc), datetime.datetime.fromtimestamp(end, utc)
cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
model = cw.meta.service_model
out = {"botocore": botocore.__version__,
       "protocol": getattr(model, "resolved_protocol", None) or model.protocol}
dims = [{"Name": "FunctionName", "Value": name}]
def stats(metric, statistics):
    r = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=metric, Dimensions=dims,
                                 StartTime=start, EndTime=end, Period=60, Statistics=statistics)
    return r["Datapoints"]
out["invocations"] = sum(d["Sum"] for d in stats("Invocations", ["Sum"]))
out["errors"] = sum(d["Sum"] for d in stats("Errors", ["Sum"]))
duration = stats("Duration", ["SampleCount", "Sum", "Minimum", "Maximum"])
out["duration"] = {"count": sum(d["SampleCount"] for d in duration), "sum": sum(d["Sum"] for d in duration),
                   "min": min(d["Minimum"] for d in duration), "max": max(d["Maximum"] for d in duration),
                   "units": sorted({d["Unit"] for d in duration}),
                   "timestamps_are_datetimes": all(isinstance(d["Timestamp"], datetime.datetime) for d in duration)}
def query(id, metric, stat, extra=()):
    return {"Id": id, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
            "Dimensions": dims + list(extra)}, "Period": 60, "Stat": stat}}
data = {}
pages = 0
for page in cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[query("inv", "Invocations", "Sum"), query("err", "Errors", "Sum"),
                           query("alias", "Invocations", "Sum", [{"Name": "Resource", "Value": name + ":live"}])],
        StartTime=start, EndTime=end, PaginationConfig={"PageSize": 1}):
    pages += 1
    for r in page["MetricDataResults"]:
        d = data.setdefault(r["Id"], {"values": [], "timestamps": []})
        d["values"] += r["Values"]
        d["timestamps"] += [t.timestamp() for t in r["Timestamps"]]
out["data"] = data
out["pages"] = pages
out["metrics"] = sorted({(m["MetricName"], len(m["Dimensions"])) for m in
                         cw.list_metrics(Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": name}])["Metrics"]})
try:
    cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=dims,
                             StartTime=start, EndTime=end, Period=90, Statistics=["Sum"])
    out["error"] = None
except ClientError as e:
    out["error"] = {"code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"],
                    "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
print(json.dumps(out))
`;

function pythonHas(python, module) {
  return commandExists(python, ['-c', `import ${module}`]);
}

describe('CloudWatch metrics for AWS/Lambda', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  const name = `${RUN_ID}-cwmetrics`;
  let start; // epoch seconds: a minute before the first invocation
  let end;
  let durations = []; // every invocation's REPORT Duration, ms
  let tmp;

  const cloudwatch = (overrides = {}) =>
    new CloudWatchClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1, ...overrides });
  const cbor = () => cloudwatch({ protocol: AwsSmithyRpcV2CborProtocol });
  const dims = [{ Name: 'FunctionName', Value: name }];
  const window = () => ({ StartTime: new Date(start * 1000), EndTime: new Date(end * 1000) });

  async function statistics(client, MetricName, extra) {
    const r = await client.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/Lambda', MetricName, Dimensions: dims, Period: 60, ...window(), ...extra }));
    return r.Datapoints;
  }
  const sum = (points, key = 'Sum') => points.reduce((a, p) => a + p[key], 0);

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-cw-'));
    start = Math.floor(Date.now() / 1000) - 60;
    const lambda = box.nimbus.lambda();
    await createFunction(lambda, { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler' });
    const version = await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: version.Version }));
    for (const [plan, extra] of [[PLAN, {}], [ALIAS_PLAN, { Qualifier: 'live' }]]) {
      for (const p of plan) {
        const r = await invoke(lambda, name, p, extra);
        assert.equal(Boolean(r.functionError), p.fail, r.text);
        const m = /\tDuration: ([\d.]+) ms/.exec(r.tail);
        assert.ok(m, `no REPORT line in the tail:\n${r.tail}`);
        durations.push(Number(m[1]));
      }
    }
    end = Math.ceil(Date.now() / 1000) + 120;
    // The recorder flushes every few seconds: wait until every invocation is there.
    const deadline = Date.now() + 30000;
    let seen = 0;
    while (Date.now() < deadline) {
      seen = sum(await statistics(cloudwatch(), 'Invocations', { Statistics: ['Sum'] }));
      if (seen >= N) break;
      await sleep(500);
    }
    assert.equal(seen, N, `GetMetricStatistics saw ${seen} of ${N} invocations within 30 s`);
  }, { timeout: 180000 });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  function assertDurations(count, total, min, max, label) {
    assert.equal(count, N, `${label}: SampleCount`);
    const expected = durations.reduce((a, b) => a + b, 0);
    // REPORT lines print two decimals.
    assert.ok(Math.abs(total - expected) <= 0.01 * N, `${label}: Sum ${total} vs the REPORT lines' ${expected}`);
    assert.ok(Math.abs(min - Math.min(...durations)) <= 0.01, `${label}: Minimum ${min} vs ${Math.min(...durations)}`);
    assert.ok(Math.abs(max - Math.max(...durations)) <= 0.01, `${label}: Maximum ${max} vs ${Math.max(...durations)}`);
  }

  for (const [protocol, client] of [['AWS JSON 1.0', () => cloudwatch()], ['Smithy RPC v2 CBOR', () => cbor()]]) {
    describe(`@aws-sdk/client-cloudwatch over ${protocol}`, () => {
      it('GetMetricStatistics counts every invocation and error, and Duration agrees with the REPORT lines', t(async () => {
        const c = client();
        assert.equal(sum(await statistics(c, 'Invocations', { Statistics: ['Sum'] })), N);
        assert.equal(sum(await statistics(c, 'Errors', { Statistics: ['Sum'] })), ERRORS);
        const d = await statistics(c, 'Duration', { Statistics: ['SampleCount', 'Sum', 'Minimum', 'Maximum', 'Average'] });
        assert.ok(d.length >= 1);
        for (const p of d) {
          assert.ok(p.Timestamp instanceof Date, `Timestamp ${p.Timestamp}`);
          assert.equal(p.Timestamp.getTime() % 60000, 0);
          assert.equal(p.Unit, 'Milliseconds');
          assert.ok(Math.abs(p.Average - p.Sum / p.SampleCount) < 1e-9);
        }
        assertDurations(sum(d, 'SampleCount'), sum(d), Math.min(...d.map((p) => p.Minimum)), Math.max(...d.map((p) => p.Maximum)), protocol);
        // Percentiles: within the histogram's 2% of the observed range.
        const p = await statistics(c, 'Duration', { ExtendedStatistics: ['p50', 'p99'] });
        for (const x of p) {
          assert.ok(x.ExtendedStatistics.p50 <= x.ExtendedStatistics.p99 * 1.0001, JSON.stringify(x));
          assert.ok(x.ExtendedStatistics.p99 <= Math.max(...durations) * 1.03, JSON.stringify(x));
          assert.ok(x.ExtendedStatistics.p50 >= Math.min(...durations) * 0.97, JSON.stringify(x));
        }
        // Through the alias only: the Resource dimension.
        const alias = await c.send(new GetMetricStatisticsCommand({
          Namespace: 'AWS/Lambda', MetricName: 'Invocations', Period: 60, Statistics: ['Sum'], ...window(),
          Dimensions: [...dims, { Name: 'Resource', Value: `${name}:live` }],
        }));
        assert.equal(sum(alias.Datapoints), ALIAS_PLAN.length);
      }));

      it('GetMetricData returns the same numbers, newest first, page by page', t(async () => {
        const c = client();
        const query = (Id, MetricName, Stat) => ({ Id, MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName, Dimensions: dims }, Period: 60, Stat } });
        const r = await c.send(new GetMetricDataCommand({
          ...window(),
          MetricDataQueries: [query('inv', 'Invocations', 'Sum'), query('err', 'Errors', 'Sum'), query('n', 'Duration', 'SampleCount'),
            query('max', 'Duration', 'Maximum'), { ...query('hidden', 'Throttles', 'Sum'), ReturnData: false }],
        }));
        const byId = Object.fromEntries(r.MetricDataResults.map((x) => [x.Id, x]));
        assert.deepEqual(Object.keys(byId).sort(), ['err', 'inv', 'max', 'n']);
        const total = (id) => byId[id].Values.reduce((a, b) => a + b, 0);
        assert.equal(total('inv'), N);
        assert.equal(total('err'), ERRORS);
        assert.equal(total('n'), N);
        assert.ok(Math.abs(Math.max(...byId.max.Values) - Math.max(...durations)) <= 0.01);
        for (const x of r.MetricDataResults) {
          assert.equal(x.StatusCode, 'Complete');
          assert.equal(x.Timestamps.length, x.Values.length);
          const ms = x.Timestamps.map((d) => d.getTime());
          assert.deepEqual(ms, [...ms].sort((a, b) => b - a), 'TimestampDescending by default');
        }
        assert.equal(byId.inv.Label, 'Invocations');

        // One datapoint a page, with the SDK's paginator.
        let pages = 0;
        let values = 0;
        for await (const page of paginateGetMetricData({ client: c, pageSize: 1 }, { ...window(), ScanBy: 'TimestampAscending', MetricDataQueries: [query('inv', 'Invocations', 'Sum')] })) {
          pages += 1;
          assert.ok(page.MetricDataResults[0].Values.length <= 1);
          values += page.MetricDataResults[0].Values.reduce((a, b) => a + b, 0);
        }
        assert.equal(values, N);
        assert.equal(pages, byId.inv.Values.length);
      }));

      it('ListMetrics names the function\'s and the alias\'s metrics', t(async () => {
        const r = await client().send(new ListMetricsCommand({ Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: [{ Name: 'FunctionName', Value: name }] }));
        const dimensionSets = r.Metrics.map((m) => m.Dimensions.map((d) => `${d.Name}=${d.Value}`).join(',')).sort();
        assert.deepEqual(dimensionSets, [`FunctionName=${name}`, `FunctionName=${name},Resource=${name}:live`]);
      }));

      it('refuses a period that is not a multiple of 60 and metric math, as CloudWatch names the errors', t(async () => {
        const c = client();
        await assert.rejects(statistics(c, 'Invocations', { Statistics: ['Sum'], Period: 90 }), (e) => {
          assert.equal(e.name, 'InvalidParameterValueException');
          assert.equal(e.$metadata.httpStatusCode, 400);
          assert.match(e.message, /Period must be a multiple of 60/);
          return true;
        });
        await assert.rejects(c.send(new GetMetricDataCommand({ ...window(), MetricDataQueries: [{ Id: 'rate', Expression: 'errors / invocations' }] })), (e) => {
          assert.equal(e.$metadata.httpStatusCode, 400);
          assert.match(e.message, /metric math/);
          return true;
        });
        // A namespace with no metrics here: empty, not an error.
        const other = await c.send(new GetMetricStatisticsCommand({ Namespace: 'AWS/EC2', MetricName: 'CPUUtilization', Period: 60, Statistics: ['Average'], ...window() }));
        assert.deepEqual(other.Datapoints, []);
      }));
    });
  }

  const debianBoto3 = fs.existsSync(DEBIAN_PYTHON) && pythonHas(DEBIAN_PYTHON, 'boto3');
  it('Debian\'s boto3 (the query protocol) reads the same numbers, pages GetMetricData and gets CloudWatch\'s error codes',
    { skip: debianBoto3 ? false : `no boto3 for ${DEBIAN_PYTHON}` }, t(async () => {
      const r = await runCommand(DEBIAN_PYTHON, ['-c', BOTO3_SCRIPT, box.nimbus.endpoint, name, String(start), String(end)], { env: { AWS_EC2_METADATA_DISABLED: 'true' } });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.protocol, 'query', `botocore ${out.botocore} spoke ${out.protocol}`);
      checkPython(out);
    }));

  // botocore 1.36+ knows Smithy RPC v2 CBOR (it prefers JSON for CloudWatch; told to prefer CBOR here).
  const pathPython = commandExists('python3', ['-c', 'import boto3, botocore.serialize as s; assert "smithy-rpc-v2-cbor" in s.SERIALIZERS']);
  it('botocore made to prefer Smithy RPC v2 CBOR reads the same numbers', { skip: pathPython ? false : 'the python3 on PATH has no botocore with RPC v2 CBOR' }, t(async () => {
    const r = await runCommand('python3', ['-c', BOTO3_SCRIPT, box.nimbus.endpoint, name, String(start), String(end), 'smithy-rpc-v2-cbor'], { env: { AWS_EC2_METADATA_DISABLED: 'true' } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.protocol, 'smithy-rpc-v2-cbor');
    checkPython(out);
  }));

  function checkPython(out) {
    const label = `botocore ${out.botocore} (${out.protocol})`;
    assert.equal(out.invocations, N, label);
    assert.equal(out.errors, ERRORS, label);
    assertDurations(out.duration.count, out.duration.sum, out.duration.min, out.duration.max, label);
    assert.deepEqual(out.duration.units, ['Milliseconds']);
    assert.equal(out.duration.timestamps_are_datetimes, true);
    const total = (id) => out.data[id].values.reduce((a, b) => a + b, 0);
    assert.equal(total('inv'), N, label);
    assert.equal(total('err'), ERRORS, label);
    assert.equal(total('alias'), ALIAS_PLAN.length, label);
    assert.ok(out.pages > 1, `${label}: one datapoint a page takes more than one page`);
    for (const id of ['inv', 'err', 'alias']) assert.equal(out.data[id].timestamps.length, out.data[id].values.length);
    const metrics = out.metrics.map(([m, n]) => `${m}/${n}`);
    for (const m of ['Invocations/1', 'Invocations/2', 'Errors/1', 'Duration/1', 'Throttles/1']) assert.ok(metrics.includes(m), `${label}: ListMetrics lacks ${m}: ${metrics}`);
    assert.deepEqual(out.error && { code: out.error.code, status: out.error.status }, { code: 'InvalidParameterValue', status: 400 }, label);
    assert.match(out.error.message, /Period must be a multiple of 60/);
  }

  const awsCli = commandExists('aws');
  it('the AWS CLI (`aws cloudwatch get-metric-statistics` and `get-metric-data`) reads the same numbers', { skip: awsCli ? false : 'no aws on PATH' }, t(async () => {
    const aws = async (args) => {
      const r = await runCommand('aws', [...args, '--endpoint-url', box.nimbus.endpoint, '--region', REGION, '--output', 'json'], {
        timeoutMs: 120000,
        env: {
          AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_MAX_ATTEMPTS: '1',
          AWS_CONFIG_FILE: path.join(tmp, 'no-config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(tmp, 'no-credentials'),
          AWS_PAGER: '',
        },
      });
      return r;
    };
    const iso = (s) => new Date(s * 1000).toISOString();
    const common = ['--namespace', 'AWS/Lambda', '--dimensions', `Name=FunctionName,Value=${name}`, '--start-time', iso(start), '--end-time', iso(end), '--period', '60'];
    let r = await aws(['cloudwatch', 'get-metric-statistics', '--metric-name', 'Invocations', '--statistics', 'Sum', ...common]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sum(JSON.parse(r.stdout).Datapoints), N);
    r = await aws(['cloudwatch', 'get-metric-statistics', '--metric-name', 'Duration', '--statistics', 'SampleCount', 'Sum', 'Minimum', 'Maximum', ...common]);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout).Datapoints;
    assertDurations(sum(d, 'SampleCount'), sum(d), Math.min(...d.map((p) => p.Minimum)), Math.max(...d.map((p) => p.Maximum)), 'aws cli');

    const queries = JSON.stringify([{ Id: 'err', MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: dims }, Period: 60, Stat: 'Sum' } }]);
    r = await aws(['cloudwatch', 'get-metric-data', '--metric-data-queries', queries, '--start-time', iso(start), '--end-time', iso(end)]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout).MetricDataResults[0];
    assert.equal(result.Values.reduce((a, b) => a + b, 0), ERRORS);

    r = await aws(['cloudwatch', 'get-metric-statistics', '--metric-name', 'Invocations', '--statistics', 'Sum', ...common.slice(0, -1), '90']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /InvalidParameterValue/);
  }));
});
