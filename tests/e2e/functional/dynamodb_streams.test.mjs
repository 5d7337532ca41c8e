// DynamoDB Streams (issue #6) on the Nimbus port (AWS JSON 1.0, X-Amz-Target
// DynamoDBStreams_20120810.*, signed for "dynamodb"), driven with
// @aws-sdk/client-dynamodb-streams: ListStreams, DescribeStream and its shards,
// GetShardIterator (TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER) and
// GetRecords returning INSERT / MODIFY / REMOVE records in write order with the images
// each StreamViewType names, disabling and re-enabling a stream, TTL deletions as service
// REMOVE records; then Lambda event source mappings on a table's LatestStreamArn
// (@aws-sdk/client-lambda): the mapping API and its stream defaults, delivery from
// TRIM_HORIZON and LATEST in DynamoDB's event shape, BatchSize, retries up to
// MaximumRetryAttempts with the OnFailure record in an SQS queue,
// BisectBatchOnFunctionError and ReportBatchItemFailures. The consumer function logs
// every batch it receives ("BATCH [records]"); the tests read those lines back through
// the Logs API. Each test uses tables, functions and queues of its own.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  DynamoDBClient,
  CreateTableCommand,
  DescribeTableCommand,
  UpdateTableCommand,
  PutItemCommand,
  UpdateItemCommand,
  DeleteItemCommand,
  BatchWriteItemCommand,
  TransactWriteItemsCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBStreamsClient,
  ListStreamsCommand,
  DescribeStreamCommand,
  GetShardIteratorCommand,
  GetRecordsCommand,
} from '@aws-sdk/client-dynamodb-streams';
import {
  CreateEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { SQSClient, CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { useNimbus, withLogs, waitFor, sleep, uniqueName, SKIP_NO_BINARY, REGION, ACCOUNT, CREDENTIALS } from '../lib/nimbus.mjs';
import { createFunction, functionArn, expectServiceError } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';
import { zipFiles } from '../lib/zip.mjs';

// How long a test waits for an expired item to be swept (see dynamodb.test.mjs).
const TTL_WAIT_MS = Number(process.env.NIMBUS_DDB_TTL_WAIT_MS || 90_000);
// How long written changes may take to appear in a stream, and to reach a function.
const STREAM_WAIT_MS = 30_000;
const DELIVERY_WAIT_MS = Number(process.env.NIMBUS_DDB_DELIVERY_WAIT_MS || 120_000);
const ACTIVE_TIMEOUT_MS = Number(process.env.NIMBUS_DDB_ACTIVE_TIMEOUT_MS || 30_000);

const S = (v) => ({ S: v });
const N = (v) => ({ N: String(v) });
const tableArn = (name) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;
const sqsArn = (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
const STREAM_ARN_RE = /^arn:aws:dynamodb:us-east-1:000000000000:table\/[^/]+\/stream\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/;
const VIEW_TYPES = ['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES'];

function keys(hash, range) {
  const ks = [{ AttributeName: hash, KeyType: 'HASH' }];
  if (range) ks.push({ AttributeName: range, KeyType: 'RANGE' });
  return ks;
}
function defs(o) {
  return Object.entries(o).map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

// A comparable form of DynamoDB JSON (binary as base64, sets sorted).
function norm(v) {
  if (v === undefined || v === null) return v;
  if (v instanceof Uint8Array) return `base64:${Buffer.from(v).toString('base64')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = (k === 'SS' || k === 'NS' || k === 'BS') && Array.isArray(x) ? x.map(norm).sort() : norm(x);
  return out;
}
const escapeRe = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const keyOf = (record) => JSON.stringify(norm(record.dynamodb.Keys));
const bigSeq = (record) => BigInt(record.dynamodb.SequenceNumber);

// Records of one key, in stream order, reduced to [eventName, OldImage, NewImage].
function eventsFor(records, Keys) {
  const k = JSON.stringify(norm(Keys));
  return records.filter((r) => keyOf(r) === k).map((r) => [r.eventName, norm(r.dynamodb.OldImage), norm(r.dynamodb.NewImage)]);
}

// Asserts sequence numbers are decimal and strictly increasing in the given order.
function assertIncreasing(records, what) {
  for (const r of records) assert.match(r.dynamodb.SequenceNumber, /^\d+$/, `${what}: SequenceNumber ${r.dynamodb.SequenceNumber}`);
  for (let i = 1; i < records.length; i++) {
    assert.ok(bigSeq(records[i - 1]) < bigSeq(records[i]), `${what}: sequence numbers not increasing: ${records.map((r) => r.dynamodb.SequenceNumber)}`);
  }
}

// Prints every batch it receives; throws when a record's image has mode "boom"; reports
// the records with mode "partial" as batch item failures, but only in a batch that also
// holds the record with mode "first" (so the retry that starts at the failed record
// succeeds). The console.log line reads "<time>\t<request id>\tINFO\tBATCH {"at":<ms>,"records":[...]}".
const CONSUMER = `export const handler = async (event) => {
  const records = event.Records ?? [];
  console.log('BATCH ' + JSON.stringify({ at: Date.now(), records }));
  const mode = (r) => (r.dynamodb?.NewImage ?? r.dynamodb?.OldImage)?.mode?.S;
  if (records.some((r) => mode(r) === 'boom')) throw new Error('boom');
  const hasFirst = records.some((r) => mode(r) === 'first');
  return { batchItemFailures: records.filter((r) => hasFirst && mode(r) === 'partial').map((r) => ({ itemIdentifier: r.dynamodb.SequenceNumber })) };
};
`;

// =========================================================================================

describe('DynamoDB Streams and stream event source mappings', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let ddb;
  let streams;
  let sqs;

  before(() => {
    const cfg = { endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1, requestHandler: { requestTimeout: 30_000, throwOnRequestTimeout: true } };
    ddb = new DynamoDBClient(cfg);
    streams = new DynamoDBStreamsClient(cfg);
    sqs = new SQSClient(cfg);
  });
  after(() => {
    ddb?.destroy();
    streams?.destroy();
    sqs?.destroy();
  });

  // --- tables and streams -----------------------------------------------------------------

  async function waitActive(TableName) {
    const ready = (x) => x.TableStatus === 'ACTIVE';
    const tb = await waitFor(async () => (await ddb.send(new DescribeTableCommand({ TableName }))).Table, ready, ACTIVE_TIMEOUT_MS, 100);
    assert.ok(ready(tb), `${TableName} not ACTIVE within ${ACTIVE_TIMEOUT_MS} ms: ${JSON.stringify(tb)}`);
    return tb;
  }

  async function waitStreamEnabled(StreamArn) {
    const d = await waitFor(async () => (await streams.send(new DescribeStreamCommand({ StreamArn }))).StreamDescription,
      (x) => x.StreamStatus === 'ENABLED', ACTIVE_TIMEOUT_MS, 100);
    assert.equal(d.StreamStatus, 'ENABLED', `stream ${StreamArn} not ENABLED: ${JSON.stringify(d)}`);
    return d;
  }

  // Creates a table (hash key pk:S unless `input` says otherwise) with a stream of `viewType`
  // (none when null), waits until both are usable; returns { name, arn, label, created, table }.
  async function streamTable(base, viewType, input = {}) {
    const name = uniqueName(base);
    const out = await ddb.send(new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: defs({ pk: 'S' }),
      KeySchema: keys('pk'),
      ...(viewType ? { StreamSpecification: { StreamEnabled: true, StreamViewType: viewType } } : {}),
      ...input,
    }));
    const table = await waitActive(name);
    if (viewType) await waitStreamEnabled(table.LatestStreamArn);
    return { name, arn: table.LatestStreamArn, label: table.LatestStreamLabel, created: out.TableDescription, table };
  }

  const put = (TableName, Item, extra = {}) => ddb.send(new PutItemCommand({ TableName, Item, ...extra }));
  const update = (TableName, Key, UpdateExpression, ExpressionAttributeValues) => ddb.send(new UpdateItemCommand({ TableName, Key, UpdateExpression, ExpressionAttributeValues }));
  const del = (TableName, Key) => ddb.send(new DeleteItemCommand({ TableName, Key }));

  // Every shard of a stream (following LastEvaluatedShardId), parents before children.
  async function shardsOf(StreamArn) {
    const shards = [];
    let ExclusiveStartShardId;
    for (let i = 0; i < 100; i++) {
      const d = (await streams.send(new DescribeStreamCommand({ StreamArn, ExclusiveStartShardId }))).StreamDescription;
      shards.push(...d.Shards);
      ExclusiveStartShardId = d.LastEvaluatedShardId;
      if (!ExclusiveStartShardId) break;
    }
    const ids = new Set(shards.map((s) => s.ShardId));
    const ordered = [];
    const visit = (s) => {
      if (ordered.includes(s)) return;
      const parent = shards.find((p) => p.ShardId === s.ParentShardId);
      if (parent && ids.has(parent.ShardId)) visit(parent);
      ordered.push(s);
    };
    shards.forEach(visit);
    return ordered;
  }

  // Reads one shard from an iterator position until it ends or two reads in a row are
  // empty; returns the records.
  async function readShard(StreamArn, ShardId, ShardIteratorType = 'TRIM_HORIZON', SequenceNumber, Limit) {
    let { ShardIterator } = await streams.send(new GetShardIteratorCommand({ StreamArn, ShardId, ShardIteratorType, SequenceNumber }));
    assert.ok(ShardIterator, `GetShardIterator ${ShardIteratorType} returned no iterator`);
    const records = [];
    let empties = 0;
    for (let i = 0; ShardIterator && i < 200 && empties < 2; i++) {
      const r = await streams.send(new GetRecordsCommand({ ShardIterator, Limit }));
      assert.ok(Array.isArray(r.Records), `GetRecords answered without a Records array: ${JSON.stringify(r)}`);
      if (Limit !== undefined) assert.ok(r.Records.length <= Limit, `GetRecords returned ${r.Records.length} records with Limit ${Limit}`);
      records.push(...r.Records);
      empties = r.Records.length ? 0 : empties + 1;
      ShardIterator = r.NextShardIterator;
    }
    return records;
  }

  // Every record of every shard from TRIM_HORIZON: [{ shardId, record }].
  async function readAll(StreamArn) {
    const out = [];
    for (const s of await shardsOf(StreamArn)) {
      for (const record of await readShard(StreamArn, s.ShardId)) out.push({ shardId: s.ShardId, record });
    }
    return out;
  }

  async function waitRecords(StreamArn, done, timeoutMs = STREAM_WAIT_MS) {
    const got = await waitFor(async () => (await readAll(StreamArn)).map((x) => x.record), done, timeoutMs, 250);
    assert.ok(done(got), `stream records never complete within ${timeoutMs} ms; got ${JSON.stringify(got.map((r) => [r.eventName, norm(r.dynamodb.Keys)]))}`);
    return got;
  }

  // --- functions, mappings, queues --------------------------------------------------------

  async function consumer(base) {
    const name = uniqueName(base);
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles({ 'index.mjs': CONSUMER }), runtime: 'nodejs20.x', handler: 'index.handler', Timeout: 10 });
    return name;
  }

  // Every batch the function received, in the order it received them: arrays of Lambda
  // stream records.
  async function batches(fn) {
    return (await logMessages(box.nimbus.logs(), fn)).filter((m) => m.includes('\tBATCH {'))
      .map((m) => JSON.parse(m.slice(m.indexOf('\tBATCH {') + 7)))
      .sort((a, b) => a.at - b.at)
      .map((b) => b.records);
  }

  async function mapping(fn, arn, input) {
    const out = await box.nimbus.lambda().send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: arn, ...input }));
    return out.UUID;
  }

  async function waitMappingState(UUID, state) {
    const m = await waitFor(() => box.nimbus.lambda().send(new GetEventSourceMappingCommand({ UUID })), (x) => x.State === state, 60_000, 250);
    assert.equal(m.State, state, `mapping ${UUID} never reached ${state}: ${JSON.stringify(m)}`);
    return m;
  }

  async function queue(base) {
    const QueueName = uniqueName(base);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName }));
    return { url: QueueUrl, arn: sqsArn(QueueName) };
  }

  async function receiveAll(QueueUrl, want, timeoutMs = DELIVERY_WAIT_MS) {
    const got = [];
    await waitFor(async () => {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 300 }));
      got.push(...(r.Messages ?? []));
      return got.length;
    }, (n) => n >= want, timeoutMs, 200);
    return got;
  }

  const skOf = (record) => Number(record.dynamodb.Keys.sk.N);
  // Where a record appears: [batch index, ...] for each batch that held it.
  const deliveries = (bs, pred) => bs.flatMap((b, i) => (b.some(pred) ? [i] : []));

  // ---------------------------------------------------------------------------------------
  describe('the Streams API', () => {
    it('a table created with a stream reports StreamSpecification, LatestStreamArn and LatestStreamLabel, and ListStreams lists the stream, all of them paged and by table', t(async () => {
      const a = await streamTable('streams-list-a', 'NEW_AND_OLD_IMAGES');
      const b = await streamTable('streams-list-b', 'KEYS_ONLY');
      const none = await streamTable('streams-list-none', null);
      assert.deepEqual(a.created.StreamSpecification, { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
      assert.equal(a.created.LatestStreamArn, a.arn, 'CreateTable and DescribeTable name different streams');
      assert.deepEqual(a.table.StreamSpecification, { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
      assert.match(a.arn, STREAM_ARN_RE);
      assert.equal(a.arn, `${tableArn(a.name)}/stream/${a.label}`);
      assert.equal(none.table.LatestStreamArn, undefined);

      const byTable = await streams.send(new ListStreamsCommand({ TableName: a.name }));
      assert.deepEqual(byTable.Streams, [{ StreamArn: a.arn, TableName: a.name, StreamLabel: a.label }]);
      assert.deepEqual((await streams.send(new ListStreamsCommand({ TableName: none.name }))).Streams, []);

      const seen = [];
      let ExclusiveStartStreamArn;
      for (let i = 0; i < 1000; i++) {
        const page = await streams.send(new ListStreamsCommand({ Limit: 1, ExclusiveStartStreamArn }));
        assert.ok(page.Streams.length <= 1);
        seen.push(...page.Streams.map((s) => s.StreamArn));
        ExclusiveStartStreamArn = page.LastEvaluatedStreamArn;
        if (!ExclusiveStartStreamArn) break;
      }
      assert.equal(seen.filter((x) => x === a.arn).length, 1, 'stream a not listed exactly once');
      assert.equal(seen.filter((x) => x === b.arn).length, 1, 'stream b not listed exactly once');
      await expectServiceError(() => streams.send(new ListStreamsCommand({ Limit: 0 })), { name: 'ValidationException', status: 400 });
    }));

    it('DescribeStream reports the stream ENABLED with its view type, table, key schema and shards with decimal sequence numbers; unknown and malformed ARNs are refused', t(async () => {
      const { name, arn, label } = await streamTable('streams-describe', 'NEW_IMAGE', {
        AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk'),
      });
      const d = (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription;
      assert.equal(d.StreamArn, arn);
      assert.equal(d.StreamLabel, label);
      assert.equal(d.StreamStatus, 'ENABLED');
      assert.equal(d.StreamViewType, 'NEW_IMAGE');
      assert.equal(d.TableName, name);
      assert.deepEqual(d.KeySchema, keys('pk', 'sk'));
      if (d.CreationRequestDateTime !== undefined) {
        assert.ok(d.CreationRequestDateTime instanceof Date && Math.abs(d.CreationRequestDateTime.getTime() - Date.now()) < 300_000, `CreationRequestDateTime ${d.CreationRequestDateTime}`);
      }
      assert.ok(d.Shards.length >= 1, 'a new stream has no shard');
      for (const s of d.Shards) {
        assert.ok(typeof s.ShardId === 'string' && s.ShardId.length >= 28 && s.ShardId.length <= 65, `ShardId ${s.ShardId}`);
        assert.match(s.SequenceNumberRange.StartingSequenceNumber, /^\d+$/);
        if (s.SequenceNumberRange.EndingSequenceNumber !== undefined) assert.match(s.SequenceNumberRange.EndingSequenceNumber, /^\d+$/);
      }
      assert.ok(d.Shards.some((s) => s.SequenceNumberRange.EndingSequenceNumber === undefined), 'an enabled stream has no open shard');
      const last = d.Shards.at(-1).ShardId;
      assert.deepEqual((await streams.send(new DescribeStreamCommand({ StreamArn: arn, ExclusiveStartShardId: last }))).StreamDescription.Shards, []);
      await expectServiceError(() => streams.send(new DescribeStreamCommand({ StreamArn: `${tableArn(uniqueName('nostream'))}/stream/2020-01-01T00:00:00.000` })),
        { name: 'ResourceNotFoundException', status: 400 });
      await expectServiceError(() => streams.send(new DescribeStreamCommand({ StreamArn: 'not-a-stream-arn-at-all-but-long-enough-to-pass-length-checks' })),
        { name: 'ValidationException', status: 400 });
    }));

    it('GetRecords from TRIM_HORIZON returns INSERT, MODIFY and REMOVE records in write order with their keys and both images; writes that change nothing and deletes of missing items add no record', t(async () => {
      const { name, arn } = await streamTable('streams-records', 'NEW_AND_OLD_IMAGES');
      const startMs = Date.now();
      await put(name, { pk: S('a'), v: N(1) });
      await put(name, { pk: S('a'), v: N(1) }); // unchanged: no record
      await update(name, { pk: S('a') }, 'SET v = :v', { ':v': N(2) });
      await put(name, { pk: S('b'), w: S('x') });
      await del(name, { pk: S('a') });
      await del(name, { pk: S('a') }); // nothing to delete: no record
      await ddb.send(new BatchWriteItemCommand({ RequestItems: { [name]: [{ PutRequest: { Item: { pk: S('c') } } }] } }));
      await ddb.send(new TransactWriteItemsCommand({ TransactItems: [{ Update: { TableName: name, Key: { pk: S('b') }, UpdateExpression: 'SET w = :w', ExpressionAttributeValues: { ':w': S('y') } } }] }));
      const endMs = Date.now();

      const records = await waitRecords(arn, (rs) => rs.length >= 6);
      // Give a record that should not exist a moment to show up.
      await sleep(1000);
      const all = await readAll(arn);
      assert.equal(all.length, 6, `want 6 records, got ${JSON.stringify(all.map((x) => [x.record.eventName, norm(x.record.dynamodb.Keys)]))}`);
      assert.deepEqual(eventsFor(records, { pk: S('a') }), [
        ['INSERT', undefined, norm({ pk: S('a'), v: N(1) })],
        ['MODIFY', norm({ pk: S('a'), v: N(1) }), norm({ pk: S('a'), v: N(2) })],
        ['REMOVE', norm({ pk: S('a'), v: N(2) }), undefined],
      ]);
      assert.deepEqual(eventsFor(records, { pk: S('b') }), [
        ['INSERT', undefined, norm({ pk: S('b'), w: S('x') })],
        ['MODIFY', norm({ pk: S('b'), w: S('x') }), norm({ pk: S('b'), w: S('y') })],
      ]);
      assert.deepEqual(eventsFor(records, { pk: S('c') }), [['INSERT', undefined, norm({ pk: S('c') })]]);
      const ids = new Set();
      for (const r of records) {
        assert.equal(typeof r.eventID, 'string');
        assert.ok(r.eventID.length > 0 && !ids.has(r.eventID), `eventID ${r.eventID} empty or repeated`);
        ids.add(r.eventID);
        assert.equal(r.eventSource, 'aws:dynamodb');
        assert.equal(r.eventVersion, '1.1');
        assert.equal(r.awsRegion, REGION);
        assert.equal(r.dynamodb.StreamViewType, 'NEW_AND_OLD_IMAGES');
        assert.ok(Number.isInteger(r.dynamodb.SizeBytes) && r.dynamodb.SizeBytes > 0, `SizeBytes ${r.dynamodb.SizeBytes}`);
        const at = r.dynamodb.ApproximateCreationDateTime;
        assert.ok(at instanceof Date && at.getTime() >= startMs - 60_000 && at.getTime() <= endMs + 60_000, `ApproximateCreationDateTime ${at}`);
        assert.equal(r.userIdentity, undefined, 'a user write carries a userIdentity');
      }
      for (const shardId of new Set(all.map((x) => x.shardId))) assertIncreasing(all.filter((x) => x.shardId === shardId).map((x) => x.record), `shard ${shardId}`);
    }));

    for (const viewType of VIEW_TYPES) {
      it(`StreamViewType ${viewType} carries ${{ KEYS_ONLY: 'only the keys', NEW_IMAGE: 'the item after each change', OLD_IMAGE: 'the item before each change', NEW_AND_OLD_IMAGES: 'both images' }[viewType]}`, t(async () => {
        const { name, arn } = await streamTable(`streams-${viewType.toLowerCase().replace(/_/g, '-')}`, viewType, {
          AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk'),
        });
        const Key = { pk: S('k'), sk: N(1) };
        await put(name, { ...Key, v: N(1) });
        await update(name, Key, 'SET v = :v', { ':v': N(2) });
        await del(name, Key);
        const records = await waitRecords(arn, (rs) => rs.length >= 3);
        assert.deepEqual(records.map((r) => r.eventName), ['INSERT', 'MODIFY', 'REMOVE']);
        const v1 = norm({ pk: S('k'), sk: N(1), v: N(1) });
        const v2 = norm({ pk: S('k'), sk: N(1), v: N(2) });
        const want = {
          KEYS_ONLY: [[undefined, undefined], [undefined, undefined], [undefined, undefined]],
          NEW_IMAGE: [[undefined, v1], [undefined, v2], [undefined, undefined]],
          OLD_IMAGE: [[undefined, undefined], [v1, undefined], [v2, undefined]],
          NEW_AND_OLD_IMAGES: [[undefined, v1], [v1, v2], [v2, undefined]],
        }[viewType];
        assert.deepEqual(records.map((r) => [norm(r.dynamodb.OldImage), norm(r.dynamodb.NewImage)]), want);
        for (const r of records) {
          assert.deepEqual(norm(r.dynamodb.Keys), norm({ pk: S('k'), sk: N(1) }));
          assert.equal(r.dynamodb.StreamViewType, viewType);
        }
        assertIncreasing(records, viewType);
      }));
    }

    it('LATEST starts after the existing records, AT_SEQUENCE_NUMBER re-reads a record and AFTER_SEQUENCE_NUMBER starts after it; GetRecords Limit pages through NextShardIterator', t(async () => {
      const { name, arn } = await streamTable('streams-iterators', 'NEW_IMAGE');
      const Key = { pk: S('k') };
      await put(name, { ...Key, v: N(1) });
      await update(name, Key, 'SET v = :v', { ':v': N(2) });
      await update(name, Key, 'SET v = :v', { ':v': N(3) });
      await waitRecords(arn, (rs) => rs.length >= 3);
      const all = await readAll(arn);
      const shardId = all[0].shardId;
      assert.ok(all.every((x) => x.shardId === shardId), 'the changes of one item were spread over shards');
      const seqs = all.map((x) => x.record.dynamodb.SequenceNumber);
      const vOf = (r) => r.dynamodb.NewImage.v.N;

      const at = await readShard(arn, shardId, 'AT_SEQUENCE_NUMBER', seqs[1]);
      assert.deepEqual(at.map((r) => r.dynamodb.SequenceNumber), seqs.slice(1));
      assert.deepEqual(at.map(vOf), ['2', '3']);
      const afterSecond = await readShard(arn, shardId, 'AFTER_SEQUENCE_NUMBER', seqs[1]);
      assert.deepEqual(afterSecond.map((r) => r.dynamodb.SequenceNumber), [seqs[2]]);
      assert.deepEqual(await readShard(arn, shardId, 'AFTER_SEQUENCE_NUMBER', seqs[2]), []);
      const paged = await readShard(arn, shardId, 'TRIM_HORIZON', undefined, 1);
      assert.deepEqual(paged.map((r) => r.dynamodb.SequenceNumber), seqs);

      let { ShardIterator } = await streams.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shardId, ShardIteratorType: 'LATEST' }));
      const empty = await streams.send(new GetRecordsCommand({ ShardIterator }));
      assert.deepEqual(empty.Records, [], 'LATEST returned records written before it');
      assert.ok(empty.NextShardIterator, 'an open shard read to its end gave no NextShardIterator');
      ShardIterator = empty.NextShardIterator;
      await update(name, Key, 'SET v = :v', { ':v': N(4) });
      const fresh = [];
      await waitFor(async () => {
        const r = await streams.send(new GetRecordsCommand({ ShardIterator }));
        fresh.push(...r.Records);
        ShardIterator = r.NextShardIterator;
        return fresh.length;
      }, (n) => n > 0, STREAM_WAIT_MS, 250);
      assert.deepEqual(fresh.map((r) => [r.eventName, vOf(r)]), [['MODIFY', '4']]);
      assert.ok(bigSeq(fresh[0]) > BigInt(seqs[2]));
      const again = await streams.send(new GetRecordsCommand({ ShardIterator }));
      assert.deepEqual(again.Records, [], 'a record was returned twice');
    }));

    it('iterator errors: a missing shard is ResourceNotFoundException; a sequence-number iterator without a number, TRIM_HORIZON with one, an unknown iterator type, a malformed iterator and Limit outside 1..1000 are ValidationException', t(async () => {
      const { name, arn } = await streamTable('streams-errors', 'KEYS_ONLY');
      await put(name, { pk: S('x') });
      const written = await waitFor(() => readAll(arn), (x) => x.length >= 1, STREAM_WAIT_MS, 250);
      assert.equal(written.length, 1, 'the write never reached the stream');
      const { shardId, record } = written[0];
      const seq = record.dynamodb.SequenceNumber;
      const iter = (input) => streams.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shardId, ...input }));
      await expectServiceError(() => iter({ ShardId: 'shardId-00000000000000000001-deadbeef', ShardIteratorType: 'LATEST' }), { name: 'ResourceNotFoundException', status: 400 });
      await expectServiceError(() => iter({ ShardIteratorType: 'AT_SEQUENCE_NUMBER' }), { name: 'ValidationException', status: 400 });
      await expectServiceError(() => iter({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' }), { name: 'ValidationException', status: 400 });
      await expectServiceError(() => iter({ ShardIteratorType: 'TRIM_HORIZON', SequenceNumber: seq }), { name: 'ValidationException', status: 400 });
      await expectServiceError(() => iter({ ShardIteratorType: 'SIDEWAYS' }), { name: 'ValidationException', status: 400 });
      await expectServiceError(() => streams.send(new GetRecordsCommand({ ShardIterator: 'x'.repeat(64) })), { name: 'ValidationException', status: 400 });
      const { ShardIterator } = await iter({ ShardIteratorType: 'TRIM_HORIZON' });
      await expectServiceError(() => streams.send(new GetRecordsCommand({ ShardIterator, Limit: 0 })), { name: 'ValidationException', status: 400 });
      await expectServiceError(() => streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1001 })), { name: 'ValidationException', status: 400 });
      const ok = await streams.send(new GetRecordsCommand({ ShardIterator, Limit: 1000 }));
      assert.deepEqual(ok.Records.map((r) => r.dynamodb.SequenceNumber), [seq]);
    }));

    it('a second stream cannot be enabled; a disabled stream closes its shards, records nothing more and stays readable; re-enabling creates a new stream', t(async () => {
      const { name, arn } = await streamTable('streams-disable', 'KEYS_ONLY');
      await expectServiceError(() => ddb.send(new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' } })),
        { name: 'ValidationException', status: 400, messageMatch: /already/ });
      await put(name, { pk: S('before') });
      await waitRecords(arn, (rs) => rs.length >= 1);
      await ddb.send(new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: false } }));
      await waitActive(name);
      const d = await waitFor(async () => (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription,
        (x) => x.StreamStatus === 'DISABLED', 60_000, 250);
      assert.equal(d.StreamStatus, 'DISABLED');
      for (const s of d.Shards) assert.match(s.SequenceNumberRange.EndingSequenceNumber ?? '', /^\d+$/, `shard ${s.ShardId} of a disabled stream is not closed`);
      await put(name, { pk: S('while-disabled') });
      const old = (await readAll(arn)).map((x) => x.record);
      assert.deepEqual(old.map((r) => [r.eventName, norm(r.dynamodb.Keys)]), [['INSERT', norm({ pk: S('before') })]]);

      await ddb.send(new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' } }));
      const tb = await waitActive(name);
      assert.ok(tb.LatestStreamArn && tb.LatestStreamArn !== arn, `re-enabling kept the old stream ARN ${tb.LatestStreamArn}`);
      assert.match(tb.LatestStreamArn, STREAM_ARN_RE);
      await waitStreamEnabled(tb.LatestStreamArn);
      const listed = (await streams.send(new ListStreamsCommand({ TableName: name }))).Streams.map((s) => s.StreamArn).sort();
      assert.deepEqual(listed, [arn, tb.LatestStreamArn].sort());
      await put(name, { pk: S('after') });
      const fresh = await waitRecords(tb.LatestStreamArn, (rs) => rs.length >= 1);
      assert.deepEqual(fresh.map((r) => [r.eventName, norm(r.dynamodb.NewImage)]), [['INSERT', norm({ pk: S('after') })]]);
      assert.equal((await readAll(arn)).length, 1, 'the disabled stream got a new record');
    }));

    it(`an item deleted by TTL appears as a REMOVE record whose userIdentity is the DynamoDB service (waiting up to ${TTL_WAIT_MS / 1000} s)`, { timeout: TTL_WAIT_MS + 120_000 }, t(async () => {
      const { name, arn } = await streamTable('streams-ttl', 'NEW_AND_OLD_IMAGES');
      await ddb.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } }));
      const expired = { pk: S('expired'), expiresAt: N(Math.floor(Date.now() / 1000) - 60) };
      await put(name, expired);
      await put(name, { pk: S('mine') });
      await del(name, { pk: S('mine') });
      const records = await waitRecords(arn, (rs) => rs.some((r) => r.eventName === 'REMOVE' && r.dynamodb.Keys.pk.S === 'expired'), TTL_WAIT_MS);
      const ttlRemove = records.find((r) => r.eventName === 'REMOVE' && r.dynamodb.Keys.pk.S === 'expired');
      assert.deepEqual(ttlRemove.userIdentity, { PrincipalId: 'dynamodb.amazonaws.com', Type: 'Service' });
      assert.deepEqual(norm(ttlRemove.dynamodb.OldImage), norm(expired));
      assert.equal(ttlRemove.dynamodb.NewImage, undefined);
      const userRemove = records.find((r) => r.eventName === 'REMOVE' && r.dynamodb.Keys.pk.S === 'mine');
      assert.equal(userRemove.userIdentity, undefined, 'a user delete carries a userIdentity');
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('event source mappings', () => {
    it('CreateEventSourceMapping on a LatestStreamArn reports the stream defaults; Get, List, Update and Delete work; a missing StartingPosition, an unknown stream and BatchSize 10001 are refused', t(async () => {
      const lambda = box.nimbus.lambda();
      const { arn } = await streamTable('esm-api', 'NEW_AND_OLD_IMAGES');
      const fn = await consumer('esm-api-fn');
      const dlq = await queue('esm-api-dlq');
      const created = await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: arn, StartingPosition: 'TRIM_HORIZON', Enabled: false }));
      assert.equal(created.$metadata.httpStatusCode, 202);
      assert.match(created.UUID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(created.EventSourceArn, arn);
      assert.equal(created.FunctionArn, functionArn(fn));
      assert.equal(created.StartingPosition, 'TRIM_HORIZON');
      assert.equal(created.State, 'Creating');
      // The documented defaults for DynamoDB streams.
      assert.equal(created.BatchSize, 100);
      assert.equal(created.MaximumBatchingWindowInSeconds, 0);
      assert.equal(created.ParallelizationFactor, 1);
      assert.equal(created.MaximumRetryAttempts, -1);
      assert.equal(created.MaximumRecordAgeInSeconds, -1);
      assert.equal(created.BisectBatchOnFunctionError, false);
      await waitMappingState(created.UUID, 'Disabled');
      const listed = await lambda.send(new ListEventSourceMappingsCommand({ EventSourceArn: arn }));
      assert.deepEqual(listed.EventSourceMappings.map((m) => m.UUID), [created.UUID]);
      const byFn = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: fn }));
      assert.deepEqual(byFn.EventSourceMappings.map((m) => m.UUID), [created.UUID]);

      const updated = await lambda.send(new UpdateEventSourceMappingCommand({
        UUID: created.UUID, BatchSize: 7, MaximumRetryAttempts: 2, BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'], DestinationConfig: { OnFailure: { Destination: dlq.arn } },
      }));
      assert.equal(updated.BatchSize, 7);
      const got = await lambda.send(new GetEventSourceMappingCommand({ UUID: created.UUID }));
      assert.equal(got.BatchSize, 7);
      assert.equal(got.MaximumRetryAttempts, 2);
      assert.equal(got.BisectBatchOnFunctionError, true);
      assert.deepEqual(got.FunctionResponseTypes, ['ReportBatchItemFailures']);
      assert.equal(got.DestinationConfig?.OnFailure?.Destination, dlq.arn);
      assert.equal(got.StartingPosition, 'TRIM_HORIZON');

      // Invalid mappings, for a function that has none (so no conflict check can answer first).
      const other = await consumer('esm-api-other');
      await expectServiceError(() => lambda.send(new CreateEventSourceMappingCommand({ FunctionName: other, EventSourceArn: arn })),
        { name: 'InvalidParameterValueException', status: 400 });
      await expectServiceError(() => lambda.send(new CreateEventSourceMappingCommand({ FunctionName: other, EventSourceArn: arn, StartingPosition: 'TRIM_HORIZON', BatchSize: 10001 })),
        { name: 'InvalidParameterValueException', status: 400 });
      await expectServiceError(() => lambda.send(new CreateEventSourceMappingCommand({
        FunctionName: other, EventSourceArn: `${tableArn(uniqueName('nostream'))}/stream/2020-01-01T00:00:00.000`, StartingPosition: 'LATEST',
      })), { name: ['InvalidParameterValueException', 'ResourceNotFoundException'] });
      assert.deepEqual((await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: other }))).EventSourceMappings, []);

      const deleted = await lambda.send(new DeleteEventSourceMappingCommand({ UUID: created.UUID }));
      assert.equal(deleted.State, 'Deleting');
      const gone = await waitFor(async () => {
        try {
          await lambda.send(new GetEventSourceMappingCommand({ UUID: created.UUID }));
          return false;
        } catch (e) {
          if (e.name === 'ResourceNotFoundException') return true;
          throw e;
        }
      }, (x) => x, 30_000, 250);
      assert.ok(gone, 'the deleted mapping is still there');
    }));

    it('TRIM_HORIZON delivers the changes made before the mapping existed, once each and in order per item, as INSERT, MODIFY and REMOVE records with eventSource aws:dynamodb, the stream ARN and both images', { timeout: DELIVERY_WAIT_MS + 120_000 }, t(async () => {
      const { name, arn } = await streamTable('esm-trim', 'NEW_AND_OLD_IMAGES');
      const startSec = Math.floor(Date.now() / 1000);
      await put(name, { pk: S('a'), v: N(1) });
      await update(name, { pk: S('a') }, 'SET v = :v', { ':v': N(2) });
      await put(name, { pk: S('b'), w: S('x') });
      await del(name, { pk: S('a') });
      const fn = await consumer('esm-trim-fn');
      await mapping(fn, arn, { StartingPosition: 'TRIM_HORIZON', BatchSize: 10 });
      const bs = await waitFor(() => batches(fn), (x) => x.flat().length >= 4, DELIVERY_WAIT_MS, 500);
      const records = bs.flat();
      assert.equal(records.length, 4, `want 4 records, got ${JSON.stringify(records.map((r) => [r.eventName, r.dynamodb?.Keys]))}`);
      assert.equal(new Set(records.map((r) => r.eventID)).size, 4, 'a record was delivered twice');
      for (const b of bs) assertIncreasing(b, 'a batch');
      const sorted = [...records].sort((x, y) => (bigSeq(x) < bigSeq(y) ? -1 : 1));
      assert.deepEqual(eventsFor(sorted, { pk: S('a') }), [
        ['INSERT', undefined, norm({ pk: S('a'), v: N(1) })],
        ['MODIFY', norm({ pk: S('a'), v: N(1) }), norm({ pk: S('a'), v: N(2) })],
        ['REMOVE', norm({ pk: S('a'), v: N(2) }), undefined],
      ]);
      assert.deepEqual(eventsFor(sorted, { pk: S('b') }), [['INSERT', undefined, norm({ pk: S('b'), w: S('x') })]]);
      for (const r of records) {
        assert.equal(r.eventSource, 'aws:dynamodb');
        assert.equal(r.eventSourceARN, arn);
        assert.equal(r.awsRegion, REGION);
        assert.equal(r.eventVersion, '1.1');
        assert.equal(typeof r.eventID, 'string');
        assert.equal(r.dynamodb.StreamViewType, 'NEW_AND_OLD_IMAGES');
        assert.match(r.dynamodb.SequenceNumber, /^\d+$/);
        assert.ok(r.dynamodb.SizeBytes > 0);
        // In the Lambda event ApproximateCreationDateTime is epoch seconds.
        assert.equal(typeof r.dynamodb.ApproximateCreationDateTime, 'number');
        assert.ok(Math.abs(r.dynamodb.ApproximateCreationDateTime - startSec) < 300, `ApproximateCreationDateTime ${r.dynamodb.ApproximateCreationDateTime}`);
      }
    }));

    it('LATEST skips the records written before the mapping and delivers the ones written after it', { timeout: DELIVERY_WAIT_MS + 120_000 }, t(async () => {
      const { name, arn } = await streamTable('esm-latest', 'NEW_IMAGE');
      await put(name, { pk: S('before') });
      const fn = await consumer('esm-latest-fn');
      const uuid = await mapping(fn, arn, { StartingPosition: 'LATEST', BatchSize: 10 });
      await waitMappingState(uuid, 'Enabled');
      // LATEST begins where the poller starts reading: keep writing until one arrives.
      let n = 0;
      const bs = await waitFor(async () => {
        await put(name, { pk: S(`after-${n++}`) });
        return batches(fn);
      }, (x) => x.flat().length > 0, DELIVERY_WAIT_MS, 1000);
      const pks = bs.flat().map((r) => r.dynamodb.Keys.pk.S);
      assert.ok(pks.length > 0, 'nothing written after the mapping was delivered');
      assert.ok(!pks.includes('before'), `a record written before the LATEST mapping was delivered: ${pks}`);
      assert.ok(pks.every((p) => p.startsWith('after-')), pks.join(','));
    }));

    it('BatchSize caps the records per invocation', { timeout: DELIVERY_WAIT_MS + 120_000 }, t(async () => {
      const { name, arn } = await streamTable('esm-batchsize', 'KEYS_ONLY', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      for (let i = 1; i <= 7; i++) await put(name, { pk: S('p'), sk: N(i) });
      const fn = await consumer('esm-batchsize-fn');
      await mapping(fn, arn, { StartingPosition: 'TRIM_HORIZON', BatchSize: 3 });
      const bs = await waitFor(() => batches(fn), (x) => x.flat().length >= 7, DELIVERY_WAIT_MS, 500);
      for (const b of bs) assert.ok(b.length >= 1 && b.length <= 3, `a batch of ${b.length} with BatchSize 3`);
      assert.ok(bs.length >= 3);
      assert.deepEqual(bs.flat().map(skOf), [1, 2, 3, 4, 5, 6, 7]);
    }));

    it('a failing batch is retried MaximumRetryAttempts times, then its record goes to the OnFailure queue and the records after it are delivered', { timeout: DELIVERY_WAIT_MS * 2 + 120_000 }, t(async () => {
      const { name, arn } = await streamTable('esm-retry', 'NEW_AND_OLD_IMAGES', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      await put(name, { pk: S('p'), sk: N(1), mode: S('boom') });
      await put(name, { pk: S('p'), sk: N(2), mode: S('fine') });
      const fn = await consumer('esm-retry-fn');
      const dlq = await queue('esm-retry-dlq');
      await mapping(fn, arn, { StartingPosition: 'TRIM_HORIZON', BatchSize: 1, MaximumRetryAttempts: 2, DestinationConfig: { OnFailure: { Destination: dlq.arn } } });
      const bs = await waitFor(() => batches(fn), (x) => x.flat().some((r) => skOf(r) === 2), DELIVERY_WAIT_MS, 500);
      const bad = deliveries(bs, (r) => skOf(r) === 1);
      const good = deliveries(bs, (r) => skOf(r) === 2);
      assert.equal(bad.length, 3, `the failing record was delivered ${bad.length} times, want 1 + MaximumRetryAttempts 2`);
      assert.equal(good.length, 1, 'the record after it was not delivered exactly once');
      assert.ok(Math.max(...bad) < good[0], 'a later record was delivered before the failing one was given up');
      const badSeq = bs[bad[0]][0].dynamodb.SequenceNumber;

      const [msg] = await receiveAll(dlq.url, 1);
      const rec = JSON.parse(msg.Body);
      assert.equal(rec.version, '1.0');
      assert.ok(!Number.isNaN(Date.parse(rec.timestamp)), `timestamp ${rec.timestamp}`);
      assert.equal(rec.requestContext.condition, 'RetryAttemptsExhausted');
      assert.equal(rec.requestContext.approximateInvokeCount, 3);
      assert.match(rec.requestContext.functionArn, new RegExp(`^${escapeRe(functionArn(fn))}(:\\$LATEST)?$`));
      assert.match(rec.requestContext.requestId, /^[0-9a-f-]{36}$/);
      assert.equal(rec.responseContext.statusCode, 200);
      assert.equal(rec.responseContext.functionError, 'Unhandled');
      assert.equal(rec.responseContext.executedVersion, '$LATEST');
      const info = rec.DDBStreamBatchInfo;
      assert.ok(info, `no DDBStreamBatchInfo in ${msg.Body}`);
      assert.equal(info.streamArn, arn);
      assert.equal(info.batchSize, 1);
      assert.equal(info.startSequenceNumber, badSeq);
      assert.equal(info.endSequenceNumber, badSeq);
      assert.equal(typeof info.shardId, 'string');
      assert.ok(!Number.isNaN(Date.parse(info.approximateArrivalOfFirstRecord)) && !Number.isNaN(Date.parse(info.approximateArrivalOfLastRecord)));
    }));

    it('BisectBatchOnFunctionError splits a failing batch until the bad record is alone: every other record is processed once and only the bad one reaches the OnFailure queue', { timeout: DELIVERY_WAIT_MS * 2 + 120_000 }, t(async () => {
      const { name, arn } = await streamTable('esm-bisect', 'NEW_IMAGE', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      await put(name, { pk: S('p'), sk: N(1) });
      await put(name, { pk: S('p'), sk: N(2) });
      await put(name, { pk: S('p'), sk: N(3), mode: S('boom') });
      await put(name, { pk: S('p'), sk: N(4) });
      const fn = await consumer('esm-bisect-fn');
      const dlq = await queue('esm-bisect-dlq');
      await mapping(fn, arn, {
        StartingPosition: 'TRIM_HORIZON', BatchSize: 4, MaximumRetryAttempts: 1, BisectBatchOnFunctionError: true,
        DestinationConfig: { OnFailure: { Destination: dlq.arn } },
      });
      const [msg] = await receiveAll(dlq.url, 1);
      const bs = await waitFor(() => batches(fn), (x) => x.some((b) => !b.some((r) => skOf(r) === 3) && b.some((r) => skOf(r) === 4)), DELIVERY_WAIT_MS, 500);
      const ok = bs.filter((b) => !b.some((r) => skOf(r) === 3));
      for (const sk of [1, 2, 4]) assert.equal(ok.flat().filter((r) => skOf(r) === sk).length, 1, `record ${sk} was not processed exactly once: ${JSON.stringify(bs.map((b) => b.map(skOf)))}`);
      assert.ok(bs.some((b) => b.length === 1 && skOf(b[0]) === 3), `the bad record was never isolated: ${JSON.stringify(bs.map((b) => b.map(skOf)))}`);
      const badSeq = bs.flat().find((r) => skOf(r) === 3).dynamodb.SequenceNumber;
      const info = JSON.parse(msg.Body).DDBStreamBatchInfo;
      assert.equal(info.batchSize, 1);
      assert.equal(info.startSequenceNumber, badSeq);
      assert.equal(info.endSequenceNumber, badSeq);
    }));

    it('ReportBatchItemFailures: the batch is retried from the first reported SequenceNumber, so the records before it are not delivered again', { timeout: DELIVERY_WAIT_MS + 120_000 }, t(async () => {
      const { name, arn } = await streamTable('esm-partial', 'NEW_IMAGE', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      await put(name, { pk: S('p'), sk: N(1), mode: S('first') });
      await put(name, { pk: S('p'), sk: N(2) });
      await put(name, { pk: S('p'), sk: N(3), mode: S('partial') });
      await put(name, { pk: S('p'), sk: N(4) });
      const fn = await consumer('esm-partial-fn');
      await mapping(fn, arn, { StartingPosition: 'TRIM_HORIZON', BatchSize: 10, MaximumRetryAttempts: 2, FunctionResponseTypes: ['ReportBatchItemFailures'] });
      const bs = await waitFor(() => batches(fn), (x) => deliveries(x, (r) => skOf(r) === 3).length >= 2, DELIVERY_WAIT_MS, 500);
      const shape = JSON.stringify(bs.map((b) => b.map(skOf)));
      assert.deepEqual(bs[0].map(skOf), [1, 2, 3, 4], `the first batch: ${shape}`);
      assert.equal(deliveries(bs, (r) => skOf(r) === 1).length, 1, `record 1 delivered again: ${shape}`);
      assert.equal(deliveries(bs, (r) => skOf(r) === 2).length, 1, `record 2 delivered again: ${shape}`);
      for (const i of deliveries(bs, (r) => skOf(r) === 3).slice(1)) assert.equal(skOf(bs[i][0]), 3, `a retry did not start at the reported record: ${shape}`);
      // The retry succeeded (its batch had no "first" record), so nothing more is delivered.
      await sleep(3000);
      assert.equal(deliveries(await batches(fn), (r) => skOf(r) === 3).length, 2, `record 3 delivered again after a successful retry: ${shape}`);
    }));
  });
});
