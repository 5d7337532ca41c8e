// The DynamoDB-compatible table service (issue #6), served on the Nimbus port (AWS JSON
// 1.0, X-Amz-Target DynamoDB_20120810.*, SigV4 service "dynamodb") and driven with
// @aws-sdk/client-dynamodb and @aws-sdk/lib-dynamodb exactly as an application would:
// tables (CreateTable with every key type, indexes and billing mode, DescribeTable,
// ListTables paging, DeleteTable, UpdateTable adding and deleting a GSI and enabling a
// stream, the errors for duplicates, missing tables and bad definitions), items (every
// attribute type, number precision, conditions, every UpdateExpression action, nested
// paths, ReturnValues, projections, placeholders, reserved words, the 400 KB limit, key
// validation), Query and Scan (key conditions, sort orders, paging, filters, counts,
// indexes, parallel scans), batches, transactions, the document client, TTL, and a
// restart. Each test uses tables of its own (RUN_ID-prefixed), so a partial service shows
// which features work.
//
// Expectations follow AWS's documented behaviour and the error messages DynamoDB sends;
// the messages are matched on their documented core, errors on the SDK's `name` and the
// HTTP status (400 for every client error). Stream records and stream-triggered functions
// are in dynamodb_streams.test.mjs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DynamoDBClient,
  CreateTableCommand,
  DescribeTableCommand,
  ListTablesCommand,
  DeleteTableCommand,
  UpdateTableCommand,
  PutItemCommand,
  GetItemCommand,
  DeleteItemCommand,
  UpdateItemCommand,
  QueryCommand,
  ScanCommand,
  BatchWriteItemCommand,
  BatchGetItemCommand,
  TransactWriteItemsCommand,
  TransactGetItemsCommand,
  UpdateTimeToLiveCommand,
  DescribeTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  PutCommand,
  GetCommand,
  UpdateCommand,
  QueryCommand as DocQueryCommand,
  NumberValue,
} from '@aws-sdk/lib-dynamodb';
import { useNimbus, withLogs, withDaemon, waitFor, uniqueName, SKIP_NO_BINARY, REGION, ACCOUNT, CREDENTIALS } from '../lib/nimbus.mjs';
import { expectServiceError } from '../lib/lambda.mjs';

// How long a test waits for an expired item to be swept. AWS deletes expired items
// "typically within two days"; how often Nimbus sweeps is not decided yet.
const TTL_WAIT_MS = Number(process.env.NIMBUS_DDB_TTL_WAIT_MS || 90_000);
// How long a new table (or a new index) may take to become ACTIVE.
const ACTIVE_TIMEOUT_MS = Number(process.env.NIMBUS_DDB_ACTIVE_TIMEOUT_MS || 30_000);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NOT_FOUND_ITEM_OP = /Requested resource not found|Cannot do operations on a non-existent table/;

// --- clients ---------------------------------------------------------------------------

// One attempt, so no retry hides a 5xx or a throttle; a hung request fails after 30 s.
function ddbClient(nimbus) {
  return new DynamoDBClient({
    endpoint: nimbus.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 30_000, throwOnRequestTimeout: true },
  });
}

// Records the headers of every request the client sends, after signing.
function captureRequests(client) {
  const sent = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const headers = {};
      for (const [k, v] of Object.entries(args.request.headers ?? {})) headers[k.toLowerCase()] = v;
      sent.push({ method: args.request.method, path: args.request.path, headers });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'e2eCaptureRequests', priority: 'low' },
  );
  return sent;
}

// --- attribute values --------------------------------------------------------------------

const S = (v) => ({ S: v });
const N = (v) => ({ N: String(v) });
const B = (bytes) => ({ B: Uint8Array.from(bytes) });
const BOOL = (v) => ({ BOOL: v });
const NULL = () => ({ NULL: true });
const L = (...v) => ({ L: v });
const M = (o) => ({ M: o });
const SS = (...v) => ({ SS: v });
const NS = (...v) => ({ NS: v.map(String) });
const BS = (...v) => ({ BS: v.map((b) => Uint8Array.from(b)) });

// A comparable form of an item or attribute value: binary as base64, set members
// sorted (sets are unordered).
function norm(v) {
  if (v === undefined || v === null) return v;
  if (v instanceof Uint8Array) return `base64:${Buffer.from(v).toString('base64')}`;
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] = (k === 'SS' || k === 'NS' || k === 'BS') && Array.isArray(x) ? x.map(norm).sort() : norm(x);
  }
  return out;
}

function assertItem(actual, expected, what = 'item') {
  assert.deepEqual(norm(actual), norm(expected), `${what}: got ${JSON.stringify(norm(actual))}`);
}

// --- tables ------------------------------------------------------------------------------

const tableArn = (name) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;

function keys(hash, range) {
  const ks = [{ AttributeName: hash, KeyType: 'HASH' }];
  if (range) ks.push({ AttributeName: range, KeyType: 'RANGE' });
  return ks;
}

function defs(o) {
  return Object.entries(o).map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

function gsi(IndexName, hash, range, ProjectionType = 'ALL', NonKeyAttributes) {
  return { IndexName, KeySchema: keys(hash, range), Projection: NonKeyAttributes ? { ProjectionType, NonKeyAttributes } : { ProjectionType } };
}

async function describeTable(ddb, TableName) {
  return (await ddb.send(new DescribeTableCommand({ TableName }))).Table;
}

// Polls DescribeTable until the table and all its GSIs are ACTIVE.
async function waitActive(ddb, TableName, timeoutMs = ACTIVE_TIMEOUT_MS) {
  const ready = (t) => t.TableStatus === 'ACTIVE' && (t.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE');
  const t = await waitFor(() => describeTable(ddb, TableName), ready, timeoutMs, 100);
  assert.ok(ready(t), `table ${TableName} (or one of its indexes) not ACTIVE within ${timeoutMs} ms: ${JSON.stringify(t)}`);
  return t;
}

// Creates an on-demand table (hash key "pk" of type S unless `input` says otherwise) named
// after `base`, waits for it to be ACTIVE; returns { name, created, table }.
async function createTable(ddb, base, input = {}) {
  const TableName = uniqueName(base);
  const out = await ddb.send(new CreateTableCommand({
    TableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: defs({ pk: 'S' }),
    KeySchema: keys('pk'),
    ...input,
  }));
  const table = await waitActive(ddb, TableName);
  return { name: TableName, created: out.TableDescription, table };
}

async function put(ddb, TableName, Item, extra = {}) {
  return ddb.send(new PutItemCommand({ TableName, Item, ...extra }));
}

async function get(ddb, TableName, Key, extra = {}) {
  return (await ddb.send(new GetItemCommand({ TableName, Key, ConsistentRead: true, ...extra }))).Item;
}

async function update(ddb, TableName, Key, UpdateExpression, { values, names, ...extra } = {}) {
  return ddb.send(new UpdateItemCommand({
    TableName, Key, UpdateExpression, ExpressionAttributeValues: values, ExpressionAttributeNames: names, ...extra,
  }));
}

// Writes items 25 at a time.
async function putAll(ddb, TableName, items) {
  for (let i = 0; i < items.length; i += 25) {
    const out = await ddb.send(new BatchWriteItemCommand({
      RequestItems: { [TableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
    }));
    assert.deepEqual(out.UnprocessedItems ?? {}, {}, 'BatchWriteItem left unprocessed items');
  }
}

// Every page of a Query or Scan: follows LastEvaluatedKey (at most `maxPages` pages).
async function pages(ddb, Command, input, maxPages = 100) {
  const out = [];
  let ExclusiveStartKey;
  for (let i = 0; i < maxPages; i++) {
    const page = await ddb.send(new Command({ ...input, ExclusiveStartKey }));
    out.push(page);
    ExclusiveStartKey = page.LastEvaluatedKey;
    if (!ExclusiveStartKey) return out;
  }
  assert.fail(`still paging after ${maxPages} pages of ${JSON.stringify(input)}`);
}

// Every table name, following LastEvaluatedTableName (a page holds at most 100).
async function listAllTables(ddb) {
  const names = [];
  let ExclusiveStartTableName;
  for (let i = 0; i < 1000; i++) {
    const page = await ddb.send(new ListTablesCommand({ ExclusiveStartTableName }));
    names.push(...page.TableNames);
    ExclusiveStartTableName = page.LastEvaluatedTableName;
    if (!ExclusiveStartTableName) return names;
  }
  assert.fail('ListTables never ended');
}

function expectDdbError(fn, name, messageMatch) {
  return expectServiceError(fn, { name, status: 400, messageMatch });
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// =========================================================================================

describe('DynamoDB tables and items (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let client;
  const ddb = () => (client ??= ddbClient(box.nimbus));
  after(() => client?.destroy());

  const create = (base, input) => createTable(ddb(), base, input);

  // ---------------------------------------------------------------------------------------
  describe('tables', () => {
    it('CreateTable with a hash key returns its description, and DescribeTable reports it ACTIVE with its key schema, attribute definitions, ARN, no items and on-demand billing; requests are AWS JSON 1.0 signed for "dynamodb"', t(async () => {
      const c = ddbClient(box.nimbus);
      const sent = captureRequests(c);
      try {
        const name = uniqueName('basic');
        const out = await c.send(new CreateTableCommand({
          TableName: name, AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk'), BillingMode: 'PAY_PER_REQUEST',
        }));
        assert.equal(out.$metadata.httpStatusCode, 200);
        assert.equal(sent[0].headers['x-amz-target'], 'DynamoDB_20120810.CreateTable');
        assert.match(sent[0].headers['content-type'], /^application\/x-amz-json-1\.0/);
        assert.match(sent[0].headers.authorization, new RegExp(`/${REGION}/dynamodb/aws4_request`));

        const d = out.TableDescription;
        assert.equal(d.TableName, name);
        assert.ok(['CREATING', 'ACTIVE'].includes(d.TableStatus), `CreateTable TableStatus ${d.TableStatus}`);
        assert.equal(d.TableArn, tableArn(name));
        assert.deepEqual(d.KeySchema, keys('pk'));
        assert.deepEqual(d.AttributeDefinitions, defs({ pk: 'S' }));
        assert.ok(d.CreationDateTime instanceof Date, `CreationDateTime ${d.CreationDateTime}`);
        assert.ok(Math.abs(d.CreationDateTime.getTime() - Date.now()) < 300_000, `CreationDateTime ${d.CreationDateTime.toISOString()} is not now`);

        const tb = await waitActive(c, name);
        assert.equal(tb.TableName, name);
        assert.equal(tb.TableStatus, 'ACTIVE');
        assert.equal(tb.TableArn, tableArn(name));
        assert.match(tb.TableId ?? '', UUID_RE);
        if (d.TableId !== undefined) assert.equal(tb.TableId, d.TableId);
        assert.deepEqual(tb.KeySchema, keys('pk'));
        assert.deepEqual(tb.AttributeDefinitions, defs({ pk: 'S' }));
        assert.equal(tb.ItemCount, 0);
        assert.equal(tb.TableSizeBytes, 0);
        assert.equal(tb.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
        assert.equal(tb.ProvisionedThroughput?.ReadCapacityUnits, 0);
        assert.equal(tb.ProvisionedThroughput?.WriteCapacityUnits, 0);
        assert.equal(tb.GlobalSecondaryIndexes, undefined);
        assert.equal(tb.LocalSecondaryIndexes, undefined);
        assert.equal(tb.CreationDateTime.getTime(), d.CreationDateTime.getTime());
        assert.equal(sent.at(-1).headers['x-amz-target'], 'DynamoDB_20120810.DescribeTable');

        // ItemCount is refreshed "approximately every six hours" on AWS: after writes it is
        // either still 0 or the true count, never anything else.
        for (const id of ['a', 'b', 'c']) await put(c, name, { pk: S(id) });
        const after3 = await describeTable(c, name);
        assert.ok([0, 3].includes(after3.ItemCount), `ItemCount ${after3.ItemCount} after 3 puts`);
      } finally {
        c.destroy();
      }
    }));

    it('hash-and-range tables with S, N and B keys store and return items keyed by each type', t(async () => {
      const sn = await create('keys-sn', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      assert.deepEqual(sn.table.KeySchema, keys('pk', 'sk'));
      assert.deepEqual(sn.table.AttributeDefinitions.map((a) => `${a.AttributeName}:${a.AttributeType}`).sort(), ['pk:S', 'sk:N']);
      const nb = await create('keys-nb', { AttributeDefinitions: defs({ h: 'N', r: 'B' }), KeySchema: keys('h', 'r') });
      const b = await create('keys-b', { AttributeDefinitions: defs({ id: 'B' }), KeySchema: keys('id') });

      await put(ddb(), sn.name, { pk: S('a'), sk: N(1), v: S('one') });
      await put(ddb(), sn.name, { pk: S('a'), sk: N(2), v: S('two') });
      assertItem(await get(ddb(), sn.name, { pk: S('a'), sk: N(2) }), { pk: S('a'), sk: N(2), v: S('two') });
      assertItem(await get(ddb(), sn.name, { pk: S('a'), sk: N('1.0') }), { pk: S('a'), sk: N(1), v: S('one') }, 'a number key is matched by value');

      await put(ddb(), nb.name, { h: N(-7.5), r: B([0, 255, 1]), v: S('x') });
      assertItem(await get(ddb(), nb.name, { h: N(-7.5), r: B([0, 255, 1]) }), { h: N(-7.5), r: B([0, 255, 1]), v: S('x') });
      assert.equal(await get(ddb(), nb.name, { h: N(-7.5), r: B([0, 255]) }), undefined, 'a binary key prefix matched');

      await put(ddb(), b.name, { id: B([1, 2, 3]), v: N(3) });
      const got = await get(ddb(), b.name, { id: B([1, 2, 3]) });
      assert.ok(got.id.B instanceof Uint8Array);
      assert.deepEqual([...got.id.B], [1, 2, 3]);
    }));

    it('BillingMode PROVISIONED with ProvisionedThroughput is accepted and reported; PROVISIONED without throughput and PAY_PER_REQUEST with throughput are refused', t(async () => {
      const p = await create('provisioned', { BillingMode: 'PROVISIONED', ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 7 } });
      assert.equal(p.table.ProvisionedThroughput.ReadCapacityUnits, 5);
      assert.equal(p.table.ProvisionedThroughput.WriteCapacityUnits, 7);
      // A table created as PROVISIONED may report BillingModeSummary or omit it.
      assert.equal(p.table.BillingModeSummary?.BillingMode ?? 'PROVISIONED', 'PROVISIONED');
      await put(ddb(), p.name, { pk: S('x') });
      assertItem(await get(ddb(), p.name, { pk: S('x') }), { pk: S('x') });

      const base = { AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk') };
      await expectDdbError(() => ddb().send(new CreateTableCommand({ TableName: uniqueName('prov-missing'), BillingMode: 'PROVISIONED', ...base })),
        'ValidationException', /ReadCapacityUnits|WriteCapacityUnits|ProvisionedThroughput/);
      await expectDdbError(() => ddb().send(new CreateTableCommand({ TableName: uniqueName('default-missing'), ...base })),
        'ValidationException', /ReadCapacityUnits|WriteCapacityUnits|ProvisionedThroughput/);
      await expectDdbError(() => ddb().send(new CreateTableCommand({
        TableName: uniqueName('ondemand-thr'), BillingMode: 'PAY_PER_REQUEST', ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 }, ...base,
      })), 'ValidationException', /ReadCapacityUnits|WriteCapacityUnits|ProvisionedThroughput|PAY_PER_REQUEST/);
    }));

    it('global and local secondary indexes with ALL, KEYS_ONLY and INCLUDE projections are described with their key schemas, projections, ARNs and ACTIVE status', t(async () => {
      const { name, table } = await create('indexes', {
        AttributeDefinitions: defs({ pk: 'S', sk: 'S', gk: 'S', gs: 'N', lk: 'N' }),
        KeySchema: keys('pk', 'sk'),
        GlobalSecondaryIndexes: [
          gsi('gAll', 'gk', 'gs', 'ALL'),
          gsi('gKeys', 'gk', undefined, 'KEYS_ONLY'),
          gsi('gInc', 'gs', undefined, 'INCLUDE', ['title', 'note']),
        ],
        LocalSecondaryIndexes: [
          gsi('lAll', 'pk', 'lk', 'ALL'),
          gsi('lInc', 'pk', 'lk', 'INCLUDE', ['title']),
        ],
      });
      const byName = (list) => Object.fromEntries((list ?? []).map((x) => [x.IndexName, x]));
      const g = byName(table.GlobalSecondaryIndexes);
      assert.deepEqual(Object.keys(g).sort(), ['gAll', 'gInc', 'gKeys']);
      const expectG = { gAll: [keys('gk', 'gs'), 'ALL'], gKeys: [keys('gk'), 'KEYS_ONLY'], gInc: [keys('gs'), 'INCLUDE'] };
      for (const [ix, [ks, type]] of Object.entries(expectG)) {
        assert.deepEqual(g[ix].KeySchema, ks, `${ix} KeySchema`);
        assert.equal(g[ix].Projection.ProjectionType, type, `${ix} ProjectionType`);
        assert.equal(g[ix].IndexStatus, 'ACTIVE', `${ix} IndexStatus`);
        assert.equal(g[ix].IndexArn, `${tableArn(name)}/index/${ix}`);
        assert.equal(g[ix].ItemCount, 0);
      }
      assert.deepEqual([...g.gInc.Projection.NonKeyAttributes].sort(), ['note', 'title']);
      const l = byName(table.LocalSecondaryIndexes);
      assert.deepEqual(Object.keys(l).sort(), ['lAll', 'lInc']);
      assert.deepEqual(l.lAll.KeySchema, keys('pk', 'lk'));
      assert.equal(l.lAll.Projection.ProjectionType, 'ALL');
      assert.equal(l.lInc.Projection.ProjectionType, 'INCLUDE');
      assert.deepEqual(l.lInc.Projection.NonKeyAttributes, ['title']);
      assert.equal(l.lAll.IndexArn, `${tableArn(name)}/index/lAll`);
      assert.equal(l.lInc.IndexArn, `${tableArn(name)}/index/lInc`);
      assert.deepEqual(table.AttributeDefinitions.map((a) => `${a.AttributeName}:${a.AttributeType}`).sort(), ['gk:S', 'gs:N', 'lk:N', 'pk:S', 'sk:S']);
    }));

    it('ListTables pages with Limit and ExclusiveStartTableName through every table exactly once, in name order', t(async () => {
      const base = uniqueName('list');
      const names = [3, 0, 4, 1, 2].map((i) => `${base}-${i}`);
      for (const TableName of names) {
        await ddb().send(new CreateTableCommand({ TableName, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk') }));
      }
      for (const TableName of names) await waitActive(ddb(), TableName);
      const all = [];
      let ExclusiveStartTableName;
      for (let i = 0; i < 500; i++) {
        const page = await ddb().send(new ListTablesCommand({ Limit: 2, ExclusiveStartTableName }));
        assert.ok(page.TableNames.length <= 2, `page of ${page.TableNames.length} with Limit 2`);
        all.push(...page.TableNames);
        if (page.LastEvaluatedTableName !== undefined) assert.equal(page.LastEvaluatedTableName, page.TableNames.at(-1));
        ExclusiveStartTableName = page.LastEvaluatedTableName;
        if (!ExclusiveStartTableName) break;
      }
      assert.equal(ExclusiveStartTableName, undefined, 'ListTables never ended');
      assert.deepEqual(all.filter((n) => n.startsWith(`${base}-`)), [...names].sort());
      assert.deepEqual(all, [...all].sort(), 'ListTables is not in name order');
      assert.equal(new Set(all).size, all.length, 'a table was listed twice');
      // Without Limit a page holds at most 100 names: the first 100 of the same order.
      const unpaged = (await ddb().send(new ListTablesCommand({}))).TableNames;
      assert.ok(unpaged.length <= 100, `an unpaged ListTables returned ${unpaged.length} names`);
      assert.deepEqual(unpaged, all.slice(0, unpaged.length));
      await expectDdbError(() => ddb().send(new ListTablesCommand({ Limit: 0 })), 'ValidationException');
      await expectDdbError(() => ddb().send(new ListTablesCommand({ Limit: 101 })), 'ValidationException');
    }));

    it('DeleteTable returns the description as DELETING; the table then disappears from DescribeTable, ListTables and item operations, and its name can be reused', t(async () => {
      const { name } = await create('delete');
      await put(ddb(), name, { pk: S('x'), v: S('old') });
      const out = await ddb().send(new DeleteTableCommand({ TableName: name }));
      assert.equal(out.TableDescription.TableName, name);
      assert.equal(out.TableDescription.TableStatus, 'DELETING');
      assert.equal(out.TableDescription.TableArn, tableArn(name));
      const gone = await waitFor(async () => {
        try {
          await describeTable(ddb(), name);
          return false;
        } catch (e) {
          if (e.name === 'ResourceNotFoundException') return true;
          throw e;
        }
      }, (v) => v, ACTIVE_TIMEOUT_MS, 100);
      assert.ok(gone, `${name} still described ${ACTIVE_TIMEOUT_MS} ms after DeleteTable`);
      assert.ok(!(await listAllTables(ddb())).includes(name), `${name} still listed after it was deleted`);
      await expectDdbError(() => get(ddb(), name, { pk: S('x') }), 'ResourceNotFoundException', NOT_FOUND_ITEM_OP);
      await expectDdbError(() => ddb().send(new DeleteTableCommand({ TableName: name })), 'ResourceNotFoundException');

      await ddb().send(new CreateTableCommand({ TableName: name, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk') }));
      await waitActive(ddb(), name);
      assert.equal(await get(ddb(), name, { pk: S('x') }), undefined, 'an item of the deleted table came back');
    }));

    it('creating a table whose name exists is refused with ResourceInUseException', t(async () => {
      const { name } = await create('dup');
      await expectDdbError(() => ddb().send(new CreateTableCommand({
        TableName: name, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk'),
      })), 'ResourceInUseException', new RegExp(`Table already exists: ${escapeRe(name)}`));
    }));

    it('operations on a missing table fail with ResourceNotFoundException', t(async () => {
      const name = uniqueName('missing');
      await expectDdbError(() => describeTable(ddb(), name), 'ResourceNotFoundException', new RegExp(`^Requested resource not found: Table: ${escapeRe(name)} not found$`));
      await expectDdbError(() => ddb().send(new DeleteTableCommand({ TableName: name })), 'ResourceNotFoundException', /Requested resource not found/);
      await expectDdbError(() => ddb().send(new UpdateTableCommand({ TableName: name, BillingMode: 'PAY_PER_REQUEST' })), 'ResourceNotFoundException', /Requested resource not found/);
      await expectDdbError(() => put(ddb(), name, { pk: S('x') }), 'ResourceNotFoundException', NOT_FOUND_ITEM_OP);
      await expectDdbError(() => get(ddb(), name, { pk: S('x') }), 'ResourceNotFoundException', NOT_FOUND_ITEM_OP);
      await expectDdbError(() => update(ddb(), name, { pk: S('x') }, 'SET a1 = :v', { values: { ':v': N(1) } }), 'ResourceNotFoundException', NOT_FOUND_ITEM_OP);
      await expectDdbError(() => ddb().send(new DeleteItemCommand({ TableName: name, Key: { pk: S('x') } })), 'ResourceNotFoundException', NOT_FOUND_ITEM_OP);
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('x') } })), 'ResourceNotFoundException', NOT_FOUND_ITEM_OP);
      await expectDdbError(() => ddb().send(new ScanCommand({ TableName: name })), 'ResourceNotFoundException', NOT_FOUND_ITEM_OP);
    }));

    it('invalid table definitions are refused with ValidationException', t(async () => {
      const cases = [
        ['a key attribute without a definition', { AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk', 'sk') }, /no definition|not defined/],
        ['a definition no key uses', { AttributeDefinitions: defs({ pk: 'S', extra: 'S' }), KeySchema: keys('pk') }, /Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions/],
        ['two HASH keys', { AttributeDefinitions: defs({ pk: 'S', sk: 'S' }), KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'HASH' }] }, /KeySchema/],
        ['a RANGE key only', { AttributeDefinitions: defs({ pk: 'S' }), KeySchema: [{ AttributeName: 'pk', KeyType: 'RANGE' }] }, /KeySchema/],
        ['a BOOL key type', { AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'BOOL' }], KeySchema: keys('pk') }, /attributeType|AttributeType|Member must satisfy enum value set/],
        ['a GSI key without a definition', { AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk'), GlobalSecondaryIndexes: [gsi('gsi1', 'gk')] }, /not defined in AttributeDefinitions|no definition/],
        ['an LSI on a table without a range key', { AttributeDefinitions: defs({ pk: 'S', lk: 'S' }), KeySchema: keys('pk'), LocalSecondaryIndexes: [gsi('lsi1', 'pk', 'lk')] }, /range key/],
        ['an LSI with another hash key', { AttributeDefinitions: defs({ pk: 'S', sk: 'S', other: 'S' }), KeySchema: keys('pk', 'sk'), LocalSecondaryIndexes: [gsi('lsi1', 'other', 'sk')] }, /hash key/],
        ['two indexes with one name', { AttributeDefinitions: defs({ pk: 'S', gk: 'S' }), KeySchema: keys('pk'), GlobalSecondaryIndexes: [gsi('same', 'gk'), gsi('same', 'gk')] }, /[Dd]uplicate/],
      ];
      for (const [what, input, re] of cases) {
        const TableName = uniqueName('bad');
        const err = await expectServiceError(() => ddb().send(new CreateTableCommand({ TableName, BillingMode: 'PAY_PER_REQUEST', ...input })),
          { name: 'ValidationException', status: 400 });
        assert.match(err.message, re, `${what}: ${err.message}`);
        await expectDdbError(() => describeTable(ddb(), TableName), 'ResourceNotFoundException');
      }
      for (const TableName of ['ab', 'has space', 'x'.repeat(256), 'bad!name']) {
        await expectDdbError(() => ddb().send(new CreateTableCommand({
          TableName, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk'),
        })), 'ValidationException', /tableName|TableName/);
      }
    }));

    it('UpdateTable adds a global secondary index that becomes ACTIVE and serves items written before it existed', t(async () => {
      const { name } = await create('add-gsi');
      await putAll(ddb(), name, [
        { pk: S('a'), color: S('red'), n: N(1) },
        { pk: S('b'), color: S('blue'), n: N(2) },
        { pk: S('c'), color: S('red'), n: N(3) },
        { pk: S('d'), n: N(4) },
      ]);
      const out = await ddb().send(new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: defs({ pk: 'S', color: 'S' }),
        GlobalSecondaryIndexUpdates: [{ Create: gsi('byColor', 'color', undefined, 'ALL') }],
      }));
      const created = out.TableDescription.GlobalSecondaryIndexes?.find((g) => g.IndexName === 'byColor');
      assert.ok(created, `UpdateTable's description lacks the new index: ${JSON.stringify(out.TableDescription)}`);
      assert.ok(['CREATING', 'ACTIVE'].includes(created.IndexStatus), created.IndexStatus);
      const tb = await waitActive(ddb(), name);
      const g = tb.GlobalSecondaryIndexes.find((x) => x.IndexName === 'byColor');
      assert.deepEqual(g.KeySchema, keys('color'));
      assert.equal(g.IndexArn, `${tableArn(name)}/index/byColor`);
      assert.ok(tb.AttributeDefinitions.some((a) => a.AttributeName === 'color' && a.AttributeType === 'S'));
      const q = await ddb().send(new QueryCommand({ TableName: name, IndexName: 'byColor', KeyConditionExpression: 'color = :c', ExpressionAttributeValues: { ':c': S('red') } }));
      assert.deepEqual(q.Items.map((i) => i.pk.S).sort(), ['a', 'c']);
      await put(ddb(), name, { pk: S('e'), color: S('red') });
      const q2 = await waitFor(async () => (await ddb().send(new QueryCommand({ TableName: name, IndexName: 'byColor', KeyConditionExpression: 'color = :c', ExpressionAttributeValues: { ':c': S('red') } }))).Items,
        (items) => items.length === 3, 5000);
      assert.deepEqual(q2.map((i) => i.pk.S).sort(), ['a', 'c', 'e']);
    }));

    it('UpdateTable deletes a global secondary index; a Query on an index the table does not have is a ValidationException', t(async () => {
      const { name } = await create('del-gsi', { AttributeDefinitions: defs({ pk: 'S', color: 'S' }), GlobalSecondaryIndexes: [gsi('byColor', 'color')] });
      await put(ddb(), name, { pk: S('a'), color: S('red') });
      await ddb().send(new UpdateTableCommand({ TableName: name, GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: 'byColor' } }] }));
      const tb = await waitFor(() => describeTable(ddb(), name), (x) => x.TableStatus === 'ACTIVE' && !(x.GlobalSecondaryIndexes ?? []).length, ACTIVE_TIMEOUT_MS, 100);
      assert.deepEqual(tb.GlobalSecondaryIndexes ?? [], [], 'the index is still described');
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, IndexName: 'byColor', KeyConditionExpression: 'color = :c', ExpressionAttributeValues: { ':c': S('red') } })),
        'ValidationException', /The table does not have the specified index: byColor/);
      assertItem(await get(ddb(), name, { pk: S('a') }), { pk: S('a'), color: S('red') }, 'the item after its index was deleted');
    }));

    it('UpdateTable enables a stream: StreamSpecification, LatestStreamArn and LatestStreamLabel appear; enabling it again is refused', t(async () => {
      const { name, table } = await create('stream-on');
      assert.equal(table.LatestStreamArn, undefined);
      const out = await ddb().send(new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' } }));
      const tb = await waitActive(ddb(), name);
      assert.deepEqual(tb.StreamSpecification, { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' });
      assert.match(tb.LatestStreamLabel ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
      assert.equal(tb.LatestStreamArn, `${tableArn(name)}/stream/${tb.LatestStreamLabel}`);
      assert.equal(out.TableDescription.LatestStreamArn ?? tb.LatestStreamArn, tb.LatestStreamArn);
      await expectDdbError(() => ddb().send(new UpdateTableCommand({ TableName: name, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' } })),
        'ValidationException', /already has an enabled stream/);
      const other = await create('stream-off');
      await expectDdbError(() => ddb().send(new UpdateTableCommand({ TableName: other.name, StreamSpecification: { StreamEnabled: false } })),
        'ValidationException', /stream/i);
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('items', () => {
    it('PutItem stores every attribute type and GetItem returns it unchanged; GetItem of a missing key returns no Item', t(async () => {
      const { name } = await create('types');
      const item = {
        pk: S('all'),
        s: S('text ünïcödé ✓'),
        emptyS: S(''),
        n: N('-12.5'),
        b: B([0, 1, 2, 253, 254, 255]),
        emptyB: B([]),
        yes: BOOL(true),
        no: BOOL(false),
        nul: NULL(),
        ss: SS('b', 'a', 'c'),
        ns: NS(3, '-1.5', 100),
        bs: BS([1], [2, 3]),
        l: L(S('x'), N(1), L(BOOL(false)), M({ k: S('v') })),
        emptyL: L(),
        m: M({ a: S('x'), deep: M({ deeper: M({ n: N(42) }), list: L(N(1), N(2)) }) }),
        emptyM: M({}),
      };
      const out = await put(ddb(), name, item);
      assert.equal(out.$metadata.httpStatusCode, 200);
      assert.equal(out.Attributes, undefined);
      assertItem(await get(ddb(), name, { pk: S('all') }), item);
      assertItem(await get(ddb(), name, { pk: S('all') }, { ConsistentRead: false }), item, 'eventually consistent read');
      const missing = await ddb().send(new GetItemCommand({ TableName: name, Key: { pk: S('nothing here') }, ConsistentRead: true }));
      assert.equal(missing.$metadata.httpStatusCode, 200);
      assert.equal(missing.Item, undefined);
      // PutItem replaces the whole item.
      await put(ddb(), name, { pk: S('all'), only: S('this') });
      assertItem(await get(ddb(), name, { pk: S('all') }), { pk: S('all'), only: S('this') });
    }));

    it('numbers lose leading and trailing zeros but keep their value', t(async () => {
      const { name } = await create('num-norm');
      await put(ddb(), name, { pk: S('n'), a: N('007'), b: N('1.50'), c: N('-0.250'), d: N('1E3'), e: N('1.0e-5'), f: N('-0'), g: NS('1.0', '02') });
      const got = await get(ddb(), name, { pk: S('n') });
      assert.equal(got.a.N, '7');
      assert.equal(got.b.N, '1.5');
      assert.equal(got.c.N, '-0.25');
      assert.equal(Number(got.d.N), 1000, `1E3 came back as ${got.d.N}`);
      assert.equal(Number(got.e.N), 0.00001, `1.0e-5 came back as ${got.e.N}`);
      assert.ok(Number(got.f.N) === 0, `-0 came back as ${got.f.N}`);
      assert.deepEqual(got.g.NS.map(Number).sort((x, y) => x - y), [1, 2]);
    }));

    it('numbers keep 38 significant digits exactly through ADD and SET arithmetic; 39 digits, out-of-range magnitudes and non-numbers are refused', t(async () => {
      const { name } = await create('num-precision');
      const n38 = '12345678901234567890123456789012345678';
      const key = { pk: S('p') };
      await put(ddb(), name, { pk: S('p'), big: N(n38), frac: N('1234567890123456789012345678901234567.8'), nines: N('99999999999999999999999999999999999999'), tiny: N('0.1') });
      const got = await get(ddb(), name, key);
      assert.equal(got.big.N, n38);
      assert.equal(got.frac.N, '1234567890123456789012345678901234567.8');

      await update(ddb(), name, key, 'ADD frac :tenth', { values: { ':tenth': N('0.1') } });
      assert.equal((await get(ddb(), name, key)).frac.N, '1234567890123456789012345678901234567.9');
      await update(ddb(), name, key, 'SET big = big - :one', { values: { ':one': N(1) } });
      assert.equal((await get(ddb(), name, key)).big.N, '12345678901234567890123456789012345677');
      await update(ddb(), name, key, 'SET added = :a + :b', { values: { ':a': N('0.1'), ':b': N('0.2') } });
      assert.equal((await get(ddb(), name, key)).added.N, '0.3', '0.1 + 0.2 was not computed in decimal');
      await update(ddb(), name, key, 'ADD nines :one', { values: { ':one': N(1) } });
      assert.equal((await get(ddb(), name, key)).nines.N, '100000000000000000000000000000000000000');
      await update(ddb(), name, key, 'SET tiny = tiny + :small', { values: { ':small': N('0.0000000000000000000000000000000000001') } });
      assert.equal((await get(ddb(), name, key)).tiny.N, '0.1000000000000000000000000000000000001');

      // 12345678901234567890123456789012345677 + 0.1 needs 39 significant digits: refused
      // (AWS's message for this case speaks of overflow), and nothing changes.
      await expectDdbError(() => update(ddb(), name, key, 'ADD big :tenth', { values: { ':tenth': N('0.1') } }), 'ValidationException', /[Nn]umber/);
      assert.equal((await get(ddb(), name, key)).big.N, '12345678901234567890123456789012345677');

      await expectDdbError(() => put(ddb(), name, { pk: S('q'), v: N('123456789012345678901234567890123456789') }),
        'ValidationException', /Attempting to store more than 38 significant digits in a Number/);
      await expectDdbError(() => put(ddb(), name, { pk: S('q'), v: N('1.23456789012345678901234567890123456789') }),
        'ValidationException', /38 significant digits/);
      await expectDdbError(() => put(ddb(), name, { pk: S('q'), v: N('1E126') }), 'ValidationException', /overflow/);
      await expectDdbError(() => put(ddb(), name, { pk: S('q'), v: N('1E-131') }), 'ValidationException', /underflow/);
      for (const bad of ['abc', 'NaN', 'Infinity', '1 ', '']) {
        await expectDdbError(() => put(ddb(), name, { pk: S('q'), v: N(bad) }), 'ValidationException');
      }
      assert.equal(await get(ddb(), name, { pk: S('q') }), undefined, 'a refused item was stored');
      await put(ddb(), name, { pk: S('q'), hi: N('9.9999999999999999999999999999999999999E+125'), lo: N('1E-130') });
      const edge = await get(ddb(), name, { pk: S('q') });
      assert.equal(Number(edge.lo.N), 1e-130);
      assert.ok(Math.abs(Number(edge.hi.N) / 1e126 - 1) < 1e-12, `9.99…E+125 came back as ${edge.hi.N}`);
    }));

    it('PutItem ReturnValues: ALL_OLD returns the replaced item and nothing for a new one; values other than NONE and ALL_OLD are refused', t(async () => {
      const { name } = await create('put-rv');
      const first = await put(ddb(), name, { pk: S('a'), v: S('one') }, { ReturnValues: 'ALL_OLD' });
      assert.equal(first.Attributes, undefined);
      const second = await put(ddb(), name, { pk: S('a'), v: S('two') }, { ReturnValues: 'ALL_OLD' });
      assertItem(second.Attributes, { pk: S('a'), v: S('one') });
      const none = await put(ddb(), name, { pk: S('a'), v: S('three') }, { ReturnValues: 'NONE' });
      assert.equal(none.Attributes, undefined);
      for (const rv of ['ALL_NEW', 'UPDATED_OLD', 'UPDATED_NEW', 'none', 'DOG']) {
        await expectDdbError(() => put(ddb(), name, { pk: S('a'), v: S('four') }, { ReturnValues: rv }), 'ValidationException');
      }
      assertItem(await get(ddb(), name, { pk: S('a') }), { pk: S('a'), v: S('three') });
    }));

    it('ConditionExpression: attribute_not_exists blocks an overwrite with ConditionalCheckFailedException, and ReturnValuesOnConditionCheckFailure ALL_OLD returns the existing item', t(async () => {
      const { name } = await create('cond-put');
      await put(ddb(), name, { pk: S('a'), v: S('first') }, { ConditionExpression: 'attribute_not_exists(pk)' });
      const err = await expectDdbError(() => put(ddb(), name, { pk: S('a'), v: S('second') }, { ConditionExpression: 'attribute_not_exists(pk)' }),
        'ConditionalCheckFailedException', /^The conditional request failed$/);
      assert.equal(err.Item, undefined, 'the item was returned without ReturnValuesOnConditionCheckFailure');
      const err2 = await expectDdbError(() => put(ddb(), name, { pk: S('a'), v: S('third') }, {
        ConditionExpression: 'attribute_not_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }), 'ConditionalCheckFailedException', /The conditional request failed/);
      assertItem(err2.Item, { pk: S('a'), v: S('first') }, 'ConditionalCheckFailedException.Item');
      // A failing condition on a missing item has no old item to return.
      const err3 = await expectDdbError(() => put(ddb(), name, { pk: S('b'), v: S('x') }, {
        ConditionExpression: 'attribute_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }), 'ConditionalCheckFailedException');
      assert.equal(err3.Item, undefined);
      assertItem(await get(ddb(), name, { pk: S('a') }), { pk: S('a'), v: S('first') });
      assert.equal(await get(ddb(), name, { pk: S('b') }), undefined);
      // A passing condition writes.
      await put(ddb(), name, { pk: S('a'), v: S('fourth') }, { ConditionExpression: 'v = :v', ExpressionAttributeValues: { ':v': S('first') } });
      assertItem(await get(ddb(), name, { pk: S('a') }), { pk: S('a'), v: S('fourth') });
    }));

    it('condition functions and operators decide conditional writes as documented', t(async () => {
      const { name } = await create('cond-ops');
      const item = {
        pk: S('c'), qty: N(5), txt: S('hello world'), tagset: SS('a', 'b'), l: L(N(1), N(2), N(3)),
        m: M({ x: N(1) }), flag: BOOL(true), nothing: NULL(),
      };
      await put(ddb(), name, item);
      const pool = {
        ':one': N(1), ':two': N(2), ':five': N(5), ':ten': N(10), ':str1': S('1'), ':typeN': S('N'), ':typeS': S('S'),
        ':typeNULL': S('NULL'), ':typeSS': S('SS'), ':hel': S('hel'), ':wor': S('wor'), ':a': S('a'), ':z': S('z'),
        ':eleven': N(11), ':yes': BOOL(true),
      };
      const cases = [
        ['qty = :five', true], ['qty <> :five', false], ['qty < :ten AND qty >= :five', true], ['qty > :five', false],
        ['qty <= :five', true], ['qty BETWEEN :one AND :five', true], ['qty BETWEEN :ten AND :ten', false],
        ['qty IN (:one, :ten)', false], ['qty IN (:one, :five)', true],
        ['attribute_exists(m.x)', true], ['attribute_exists(m.y)', false], ['attribute_not_exists(m.y)', true], ['attribute_exists(absent)', false],
        ['attribute_type(qty, :typeN)', true], ['attribute_type(txt, :typeN)', false], ['attribute_type(txt, :typeS)', true],
        ['attribute_type(nothing, :typeNULL)', true], ['attribute_type(tagset, :typeSS)', true],
        ['begins_with(txt, :hel)', true], ['begins_with(txt, :wor)', false],
        ['contains(txt, :wor)', true], ['contains(tagset, :a)', true], ['contains(tagset, :z)', false], ['contains(l, :two)', true],
        ['size(txt) = :eleven', true], ['size(tagset) = :two', true], ['size(l) > :two', true], ['size(m) = :one', true],
        ['NOT qty = :five', false], ['NOT (qty = :ten)', true], ['qty = :ten OR txt = :hel', false], ['(qty = :ten OR flag = :yes) AND l[1] = :two', true],
        ['qty > :str1', false], ['l[0] = :one', true], ['l[5] = :one', false], ['m.x = :one', true], ['flag = :yes', true],
      ];
      for (const [expr, expected] of cases) {
        const used = [...new Set(expr.match(/:[A-Za-z0-9_]+/g) ?? [])];
        const ExpressionAttributeValues = used.length ? Object.fromEntries(used.map((k) => [k, pool[k]])) : undefined;
        let passed;
        try {
          await put(ddb(), name, item, { ConditionExpression: expr, ExpressionAttributeValues });
          passed = true;
        } catch (e) {
          if (e.name !== 'ConditionalCheckFailedException') throw new Error(`${expr}: ${e.name}: ${e.message}`);
          passed = false;
        }
        assert.equal(passed, expected, `ConditionExpression ${expr} evaluated ${passed}, want ${expected}`);
      }
      assertItem(await get(ddb(), name, { pk: S('c') }), item);
    }));

    it('DeleteItem returns ALL_OLD, succeeds for a missing item, and keeps the item when its condition fails', t(async () => {
      const { name } = await create('delete-item');
      await put(ddb(), name, { pk: S('a'), v: N(1) });
      await put(ddb(), name, { pk: S('b'), v: N(2) });
      const out = await ddb().send(new DeleteItemCommand({ TableName: name, Key: { pk: S('a') }, ReturnValues: 'ALL_OLD' }));
      assertItem(out.Attributes, { pk: S('a'), v: N(1) });
      assert.equal(await get(ddb(), name, { pk: S('a') }), undefined);
      const again = await ddb().send(new DeleteItemCommand({ TableName: name, Key: { pk: S('a') }, ReturnValues: 'ALL_OLD' }));
      assert.equal(again.Attributes, undefined);
      const err = await expectDdbError(() => ddb().send(new DeleteItemCommand({
        TableName: name, Key: { pk: S('b') }, ConditionExpression: 'v = :v', ExpressionAttributeValues: { ':v': N(3) }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      })), 'ConditionalCheckFailedException', /The conditional request failed/);
      assertItem(err.Item, { pk: S('b'), v: N(2) });
      assertItem(await get(ddb(), name, { pk: S('b') }), { pk: S('b'), v: N(2) });
      await ddb().send(new DeleteItemCommand({ TableName: name, Key: { pk: S('b') }, ConditionExpression: 'v = :v', ExpressionAttributeValues: { ':v': N(2) } }));
      assert.equal(await get(ddb(), name, { pk: S('b') }), undefined);
      for (const rv of ['ALL_NEW', 'UPDATED_OLD', 'UPDATED_NEW']) {
        await expectDdbError(() => ddb().send(new DeleteItemCommand({ TableName: name, Key: { pk: S('b') }, ReturnValues: rv })), 'ValidationException');
      }
    }));

    it('UpdateItem SET creates a missing item and supports arithmetic, copies, if_not_exists and list_append', t(async () => {
      const { name } = await create('update-set');
      const key = { pk: S('u') };
      await update(ddb(), name, key, 'SET hits = :one, arr = :arr', { values: { ':one': N(1), ':arr': L(S('a')) } });
      assertItem(await get(ddb(), name, key), { pk: S('u'), hits: N(1), arr: L(S('a')) });
      await update(ddb(), name, key, 'SET hits = hits + :two', { values: { ':two': N(2) } });
      await update(ddb(), name, key, 'SET hits = hits - :one', { values: { ':one': N(1) } });
      await update(ddb(), name, key, 'SET h2 = :ten - hits, h3 = hits', { values: { ':ten': N(10) } });
      await update(ddb(), name, key, 'SET firstSeen = if_not_exists(firstSeen, :t1)', { values: { ':t1': S('t1') } });
      await update(ddb(), name, key, 'SET firstSeen = if_not_exists(firstSeen, :t2)', { values: { ':t2': S('t2') } });
      await update(ddb(), name, key, 'SET started = if_not_exists(started, :zero) + :one', { values: { ':zero': N(0), ':one': N(1) } });
      await update(ddb(), name, key, 'SET arr = list_append(arr, :more)', { values: { ':more': L(S('b'), S('c')) } });
      await update(ddb(), name, key, 'SET arr = list_append(:front, arr)', { values: { ':front': L(S('z')) } });
      assertItem(await get(ddb(), name, key), {
        pk: S('u'), hits: N(2), h2: N(8), h3: N(2), firstSeen: S('t1'), started: N(1), arr: L(S('z'), S('a'), S('b'), S('c')),
      });
      // Reading a missing attribute is an error, not a null.
      await expectDdbError(() => update(ddb(), name, key, 'SET clone = missingAttr'), 'ValidationException', /attribute that does not exist/);
      await expectDdbError(() => update(ddb(), name, key, 'SET hits = missingAttr + :one', { values: { ':one': N(1) } }), 'ValidationException');
      await expectDdbError(() => update(ddb(), name, key, 'SET arr = list_append(arr, :s)', { values: { ':s': S('x') } }), 'ValidationException');
      assert.equal((await get(ddb(), name, key)).hits.N, '2');
      // Action keywords are case-insensitive.
      await update(ddb(), name, key, 'set hits = :v', { values: { ':v': N(9) } });
      assert.equal((await get(ddb(), name, key)).hits.N, '9');
    }));

    it('UpdateItem REMOVE deletes attributes, list elements and nested map entries, ignoring missing ones', t(async () => {
      const { name } = await create('update-remove');
      const key = { pk: S('r') };
      await put(ddb(), name, { pk: S('r'), a1: S('x'), a2: S('y'), l: L(N(0), N(1), N(2), N(3)), m: M({ x: N(1), y: M({ z: N(2) }) }) });
      await update(ddb(), name, key, 'REMOVE a1, l[1], m.y.z, absent');
      assertItem(await get(ddb(), name, key), { pk: S('r'), a2: S('y'), l: L(N(0), N(2), N(3)), m: M({ x: N(1), y: M({}) }) });
      await update(ddb(), name, key, 'REMOVE l[17], m.nothere');
      assertItem(await get(ddb(), name, key), { pk: S('r'), a2: S('y'), l: L(N(0), N(2), N(3)), m: M({ x: N(1), y: M({}) }) });
      // List indexes in one expression refer to the list as it was before the update.
      await put(ddb(), name, { pk: S('r'), l: L(N(2), N(3), N(4), N(5), N(6), N(7)) });
      await update(ddb(), name, key, 'REMOVE l[1] SET l[3] = :v', { values: { ':v': N(17) } });
      assertItem(await get(ddb(), name, key), { pk: S('r'), l: L(N(2), N(4), N(17), N(6), N(7)) });
    }));

    it('UpdateItem ADD increments numbers and unions sets; DELETE removes set elements, and emptying a set removes the attribute', t(async () => {
      const { name } = await create('update-add');
      const key = { pk: S('a') };
      await put(ddb(), name, { pk: S('a'), qty: N(5), txt: S('s'), tagset: SS('a', 'b'), nums: NS(1, 2) });
      await update(ddb(), name, key, 'ADD qty :three, newnum :four', { values: { ':three': N(3), ':four': N(4) } });
      await update(ddb(), name, key, 'ADD qty :neg', { values: { ':neg': N('-9.5') } });
      await update(ddb(), name, key, 'ADD tagset :cd, newset :xy, nums :ns', { values: { ':cd': SS('c', 'd', 'a'), ':xy': SS('x', 'y'), ':ns': NS(2, 3) } });
      assertItem(await get(ddb(), name, key), {
        pk: S('a'), qty: N('-1.5'), newnum: N(4), txt: S('s'), tagset: SS('a', 'b', 'c', 'd'), newset: SS('x', 'y'), nums: NS(1, 2, 3),
      });
      await update(ddb(), name, key, 'DELETE tagset :ac', { values: { ':ac': SS('a', 'c') } });
      await update(ddb(), name, key, 'DELETE tagset :nothere, absentset :nothere', { values: { ':nothere': SS('q') } });
      assertItem((await get(ddb(), name, key)).tagset, SS('b', 'd'));
      await update(ddb(), name, key, 'DELETE tagset :bd', { values: { ':bd': SS('b', 'd') } });
      assert.equal((await get(ddb(), name, key)).tagset, undefined, 'an emptied set stayed as an attribute');
      // ADD creates the item.
      await update(ddb(), name, { pk: S('fresh') }, 'ADD qty :one', { values: { ':one': N(1) } });
      assertItem(await get(ddb(), name, { pk: S('fresh') }), { pk: S('fresh'), qty: N(1) });
      // Type errors.
      await expectDdbError(() => update(ddb(), name, key, 'ADD txt :one', { values: { ':one': N(1) } }), 'ValidationException', /type/i);
      await expectDdbError(() => update(ddb(), name, key, 'ADD qty :s', { values: { ':s': S('x') } }), 'ValidationException', /type/i);
      await expectDdbError(() => update(ddb(), name, key, 'ADD newset :l', { values: { ':l': L(S('z')) } }), 'ValidationException', /operand/);
      await expectDdbError(() => update(ddb(), name, key, 'DELETE nums :ss', { values: { ':ss': SS('1') } }), 'ValidationException', /type/i);
      await expectDdbError(() => update(ddb(), name, key, 'DELETE newset :s', { values: { ':s': S('x') } }), 'ValidationException', /type/i);
      assertItem(await get(ddb(), name, key), { pk: S('a'), qty: N('-1.5'), newnum: N(4), txt: S('s'), newset: SS('x', 'y'), nums: NS(1, 2, 3) });
    }));

    it('nested paths: SET reaches into maps and lists, a list index past the end appends, and a missing parent path is refused', t(async () => {
      const { name } = await create('nested');
      const key = { pk: S('n') };
      await put(ddb(), name, { pk: S('n'), m: M({ a: M({ b: N(1) }), lst: L(S('x'), S('y')) }), l: L(S('one'), S('two'), S('three')), s: S('str') });
      await update(ddb(), name, key, 'SET m.a.c = :v, m.lst[0] = :w, l[1] = :hello, m.#dot = :d', {
        values: { ':v': N(2), ':w': S('X'), ':hello': S('hello'), ':d': S('dotted') }, names: { '#dot': 'a.b' },
      });
      assertItem(await get(ddb(), name, key), {
        pk: S('n'), m: M({ a: M({ b: N(1), c: N(2) }), lst: L(S('X'), S('y')), 'a.b': S('dotted') }), l: L(S('one'), S('hello'), S('three')), s: S('str'),
      });
      await update(ddb(), name, key, 'SET l[7] = :end', { values: { ':end': S('end') } });
      await update(ddb(), name, key, 'SET l[20] = :p, l[10] = :q', { values: { ':p': S('p'), ':q': S('q') } });
      assertItem((await get(ddb(), name, key)).l, L(S('one'), S('hello'), S('three'), S('end'), S('q'), S('p')));
      await update(ddb(), name, key, 'SET m.a.deep = m.lst[1]');
      assert.equal((await get(ddb(), name, key)).m.M.a.M.deep.S, 'y');
      for (const expr of ['SET nomap.c = :v', 'SET s.c = :v', 'SET s[0] = :v', 'SET nolist[0] = :v', 'SET m.nope.deeper = :v']) {
        await expectDdbError(() => update(ddb(), name, key, expr, { values: { ':v': N(1) } }), 'ValidationException',
          /The document path provided in the update expression is invalid for update/);
      }
      await expectDdbError(() => update(ddb(), name, key, 'REMOVE s.c'), 'ValidationException', /document path/);
    }));

    it('UpdateItem ReturnValues ALL_OLD, ALL_NEW, UPDATED_OLD, UPDATED_NEW and NONE return what AWS documents', t(async () => {
      const { name } = await create('update-rv');
      const key = { pk: S('p') };
      await put(ddb(), name, { pk: S('p'), a1: S('hi'), b1: S('dog'), m: M({ x: S('dog'), c: L(N(1), N(2), N(3)) }) });
      const rv = async (ReturnValues, expr, values) => (await update(ddb(), name, key, expr, { values, ReturnValues })).Attributes;
      assert.equal(await rv(undefined, 'SET b1 = :v', { ':v': S('cat') }), undefined, 'default ReturnValues');
      assert.equal(await rv('NONE', 'SET b1 = :v', { ':v': S('cat') }), undefined);
      assertItem(await rv('ALL_OLD', 'SET b1 = :v', { ':v': S('cow') }), { pk: S('p'), a1: S('hi'), b1: S('cat'), m: M({ x: S('dog'), c: L(N(1), N(2), N(3)) }) });
      assertItem(await rv('ALL_NEW', 'SET b1 = :v REMOVE a1', { ':v': S('pig') }), { pk: S('p'), b1: S('pig'), m: M({ x: S('dog'), c: L(N(1), N(2), N(3)) }) });
      assertItem(await rv('UPDATED_OLD', 'SET b1 = :v, c1 = :w', { ':v': S('hen'), ':w': S('new') }), { b1: S('pig') });
      assert.equal(await rv('UPDATED_OLD', 'SET d1 = :v', { ':v': S('x') }), undefined, 'UPDATED_OLD of a new attribute');
      assertItem(await rv('UPDATED_NEW', 'SET b1 = :v, e1 = :w', { ':v': S('ox'), ':w': S('y') }), { b1: S('ox'), e1: S('y') });
      assert.equal(await rv('UPDATED_NEW', 'REMOVE e1'), undefined, 'UPDATED_NEW of a removed attribute');
      assertItem(await rv('UPDATED_OLD', 'REMOVE d1'), { d1: S('x') });
      // Nested updates return only the nested path, inside its hierarchy.
      assertItem(await rv('UPDATED_OLD', 'SET m.x = :v', { ':v': S('yo') }), { m: M({ x: S('dog') }) });
      assertItem(await rv('UPDATED_NEW', 'SET m.c[1] = :v', { ':v': N(7) }), { m: M({ c: L(N(7)) }) });
      // A new item's key is not an "updated" attribute.
      assertItem((await update(ddb(), name, { pk: S('new') }, 'SET a1 = :v', { values: { ':v': N(1) }, ReturnValues: 'UPDATED_NEW' })).Attributes, { a1: N(1) });
      assertItem((await update(ddb(), name, { pk: S('new2') }, 'SET a1 = :v', { values: { ':v': N(1) }, ReturnValues: 'ALL_NEW' })).Attributes, { pk: S('new2'), a1: N(1) });
      assert.equal((await update(ddb(), name, { pk: S('new3') }, 'SET a1 = :v', { values: { ':v': N(1) }, ReturnValues: 'ALL_OLD' })).Attributes, undefined);
      await expectDdbError(() => update(ddb(), name, key, 'SET b1 = :v', { values: { ':v': N(1) }, ReturnValues: 'DOG' }), 'ValidationException');
    }));

    it('a failed UpdateItem condition changes nothing and ReturnValuesOnConditionCheckFailure ALL_OLD returns the item', t(async () => {
      const { name } = await create('update-cond');
      const key = { pk: S('c') };
      await put(ddb(), name, { pk: S('c'), ver: N(1), v: S('one') });
      await update(ddb(), name, key, 'SET v = :v, ver = ver + :one', { values: { ':v': S('two'), ':one': N(1), ':expect': N(1) }, ConditionExpression: 'ver = :expect' });
      const err = await expectDdbError(() => update(ddb(), name, key, 'SET v = :v', {
        values: { ':v': S('three'), ':expect': N(1) }, ConditionExpression: 'ver = :expect', ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }), 'ConditionalCheckFailedException', /The conditional request failed/);
      assertItem(err.Item, { pk: S('c'), ver: N(2), v: S('two') });
      assertItem(await get(ddb(), name, key), { pk: S('c'), ver: N(2), v: S('two') });
      // An update that must not create an item.
      await expectDdbError(() => update(ddb(), name, { pk: S('nope') }, 'SET v = :v', { values: { ':v': S('x') }, ConditionExpression: 'attribute_exists(pk)' }),
        'ConditionalCheckFailedException');
      assert.equal(await get(ddb(), name, { pk: S('nope') }), undefined);
    }));

    it('invalid update expressions are refused: wrong operand types, overlapping paths, key attributes, repeated clauses, unknown functions and syntax errors', t(async () => {
      const { name } = await create('update-bad', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      const key = { pk: S('b'), sk: N(1) };
      const item = { pk: S('b'), sk: N(1), a1: S('x'), qty: N(1), m: M({ a: N(1) }) };
      await put(ddb(), name, item);
      const cases = [
        ['ADD a1 :one', { ':one': N(1) }, /type/i],
        ['SET a2 = :s + :one', { ':s': S('x'), ':one': N(1) }, /Incorrect operand type/],
        ['SET a1 = :v REMOVE a1', { ':v': S('y') }, /overlap/],
        ['SET m.a = :v, m = :v', { ':v': N(2) }, /overlap/],
        ['SET a1 = :v, a1 = :v', { ':v': N(2) }, /overlap/],
        ['SET pk = :v', { ':v': S('z') }, /Cannot update attribute pk\. This attribute is part of the key/],
        ['REMOVE sk', undefined, /part of the key/],
        ['ADD sk :one', { ':one': N(1) }, /part of the key/],
        ['SET a1 = :v SET a2 = :v', { ':v': N(1) }, /SET/],
        ['SET a1 = f(:v)', { ':v': N(1) }, /Invalid function name; function: f/],
        ['SET a1 = LIST_APPEND(:v, :v)', { ':v': L() }, /LIST_APPEND/],
        ['SET a1 = :v +', { ':v': N(1) }, /Syntax error/],
        ['SET a1 = :a + :b + :c', { ':a': N(1), ':b': N(1), ':c': N(1) }, /Syntax error/],
        ['HELLO a1 = :v', { ':v': N(1) }, /Syntax error/],
        ['SET _a = :v', { ':v': N(1) }, /Syntax error/],
        ['SET a[:v] = :v', { ':v': N(1) }, /Syntax error/],
        ['', undefined, /empty/],
      ];
      for (const [expr, values, re] of cases) {
        const err = await expectServiceError(() => update(ddb(), name, key, expr, { values }), { name: 'ValidationException', status: 400 });
        assert.match(err.message, re, `${JSON.stringify(expr)}: ${err.message}`);
      }
      assertItem(await get(ddb(), name, key), item);
    }));

    it('ExpressionAttributeNames and ExpressionAttributeValues: unused, undefined and empty placeholder maps are refused with AWS\'s messages', t(async () => {
      const { name } = await create('placeholders');
      const key = { pk: S('p') };
      await put(ddb(), name, { pk: S('p'), a1: N(1) });
      await expectDdbError(() => update(ddb(), name, key, 'SET a1 = :v', { values: { ':v': N(2), ':extra': N(3) } }),
        'ValidationException', /^Value provided in ExpressionAttributeValues unused in expressions: keys: \{:extra\}$/);
      await expectDdbError(() => update(ddb(), name, key, 'SET #a = :v', { values: { ':v': N(2) }, names: { '#a': 'a1', '#extra': 'x' } }),
        'ValidationException', /^Value provided in ExpressionAttributeNames unused in expressions: keys: \{#extra\}$/);
      await expectDdbError(() => update(ddb(), name, key, 'SET a1 = :nope, a2 = :v', { values: { ':v': N(2) } }),
        'ValidationException', /^Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :nope$/);
      await expectDdbError(() => update(ddb(), name, key, 'SET #nope = :v, #a = :v', { values: { ':v': N(2) }, names: { '#a': 'a1' } }),
        'ValidationException', /^Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #nope$/);
      await expectDdbError(() => put(ddb(), name, { pk: S('p') }, { ConditionExpression: 'a1 = :nope' }),
        'ValidationException', /^Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope$/);
      await expectDdbError(() => get(ddb(), name, key, { ProjectionExpression: '#nope' }),
        'ValidationException', /An expression attribute name used in the document path is not defined; attribute name: #nope/);
      await expectDdbError(() => put(ddb(), name, { pk: S('p') }, { ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeValues: {} }),
        'ValidationException', /ExpressionAttributeValues must not be empty/);
      await expectDdbError(() => put(ddb(), name, { pk: S('p') }, { ConditionExpression: 'attribute_exists(pk)', ExpressionAttributeNames: {} }),
        'ValidationException', /ExpressionAttributeNames must not be empty/);
      await expectDdbError(() => get(ddb(), name, key, { ExpressionAttributeNames: { '#a': 'a1' } }),
        'ValidationException', /ExpressionAttributeNames can only be specified when using expressions/);
      // Unused placeholders are refused on every operation, not only UpdateItem.
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p'), ':x': S('x') } })),
        'ValidationException', /unused in expressions: keys: \{:x\}/);
      await expectDdbError(() => ddb().send(new ScanCommand({ TableName: name, ExpressionAttributeNames: { '#x': 'x' }, FilterExpression: 'a1 = :one', ExpressionAttributeValues: { ':one': N(1) } })),
        'ValidationException', /unused in expressions: keys: \{#x\}/);
      assertItem(await get(ddb(), name, key), { pk: S('p'), a1: N(1) });
      // A name placeholder can stand for any attribute name, however odd.
      const odd = 'has space, dot. and #=:';
      await update(ddb(), name, key, 'SET #odd = :v', { values: { ':v': S('ok') }, names: { '#odd': odd } });
      assert.equal((await get(ddb(), name, key))[odd]?.S, 'ok');
    }));

    it('reserved words cannot appear bare in expressions but work through ExpressionAttributeNames', t(async () => {
      const { name } = await create('reserved');
      const key = { pk: S('r') };
      await put(ddb(), name, { pk: S('r'), name: S('n'), status: S('s'), data: S('d') });
      await expectDdbError(() => get(ddb(), name, key, { ProjectionExpression: 'name' }),
        'ValidationException', /^Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: name$/);
      await expectDdbError(() => update(ddb(), name, key, 'SET status = :v', { values: { ':v': S('x') } }),
        'ValidationException', /^Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status$/);
      await expectDdbError(() => put(ddb(), name, { pk: S('r') }, { ConditionExpression: 'attribute_exists(data)' }),
        'ValidationException', /^Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: data$/);
      await expectDdbError(() => ddb().send(new ScanCommand({ TableName: name, FilterExpression: 'size(data) > :z', ExpressionAttributeValues: { ':z': N(0) } })),
        'ValidationException', /Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: data/);
      assertItem(await get(ddb(), name, key, { ProjectionExpression: '#n, #s', ExpressionAttributeNames: { '#n': 'name', '#s': 'status' } }), { name: S('n'), status: S('s') });
      await update(ddb(), name, key, 'SET #s = :v', { values: { ':v': S('x'), ':d': S('d') }, names: { '#s': 'status', '#d': 'data' }, ConditionExpression: '#d = :d' });
      assert.equal((await get(ddb(), name, key)).status.S, 'x');
    }));

    it('ProjectionExpression returns only the named attributes, including nested map members and list elements', t(async () => {
      const { name } = await create('projection');
      const key = { pk: S('p') };
      await put(ddb(), name, { pk: S('p'), a1: S('x'), a2: S('y'), m: M({ x: N(1), y: N(2), z: M({ deep: N(3), other: N(4) }) }), l: L(N(10), N(20), N(30)), name: S('reserved') });
      assertItem(await get(ddb(), name, key, { ProjectionExpression: 'a1, m.y, m.z.deep, l[1], #nm, absent, l[9]', ExpressionAttributeNames: { '#nm': 'name' } }),
        { a1: S('x'), m: M({ y: N(2), z: M({ deep: N(3) }) }), l: L(N(20)), name: S('reserved') });
      assertItem(await get(ddb(), name, key, { ProjectionExpression: 'pk' }), { pk: S('p') });
      const none = await ddb().send(new GetItemCommand({ TableName: name, Key: key, ProjectionExpression: 'absent' }));
      assertItem(none.Item, {}, 'a projection of only missing attributes');
      const q = await ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') }, ProjectionExpression: 'a2, m.x' }));
      assertItem(q.Items, [{ a2: S('y'), m: M({ x: N(1) }) }]);
      const s = await ddb().send(new ScanCommand({ TableName: name, ProjectionExpression: 'l[0], l[2]' }));
      assertItem(s.Items, [{ l: L(N(10), N(30)) }]);
      await expectDdbError(() => get(ddb(), name, key, { ProjectionExpression: 'a1, a1' }), 'ValidationException', /overlap/);
    }));

    it('items over 400 KB are refused on PutItem and UpdateItem; an item just under the limit is stored', t(async () => {
      const { name } = await create('size');
      const LIMIT = 400 * 1024;
      // Size = attribute name lengths + value lengths: "pk" + "ok" + "blob" + the blob.
      const under = 'x'.repeat(LIMIT - 2 - 2 - 4 - 64);
      await put(ddb(), name, { pk: S('ok'), blob: S(under) });
      assert.equal((await get(ddb(), name, { pk: S('ok') })).blob.S.length, under.length);
      await expectDdbError(() => put(ddb(), name, { pk: S('big'), blob: S('x'.repeat(LIMIT)) }),
        'ValidationException', /Item size has exceeded the maximum allowed size/);
      assert.equal(await get(ddb(), name, { pk: S('big') }), undefined);
      await put(ddb(), name, { pk: S('grow'), blob: S('y'.repeat(300 * 1024)) });
      await expectDdbError(() => update(ddb(), name, { pk: S('grow') }, 'SET blob2 = :b', { values: { ':b': S('z'.repeat(150 * 1024)) } }),
        'ValidationException', /exceeded the maximum allowed size/);
      assert.equal((await get(ddb(), name, { pk: S('grow') })).blob2, undefined);
      // Binary values count their bytes too.
      await expectDdbError(() => put(ddb(), name, { pk: S('bin'), b: { B: new Uint8Array(LIMIT) } }),
        'ValidationException', /Item size has exceeded the maximum allowed size/);
    }));

    it('key attributes: a missing key, a wrong key type, an empty key string and a key with extra attributes are refused; empty and duplicate sets too', t(async () => {
      const { name } = await create('key-errors', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      await expectDdbError(() => put(ddb(), name, { pk: S('a'), v: S('x') }),
        'ValidationException', /^One or more parameter values were invalid: Missing the key sk in the item$/);
      await expectDdbError(() => put(ddb(), name, { pk: N(1), sk: N(1) }),
        'ValidationException', /^One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N$/);
      await expectDdbError(() => put(ddb(), name, { pk: S('a'), sk: S('1') }),
        'ValidationException', /Type mismatch for key sk expected: N actual: S/);
      await expectDdbError(() => get(ddb(), name, { pk: N(1), sk: N(1) }), 'ValidationException', /^The provided key element does not match the schema$/);
      await expectDdbError(() => get(ddb(), name, { pk: S('a') }), 'ValidationException', /The provided key element does not match the schema/);
      await expectDdbError(() => get(ddb(), name, { pk: S('a'), sk: N(1), extra: S('x') }), 'ValidationException', /The provided key element does not match the schema/);
      await expectDdbError(() => ddb().send(new DeleteItemCommand({ TableName: name, Key: { pk: S('a') } })), 'ValidationException', /The provided key element does not match the schema/);
      await expectDdbError(() => update(ddb(), name, { pk: S('a') }, 'SET v = :v', { values: { ':v': N(1) } }), 'ValidationException', /The provided key element does not match the schema/);
      await expectDdbError(() => put(ddb(), name, { pk: S(''), sk: N(1) }), 'ValidationException', /empty string/);
      await expectDdbError(() => put(ddb(), name, { pk: S('a'), sk: N(1), s: SS() }), 'ValidationException', /empty/);
      await expectDdbError(() => put(ddb(), name, { pk: S('a'), sk: N(1), s: SS('x', 'x') }), 'ValidationException', /contains duplicates/);
      await expectDdbError(() => put(ddb(), name, { pk: S('a'), sk: N(1), n: NS(1, 1) }), 'ValidationException', /contains duplicates/);
      await expectDdbError(() => put(ddb(), name, { pk: S('a'), sk: N(1), z: { NULL: false } }), 'ValidationException', /Null attribute value types must have the value of true/);
      // Non-key attributes may be empty strings and binaries.
      await put(ddb(), name, { pk: S('a'), sk: N(1), e: S(''), eb: B([]) });
      assertItem(await get(ddb(), name, { pk: S('a'), sk: N(1) }), { pk: S('a'), sk: N(1), e: S(''), eb: B([]) });
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('Query', () => {
    // A table of items pk "p" with sk 0..n-1 (N), parity "even"/"odd", plus one item in
    // another partition.
    async function numericTable(base, n = 12) {
      const { name } = await create(base, { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      const items = [];
      for (let i = 0; i < n; i++) items.push({ pk: S('p'), sk: N(i), parity: S(i % 2 ? 'odd' : 'even'), pad: S(`item ${i}`) });
      items.push({ pk: S('other'), sk: N(0), parity: S('even') });
      await putAll(ddb(), name, items);
      return name;
    }
    const sks = (items) => items.map((i) => Number(i.sk.N));
    const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

    it('Query with =, <, <=, >, >=, BETWEEN and begins_with returns the matching items in sort-key order; ScanIndexForward false reverses it', t(async () => {
      const name = await numericTable('q-ops');
      const q = async (KeyConditionExpression, values, extra = {}) => (await ddb().send(new QueryCommand({
        TableName: name, KeyConditionExpression, ExpressionAttributeValues: { ':p': S('p'), ...values }, ...extra,
      }))).Items;
      assert.deepEqual(sks(await q('pk = :p')), range(0, 11));
      assert.deepEqual(sks(await q('pk = :p AND sk = :v', { ':v': N(7) })), [7]);
      assert.deepEqual(sks(await q('pk = :p AND sk < :v', { ':v': N(5) })), range(0, 4));
      assert.deepEqual(sks(await q('pk = :p AND sk <= :v', { ':v': N(5) })), range(0, 5));
      assert.deepEqual(sks(await q('pk = :p AND sk > :v', { ':v': N(8) })), [9, 10, 11]);
      assert.deepEqual(sks(await q('pk = :p AND sk >= :v', { ':v': N(9) })), [9, 10, 11]);
      assert.deepEqual(sks(await q('pk = :p AND sk BETWEEN :a AND :b', { ':a': N(3), ':b': N(6) })), range(3, 6));
      assert.deepEqual(sks(await q('sk BETWEEN :a AND :b AND pk = :p', { ':a': N(3), ':b': N(6) })), range(3, 6), 'the hash condition may come second');
      assert.deepEqual(sks(await q('(pk = :p) AND (sk > :v)', { ':v': N(10) })), [11]);
      assert.deepEqual(sks(await q('pk = :p', {}, { ScanIndexForward: false })), range(0, 11).reverse());
      assert.deepEqual(sks(await q('pk = :p AND sk < :v', { ':v': N(3) }, { ScanIndexForward: false })), [2, 1, 0]);
      assert.deepEqual(await q('pk = :p AND sk > :v', { ':v': N(100) }), []);
      assert.deepEqual(sks(await q('pk = :p AND sk BETWEEN :a AND :b', { ':a': N(-5), ':b': N('0.5') })), [0]);

      const str = await create('q-str', { AttributeDefinitions: defs({ pk: 'S', sk: 'S' }), KeySchema: keys('pk', 'sk') });
      await putAll(ddb(), str.name, ['a#2', 'ab', 'a#1', 'b', 'a', 'a#10'].map((sk) => ({ pk: S('p'), sk: S(sk) })));
      const bw = await ddb().send(new QueryCommand({ TableName: str.name, KeyConditionExpression: 'pk = :p AND begins_with(sk, :pre)', ExpressionAttributeValues: { ':p': S('p'), ':pre': S('a#') } }));
      assert.deepEqual(bw.Items.map((i) => i.sk.S), ['a#1', 'a#10', 'a#2']);
      const bwAll = await ddb().send(new QueryCommand({ TableName: str.name, KeyConditionExpression: 'pk = :p AND begins_with(sk, :pre)', ExpressionAttributeValues: { ':p': S('p'), ':pre': S('a') } }));
      assert.deepEqual(bwAll.Items.map((i) => i.sk.S), ['a', 'a#1', 'a#10', 'a#2', 'ab']);
    }));

    it('sort keys order numbers numerically, strings by UTF-8 bytes and binary values by unsigned bytes', t(async () => {
      const num = await create('order-n', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      const numbers = ['100', '-10', '0.25', '2', '-1.5', '0', '10', '1E3', '-1E-5', '99999999999999999999999999999999999999'];
      await putAll(ddb(), num.name, numbers.map((n) => ({ pk: S('p'), sk: N(n) })));
      const gotN = (await ddb().send(new QueryCommand({ TableName: num.name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') } }))).Items.map((i) => Number(i.sk.N));
      assert.deepEqual(gotN, numbers.map(Number).sort((a, b) => a - b));

      const str = await create('order-s', { AttributeDefinitions: defs({ pk: 'S', sk: 'S' }), KeySchema: keys('pk', 'sk') });
      const strings = ['b', 'B', 'a', 'aa', 'é', 'Z', '~', '0', 'ab', '😀', 'ｚ'];
      await putAll(ddb(), str.name, strings.map((s) => ({ pk: S('p'), sk: S(s) })));
      const gotS = (await ddb().send(new QueryCommand({ TableName: str.name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') } }))).Items.map((i) => i.sk.S);
      assert.deepEqual(gotS, [...strings].sort((x, y) => Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'))));

      const bin = await create('order-b', { AttributeDefinitions: defs({ pk: 'S', sk: 'B' }), KeySchema: keys('pk', 'sk') });
      const blobs = [[0xff], [0x00], [0x80], [0x7f], [0x00, 0x00], [0x01], [0x80, 0x00]];
      await putAll(ddb(), bin.name, blobs.map((b) => ({ pk: S('p'), sk: B(b) })));
      const gotB = (await ddb().send(new QueryCommand({ TableName: bin.name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') } }))).Items.map((i) => [...i.sk.B]);
      assert.deepEqual(gotB, [...blobs].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
      const between = await ddb().send(new QueryCommand({ TableName: bin.name, KeyConditionExpression: 'pk = :p AND sk BETWEEN :a AND :b', ExpressionAttributeValues: { ':p': S('p'), ':a': B([0x01]), ':b': B([0x80]) } }));
      assert.deepEqual(between.Items.map((i) => [...i.sk.B]), [[0x01], [0x7f], [0x80]]);
    }));

    it('Query with Limit pages through every item exactly once via LastEvaluatedKey and ExclusiveStartKey, in both directions', t(async () => {
      const name = await numericTable('q-pages', 23);
      for (const forward of [true, false]) {
        const ps = await pages(ddb(), QueryCommand, { TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') }, Limit: 5, ScanIndexForward: forward });
        for (const p of ps) {
          assert.ok(p.Items.length <= 5, `a page of ${p.Items.length} with Limit 5`);
          assert.equal(p.Count, p.Items.length);
          if (p.LastEvaluatedKey) assertItem(p.LastEvaluatedKey, { pk: S('p'), sk: p.Items.at(-1).sk }, 'LastEvaluatedKey is the key of the last item');
        }
        assert.ok(ps.length >= 5 && ps.length <= 6, `${ps.length} pages of Limit 5 over 23 items`);
        const all = ps.flatMap((p) => sks(p.Items));
        assert.deepEqual(all, forward ? range(0, 22) : range(0, 22).reverse());
      }
      // A page may start after any key, even one with no item.
      const after = await ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') }, Limit: 3, ExclusiveStartKey: { pk: S('p'), sk: N('10.5') } }));
      assert.deepEqual(sks(after.Items), [11, 12, 13]);
    }));

    it('FilterExpression applies after Limit: ScannedCount counts the evaluated items and Count the returned ones', t(async () => {
      const name = await numericTable('q-filter');
      const base = { TableName: name, KeyConditionExpression: 'pk = :p', FilterExpression: 'parity = :odd', ExpressionAttributeValues: { ':p': S('p'), ':odd': S('odd') } };
      const all = await ddb().send(new QueryCommand(base));
      assert.equal(all.ScannedCount, 12);
      assert.equal(all.Count, 6);
      assert.deepEqual(sks(all.Items), [1, 3, 5, 7, 9, 11]);
      const ps = await pages(ddb(), QueryCommand, { ...base, Limit: 4 });
      assert.deepEqual(ps.map((p) => p.ScannedCount).slice(0, 3), [4, 4, 4]);
      for (const p of ps) assert.equal(p.Count, p.Items.length);
      assert.deepEqual(ps.flatMap((p) => sks(p.Items)), [1, 3, 5, 7, 9, 11]);
      // A page can come back empty but unfinished.
      const first = await ddb().send(new QueryCommand({ ...base, Limit: 1 }));
      assert.equal(first.ScannedCount, 1);
      assert.equal(first.Count, 0);
      assert.deepEqual(first.Items, []);
      assertItem(first.LastEvaluatedKey, { pk: S('p'), sk: N(0) });
    }));

    it('Select COUNT returns counts without items; a filter on a key attribute and key conditions DynamoDB does not support are refused', t(async () => {
      const name = await numericTable('q-count');
      const count = await ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') }, Select: 'COUNT' }));
      assert.equal(count.Count, 12);
      assert.equal(count.ScannedCount, 12);
      assert.equal(count.Items, undefined);
      const filtered = await ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', FilterExpression: 'parity = :e', ExpressionAttributeValues: { ':p': S('p'), ':e': S('even') }, Select: 'COUNT' }));
      assert.equal(filtered.Count, 6);
      assert.equal(filtered.ScannedCount, 12);
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', FilterExpression: 'sk > :v', ExpressionAttributeValues: { ':p': S('p'), ':v': N(1) } })),
        'ValidationException', /Filter Expression can only contain non-primary key attributes: Primary key attribute: sk/);
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'sk = :v', ExpressionAttributeValues: { ':v': N(1) } })),
        'ValidationException', /Query condition missed key schema element: pk/);
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p AND parity = :e', ExpressionAttributeValues: { ':p': S('p'), ':e': S('even') } })),
        'ValidationException');
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk > :p', ExpressionAttributeValues: { ':p': S('p') } })),
        'ValidationException');
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p AND begins_with(sk, :v)', ExpressionAttributeValues: { ':p': S('p'), ':v': N(1) } })),
        'ValidationException');
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': N(1) } })),
        'ValidationException');
      await expectDdbError(() => ddb().send(new QueryCommand({ TableName: name, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') }, Limit: 0 })),
        'ValidationException');
    }));

    it('Query on a global secondary index returns its projection, skips items without the index key and pages with index and table keys', t(async () => {
      const { name } = await create('q-gsi', {
        AttributeDefinitions: defs({ pk: 'S', sk: 'N', cat: 'S', price: 'N' }),
        KeySchema: keys('pk', 'sk'),
        GlobalSecondaryIndexes: [gsi('byCat', 'cat', 'price', 'INCLUDE', ['title']), gsi('catKeys', 'cat', undefined, 'KEYS_ONLY')],
      });
      const items = [];
      for (let i = 0; i < 10; i++) {
        const row = { pk: S(`u${i}`), sk: N(i), price: N(100 - i * 10), title: S(`t${i}`), secret: S('not projected') };
        if (i % 4 !== 3) row.cat = S(i % 2 === 0 ? 'c1' : 'c2');
        items.push(row);
      }
      await putAll(ddb(), name, items);
      const q = (IndexName, extra = {}) => ddb().send(new QueryCommand({ TableName: name, IndexName, KeyConditionExpression: 'cat = :c', ExpressionAttributeValues: { ':c': S('c1'), ...(extra.values ?? {}) }, ...extra.input }));
      // GSIs are eventually consistent: give the index a moment.
      const byCat = await waitFor(async () => (await q('byCat')).Items, (x) => x.length === 5, 5000);
      assert.deepEqual(byCat.map((i) => i.pk.S), ['u8', 'u6', 'u4', 'u2', 'u0'], 'not in index sort-key (price) order');
      for (const i of byCat) assert.deepEqual(Object.keys(i).sort(), ['cat', 'pk', 'price', 'sk', 'title'], `INCLUDE projection: ${JSON.stringify(i)}`);
      const keysOnly = (await q('catKeys')).Items;
      assert.equal(keysOnly.length, 5);
      for (const i of keysOnly) assert.deepEqual(Object.keys(i).sort(), ['cat', 'pk', 'sk'], `KEYS_ONLY projection: ${JSON.stringify(i)}`);
      const cheap = (await q('byCat', { input: { KeyConditionExpression: 'cat = :c AND price < :p', ScanIndexForward: false }, values: { ':p': N(60) } })).Items;
      assert.deepEqual(cheap.map((i) => i.pk.S), ['u6', 'u8']);
      const ps = await pages(ddb(), QueryCommand, { TableName: name, IndexName: 'byCat', KeyConditionExpression: 'cat = :c', ExpressionAttributeValues: { ':c': S('c1') }, Limit: 2 });
      for (const p of ps) if (p.LastEvaluatedKey) assert.deepEqual(Object.keys(p.LastEvaluatedKey).sort(), ['cat', 'pk', 'price', 'sk']);
      assert.deepEqual(ps.flatMap((p) => p.Items.map((i) => i.pk.S)), ['u8', 'u6', 'u4', 'u2', 'u0']);
      const scan = await ddb().send(new ScanCommand({ TableName: name, IndexName: 'catKeys' }));
      assert.equal(scan.Count, 8, 'items without the index key are not in the index');
      await expectDdbError(() => q('byCat', { input: { ConsistentRead: true } }), 'ValidationException', /Consistent reads are not supported on global secondary indexes/);
      await expectDdbError(() => q('nosuch'), 'ValidationException', /The table does not have the specified index: nosuch/);
    }));

    it('Query on a local secondary index orders by the index sort key and returns only the items that have it', t(async () => {
      const { name } = await create('q-lsi', {
        AttributeDefinitions: defs({ pk: 'S', sk: 'N', score: 'N' }),
        KeySchema: keys('pk', 'sk'),
        LocalSecondaryIndexes: [gsi('byScore', 'pk', 'score', 'ALL')],
      });
      const scores = [50, 10, 40, undefined, 20, 30];
      await putAll(ddb(), name, scores.map((r, sk) => (r === undefined ? { pk: S('p'), sk: N(sk) } : { pk: S('p'), sk: N(sk), score: N(r) })));
      const q = async (extra = {}, cond = 'pk = :p', values = {}) => (await ddb().send(new QueryCommand({
        TableName: name, IndexName: 'byScore', KeyConditionExpression: cond, ExpressionAttributeValues: { ':p': S('p'), ...values }, ...extra,
      }))).Items.map((i) => Number(i.sk.N));
      assert.deepEqual(await q(), [1, 4, 5, 2, 0]);
      assert.deepEqual(await q({ ScanIndexForward: false }), [0, 2, 5, 4, 1]);
      assert.deepEqual(await q({ ConsistentRead: true }, 'pk = :p AND score BETWEEN :a AND :b', { ':a': N(15), ':b': N(45) }), [4, 5, 2]);
      const first = await ddb().send(new QueryCommand({ TableName: name, IndexName: 'byScore', KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') }, Limit: 1 }));
      assert.deepEqual(Object.keys(first.LastEvaluatedKey).sort(), ['pk', 'score', 'sk']);
      const rest = await ddb().send(new QueryCommand({ TableName: name, IndexName: 'byScore', KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': S('p') }, ExclusiveStartKey: first.LastEvaluatedKey }));
      assert.deepEqual(rest.Items.map((i) => Number(i.sk.N)), [4, 5, 2, 0]);
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('Scan', () => {
    async function seeded(base, n = 17) {
      const { name } = await create(base);
      const items = [];
      for (let i = 0; i < n; i++) items.push({ pk: S(`k${String(i).padStart(2, '0')}`), qty: N(i), ...(i % 3 === 0 ? { tagged: BOOL(true) } : {}) });
      await putAll(ddb(), name, items);
      return name;
    }
    const pks = (items) => items.map((i) => i.pk.S).sort();
    const allKeys = (n) => Array.from({ length: n }, (_, i) => `k${String(i).padStart(2, '0')}`);

    it('Scan returns every item; FilterExpression narrows Count while ScannedCount counts all; Select COUNT returns no items', t(async () => {
      const name = await seeded('scan');
      const all = await ddb().send(new ScanCommand({ TableName: name }));
      assert.deepEqual(pks(all.Items), allKeys(17));
      assert.equal(all.Count, 17);
      assert.equal(all.ScannedCount, 17);
      assert.equal(all.LastEvaluatedKey, undefined);
      const f = await ddb().send(new ScanCommand({ TableName: name, FilterExpression: 'attribute_exists(tagged) AND qty > :q', ExpressionAttributeValues: { ':q': N(5) } }));
      assert.deepEqual(pks(f.Items), ['k06', 'k09', 'k12', 'k15']);
      assert.equal(f.Count, 4);
      assert.equal(f.ScannedCount, 17);
      const c = await ddb().send(new ScanCommand({ TableName: name, Select: 'COUNT', FilterExpression: 'qty < :q', ExpressionAttributeValues: { ':q': N(3) } }));
      assert.equal(c.Count, 3);
      assert.equal(c.Items, undefined);
      const p = await ddb().send(new ScanCommand({ TableName: name, ProjectionExpression: 'qty', FilterExpression: 'qty = :q', ExpressionAttributeValues: { ':q': N(4) } }));
      assertItem(p.Items, [{ qty: N(4) }]);
    }));

    it('Scan with Limit pages through every item exactly once', t(async () => {
      const name = await seeded('scan-pages');
      const ps = await pages(ddb(), ScanCommand, { TableName: name, Limit: 4 });
      for (const p of ps) {
        assert.ok(p.Items.length <= 4);
        assert.equal(p.ScannedCount, p.Items.length);
        if (p.LastEvaluatedKey) assert.deepEqual(Object.keys(p.LastEvaluatedKey), ['pk']);
      }
      const seen = ps.flatMap((p) => p.Items.map((i) => i.pk.S));
      assert.equal(new Set(seen).size, seen.length, `an item was returned twice: ${seen}`);
      assert.deepEqual(seen.sort(), allKeys(17));
      const filtered = await pages(ddb(), ScanCommand, { TableName: name, Limit: 5, FilterExpression: 'qty >= :q', ExpressionAttributeValues: { ':q': N(10) } });
      assert.deepEqual(filtered.flatMap((p) => p.Items.map((i) => i.pk.S)).sort(), allKeys(17).slice(10));
    }));

    it('parallel Scan with Segment and TotalSegments covers every item exactly once; invalid segments are refused', t(async () => {
      const name = await seeded('scan-segments', 40);
      for (const total of [1, 3, 4]) {
        const seen = [];
        for (let seg = 0; seg < total; seg++) {
          const ps = await pages(ddb(), ScanCommand, { TableName: name, Segment: seg, TotalSegments: total, Limit: 3 });
          seen.push(...ps.flatMap((p) => p.Items.map((i) => i.pk.S)));
        }
        assert.equal(new Set(seen).size, seen.length, `TotalSegments ${total}: an item was in two segments`);
        assert.deepEqual(seen.sort(), allKeys(40), `TotalSegments ${total}: not every item was scanned`);
      }
      await expectDdbError(() => ddb().send(new ScanCommand({ TableName: name, Segment: 3, TotalSegments: 3 })), 'ValidationException', /Segment/);
      await expectDdbError(() => ddb().send(new ScanCommand({ TableName: name, Segment: 0 })), 'ValidationException', /TotalSegments|Segment/);
      await expectDdbError(() => ddb().send(new ScanCommand({ TableName: name, TotalSegments: 2 })), 'ValidationException', /TotalSegments|Segment/);
      await expectDdbError(() => ddb().send(new ScanCommand({ TableName: name, Segment: 0, TotalSegments: 1000001 })), 'ValidationException');
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('batches', () => {
    it('BatchWriteItem puts and deletes across two tables and BatchGetItem reads them back, with empty UnprocessedItems and UnprocessedKeys', t(async () => {
      const a = await create('batch-a');
      const b = await create('batch-b', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      await put(ddb(), a.name, { pk: S('a1'), v: N(1) });
      await put(ddb(), a.name, { pk: S('a2'), v: N(2) });
      const w = await ddb().send(new BatchWriteItemCommand({
        RequestItems: {
          [a.name]: [{ PutRequest: { Item: { pk: S('a3'), v: N(3) } } }, { DeleteRequest: { Key: { pk: S('a1') } } }, { PutRequest: { Item: { pk: S('a2'), v: N(20) } } }],
          [b.name]: [{ PutRequest: { Item: { pk: S('b'), sk: N(1), v: S('x') } } }, { PutRequest: { Item: { pk: S('b'), sk: N(2), v: S('y') } } }],
        },
      }));
      assert.deepEqual(w.UnprocessedItems, {});
      const g = await ddb().send(new BatchGetItemCommand({
        RequestItems: {
          [a.name]: { Keys: [{ pk: S('a1') }, { pk: S('a2') }, { pk: S('a3') }], ConsistentRead: true },
          [b.name]: { Keys: [{ pk: S('b'), sk: N(2) }, { pk: S('b'), sk: N(1) }], ProjectionExpression: 'sk, #v', ExpressionAttributeNames: { '#v': 'v' } },
        },
      }));
      assert.deepEqual(g.UnprocessedKeys, {});
      const byPk = (items) => [...items].sort((x, y) => JSON.stringify(norm(x)).localeCompare(JSON.stringify(norm(y))));
      assertItem(byPk(g.Responses[a.name]), byPk([{ pk: S('a2'), v: N(20) }, { pk: S('a3'), v: N(3) }]));
      assertItem(byPk(g.Responses[b.name]), byPk([{ sk: N(1), v: S('x') }, { sk: N(2), v: S('y') }]));
      const none = await ddb().send(new BatchGetItemCommand({ RequestItems: { [a.name]: { Keys: [{ pk: S('zzz') }] } } }));
      assert.deepEqual(none.Responses[a.name], []);
    }));

    it('batch limits: 26 writes, 101 keys, duplicate keys, missing tables and invalid keys are refused, and a refused batch writes nothing', t(async () => {
      const { name } = await create('batch-limits');
      const puts = (n) => Array.from({ length: n }, (_, i) => ({ PutRequest: { Item: { pk: S(`i${i}`) } } }));
      await expectDdbError(() => ddb().send(new BatchWriteItemCommand({ RequestItems: { [name]: puts(26) } })),
        'ValidationException', /less than or equal to 25|Too many items requested for the BatchWriteItem call/);
      assert.equal(await get(ddb(), name, { pk: S('i0') }), undefined, 'part of a refused batch was written');
      const w25 = await ddb().send(new BatchWriteItemCommand({ RequestItems: { [name]: puts(25) } }));
      assert.deepEqual(w25.UnprocessedItems, {});
      const keys101 = Array.from({ length: 101 }, (_, i) => ({ pk: S(`i${i}`) }));
      await expectDdbError(() => ddb().send(new BatchGetItemCommand({ RequestItems: { [name]: { Keys: keys101 } } })),
        'ValidationException', /Too many items requested for the BatchGetItem call|less than or equal to 100/);
      const g100 = await ddb().send(new BatchGetItemCommand({ RequestItems: { [name]: { Keys: keys101.slice(0, 100) } } }));
      assert.equal(g100.Responses[name].length, 25, 'BatchGetItem of 100 keys, 25 of them present');
      assert.deepEqual(g100.UnprocessedKeys, {});
      await expectDdbError(() => ddb().send(new BatchWriteItemCommand({ RequestItems: { [name]: [{ PutRequest: { Item: { pk: S('d') } } }, { DeleteRequest: { Key: { pk: S('d') } } }] } })),
        'ValidationException', /Provided list of item keys contains duplicates/);
      await expectDdbError(() => ddb().send(new BatchGetItemCommand({ RequestItems: { [name]: { Keys: [{ pk: S('d') }, { pk: S('d') }] } } })),
        'ValidationException', /Provided list of item keys contains duplicates/);
      await expectDdbError(() => ddb().send(new BatchWriteItemCommand({ RequestItems: { [uniqueName('nosuch')]: puts(1) } })), 'ResourceNotFoundException');
      await expectDdbError(() => ddb().send(new BatchGetItemCommand({ RequestItems: { [uniqueName('nosuch')]: { Keys: [{ pk: S('x') }] } } })), 'ResourceNotFoundException');
      await expectDdbError(() => ddb().send(new BatchWriteItemCommand({ RequestItems: { [name]: [{ PutRequest: { Item: { pk: N(1) } } }] } })), 'ValidationException');
      await expectDdbError(() => ddb().send(new BatchGetItemCommand({ RequestItems: { [name]: { Keys: [{ other: S('x') }] } } })), 'ValidationException', /The provided key element does not match the schema/);
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('transactions', () => {
    async function twoTables(base) {
      const a = await create(`${base}-a`);
      const b = await create(`${base}-b`, { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      await put(ddb(), a.name, { pk: S('a1'), qty: N(5) });
      await put(ddb(), a.name, { pk: S('a2'), v: S('doomed') });
      await put(ddb(), b.name, { pk: S('b'), sk: N(1), v: S('check me') });
      return [a.name, b.name];
    }

    it('TransactWriteItems applies Put, Update, Delete and ConditionCheck across tables together', t(async () => {
      const [A, B] = await twoTables('tx-ok');
      const out = await ddb().send(new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: A, Item: { pk: S('a3'), v: S('new') }, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Update: { TableName: A, Key: { pk: S('a1') }, UpdateExpression: 'SET qty = qty + :one', ConditionExpression: 'qty = :five', ExpressionAttributeValues: { ':one': N(1), ':five': N(5) } } },
          { Delete: { TableName: A, Key: { pk: S('a2') }, ConditionExpression: 'attribute_exists(pk)' } },
          { ConditionCheck: { TableName: B, Key: { pk: S('b'), sk: N(1) }, ConditionExpression: 'v = :v', ExpressionAttributeValues: { ':v': S('check me') } } },
        ],
      }));
      assert.equal(out.$metadata.httpStatusCode, 200);
      assertItem(await get(ddb(), A, { pk: S('a3') }), { pk: S('a3'), v: S('new') });
      assertItem(await get(ddb(), A, { pk: S('a1') }), { pk: S('a1'), qty: N(6) });
      assert.equal(await get(ddb(), A, { pk: S('a2') }), undefined);
      assertItem(await get(ddb(), B, { pk: S('b'), sk: N(1) }), { pk: S('b'), sk: N(1), v: S('check me') });
    }));

    it('a failed condition cancels the whole transaction: TransactionCanceledException lists ConditionalCheckFailed at the failing index and None elsewhere, and nothing is written', t(async () => {
      const [A, B] = await twoTables('tx-cancel');
      const err = await expectDdbError(() => ddb().send(new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: A, Item: { pk: S('n1'), v: S('never') } } },
          { ConditionCheck: { TableName: B, Key: { pk: S('b'), sk: N(1) }, ConditionExpression: 'attribute_not_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
          { Update: { TableName: A, Key: { pk: S('a1') }, UpdateExpression: 'SET qty = :zero', ExpressionAttributeValues: { ':zero': N(0) } } },
          { Delete: { TableName: A, Key: { pk: S('a2') } } },
        ],
      })), 'TransactionCanceledException',
      /^Transaction cancelled, please refer cancellation reasons for specific reasons \[None, ConditionalCheckFailed, None, None\]$/);
      assert.ok(Array.isArray(err.CancellationReasons), `no CancellationReasons on ${JSON.stringify(err)}`);
      assert.deepEqual(err.CancellationReasons.map((r) => r.Code), ['None', 'ConditionalCheckFailed', 'None', 'None']);
      assert.equal(err.CancellationReasons[1].Message, 'The conditional request failed');
      assertItem(err.CancellationReasons[1].Item, { pk: S('b'), sk: N(1), v: S('check me') }, 'CancellationReasons[1].Item');
      for (const i of [0, 2, 3]) assert.equal(err.CancellationReasons[i].Item, undefined);
      assert.equal(await get(ddb(), A, { pk: S('n1') }), undefined, 'the Put of a cancelled transaction was applied');
      assertItem(await get(ddb(), A, { pk: S('a1') }), { pk: S('a1'), qty: N(5) }, 'the Update of a cancelled transaction was applied');
      assertItem(await get(ddb(), A, { pk: S('a2') }), { pk: S('a2'), v: S('doomed') }, 'the Delete of a cancelled transaction was applied');

      // Two failing conditions are both reported.
      const err2 = await expectDdbError(() => ddb().send(new TransactWriteItemsCommand({
        TransactItems: [
          { Update: { TableName: A, Key: { pk: S('a1') }, UpdateExpression: 'SET qty = :zero', ConditionExpression: 'qty = :zero', ExpressionAttributeValues: { ':zero': N(0) } } },
          { Put: { TableName: A, Item: { pk: S('n2') } } },
          { Delete: { TableName: A, Key: { pk: S('a2') }, ConditionExpression: 'attribute_not_exists(pk)' } },
        ],
      })), 'TransactionCanceledException', /\[ConditionalCheckFailed, None, ConditionalCheckFailed\]/);
      assert.deepEqual(err2.CancellationReasons.map((r) => r.Code), ['ConditionalCheckFailed', 'None', 'ConditionalCheckFailed']);
      assert.equal(await get(ddb(), A, { pk: S('n2') }), undefined);
    }));

    it('TransactWriteItems refuses two actions on one item, more than 100 actions and a ConditionCheck without a condition', t(async () => {
      const [A] = await twoTables('tx-invalid');
      await expectDdbError(() => ddb().send(new TransactWriteItemsCommand({
        TransactItems: [
          { Update: { TableName: A, Key: { pk: S('a1') }, UpdateExpression: 'SET qty = :z', ExpressionAttributeValues: { ':z': N(0) } } },
          { ConditionCheck: { TableName: A, Key: { pk: S('a1') }, ConditionExpression: 'attribute_exists(pk)' } },
        ],
      })), 'ValidationException', /Transaction request cannot include multiple operations on one item/);
      const many = Array.from({ length: 101 }, (_, i) => ({ Put: { TableName: A, Item: { pk: S(`m${i}`) } } }));
      await expectDdbError(() => ddb().send(new TransactWriteItemsCommand({ TransactItems: many })), 'ValidationException', /100/);
      await expectDdbError(() => ddb().send(new TransactWriteItemsCommand({ TransactItems: [{ ConditionCheck: { TableName: A, Key: { pk: S('a1') } } }] })),
        'ValidationException', /[cC]onditionExpression/);
      assert.equal(await get(ddb(), A, { pk: S('m0') }), undefined);
      assertItem(await get(ddb(), A, { pk: S('a1') }), { pk: S('a1'), qty: N(5) });
      const ok = await ddb().send(new TransactWriteItemsCommand({ TransactItems: many.slice(0, 100) }));
      assert.equal(ok.$metadata.httpStatusCode, 200);
      assertItem(await get(ddb(), A, { pk: S('m99') }), { pk: S('m99') });
    }));

    it('TransactGetItems returns the items in request order, an empty entry for a missing item, and honours ProjectionExpression', t(async () => {
      const [A, B] = await twoTables('tx-get');
      const out = await ddb().send(new TransactGetItemsCommand({
        TransactItems: [
          { Get: { TableName: B, Key: { pk: S('b'), sk: N(1) }, ProjectionExpression: '#v', ExpressionAttributeNames: { '#v': 'v' } } },
          { Get: { TableName: A, Key: { pk: S('missing') } } },
          { Get: { TableName: A, Key: { pk: S('a1') } } },
        ],
      }));
      assert.equal(out.Responses.length, 3);
      assertItem(out.Responses[0].Item, { v: S('check me') });
      assert.equal(out.Responses[1].Item, undefined);
      assertItem(out.Responses[2].Item, { pk: S('a1'), qty: N(5) });
      await expectDdbError(() => ddb().send(new TransactGetItemsCommand({ TransactItems: [{ Get: { TableName: uniqueName('nosuch'), Key: { pk: S('x') } } }] })),
        'ResourceNotFoundException');
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('document client', () => {
    it('DynamoDBDocumentClient puts, gets, updates and queries plain JavaScript values', t(async () => {
      const { name } = await create('doc', { AttributeDefinitions: defs({ pk: 'S', sk: 'N' }), KeySchema: keys('pk', 'sk') });
      const doc = DynamoDBDocumentClient.from(ddb());
      const item = {
        pk: 'd', sk: 1, title: 'hello', price: 9.5, count: -3, ok: true, none: null,
        tags: new Set(['a', 'b']), nums: new Set([1, 2.5]), bytes: new Uint8Array([1, 2, 3]),
        nested: { arr: [1, 'two', { three: 3 }, [false]], empty: {}, emptyList: [] },
      };
      await doc.send(new PutCommand({ TableName: name, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
      const { Item } = await doc.send(new GetCommand({ TableName: name, Key: { pk: 'd', sk: 1 }, ConsistentRead: true }));
      assert.deepEqual(Item, item);
      const up = await doc.send(new UpdateCommand({
        TableName: name, Key: { pk: 'd', sk: 1 },
        UpdateExpression: 'SET title = :t, price = price + :inc, nested.arr[1] = :two ADD tags :more REMOVE #n',
        ExpressionAttributeNames: { '#n': 'none' },
        ExpressionAttributeValues: { ':t': 'bye', ':inc': 0.25, ':two': 2, ':more': new Set(['c']) },
        ReturnValues: 'ALL_NEW',
      }));
      const expected = { ...item, title: 'bye', price: 9.75, tags: new Set(['a', 'b', 'c']), nested: { ...item.nested, arr: [1, 2, { three: 3 }, [false]] } };
      delete expected.none;
      assert.deepEqual(up.Attributes, expected);
      for (let sk = 2; sk <= 4; sk++) await doc.send(new PutCommand({ TableName: name, Item: { pk: 'd', sk, title: `t${sk}` } }));
      const q = await doc.send(new DocQueryCommand({
        TableName: name, KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b', ExpressionAttributeValues: { ':pk': 'd', ':a': 2, ':b': 4 }, ScanIndexForward: false,
      }));
      assert.deepEqual(q.Items, [{ pk: 'd', sk: 4, title: 't4' }, { pk: 'd', sk: 3, title: 't3' }, { pk: 'd', sk: 2, title: 't2' }]);
    }));

    it('DynamoDBDocumentClient keeps 38-digit numbers exact with NumberValue', t(async () => {
      const { name } = await create('doc-num');
      const doc = DynamoDBDocumentClient.from(ddb(), { unmarshallOptions: { wrapNumbers: true } });
      const n38 = '-1234567890123456789.0123456789012345678';
      await doc.send(new PutCommand({ TableName: name, Item: { pk: 'n', v: NumberValue.from(n38) } }));
      await doc.send(new UpdateCommand({ TableName: name, Key: { pk: 'n' }, UpdateExpression: 'ADD v :d', ExpressionAttributeValues: { ':d': NumberValue.from('0.0000000000000000001') } }));
      const { Item } = await doc.send(new GetCommand({ TableName: name, Key: { pk: 'n' }, ConsistentRead: true }));
      assert.ok(Item.v instanceof NumberValue, `not a NumberValue: ${Item.v}`);
      assert.equal(Item.v.toString(), '-1234567890123456789.0123456789012345677');
    }));
  });

  // ---------------------------------------------------------------------------------------
  describe('time to live', () => {
    it('UpdateTimeToLive enables TTL and DescribeTimeToLive reports it; enabling twice, disabling what is not enabled and a missing table are refused', t(async () => {
      const { name } = await create('ttl-api');
      const before = await ddb().send(new DescribeTimeToLiveCommand({ TableName: name }));
      assert.deepEqual(before.TimeToLiveDescription, { TimeToLiveStatus: 'DISABLED' });
      await expectDdbError(() => ddb().send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: false } })),
        'ValidationException', /disabled/i);
      const spec = { AttributeName: 'expiresAt', Enabled: true };
      const out = await ddb().send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: spec }));
      assert.deepEqual(out.TimeToLiveSpecification, spec);
      const desc = await waitFor(async () => (await ddb().send(new DescribeTimeToLiveCommand({ TableName: name }))).TimeToLiveDescription,
        (d) => d.TimeToLiveStatus !== 'ENABLING', 60_000, 500);
      assert.deepEqual(desc, { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
      await expectDdbError(() => ddb().send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: spec })), 'ValidationException', /active|enabled/i);
      await expectDdbError(() => ddb().send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'other', Enabled: true } })),
        'ValidationException', /active|enabled/i);
      const missing = uniqueName('ttl-missing');
      await expectDdbError(() => ddb().send(new DescribeTimeToLiveCommand({ TableName: missing })), 'ResourceNotFoundException', /Requested resource not found/);
      await expectDdbError(() => ddb().send(new UpdateTimeToLiveCommand({ TableName: missing, TimeToLiveSpecification: spec })), 'ResourceNotFoundException');
    }));

    it(`an item whose TTL attribute is in the past is deleted from the table and its index (waiting up to ${TTL_WAIT_MS / 1000} s); future, missing and non-numeric TTL values are kept`, { timeout: TTL_WAIT_MS + 120_000 }, t(async () => {
      const { name } = await create('ttl-expire', { AttributeDefinitions: defs({ pk: 'S', grp: 'S' }), GlobalSecondaryIndexes: [gsi('byGrp', 'grp', undefined, 'KEYS_ONLY')] });
      await ddb().send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } }));
      const now = Math.floor(Date.now() / 1000);
      const items = {
        past: { pk: S('past'), grp: S('g'), expiresAt: N(now - 60) },
        future: { pk: S('future'), grp: S('g'), expiresAt: N(now + 24 * 3600) },
        none: { pk: S('none'), grp: S('g') },
        text: { pk: S('text'), grp: S('g'), expiresAt: S(String(now - 60)) },
      };
      await putAll(ddb(), name, Object.values(items));
      const gone = await waitFor(() => get(ddb(), name, { pk: S('past') }), (i) => i === undefined, TTL_WAIT_MS, 1000);
      assert.equal(gone, undefined, `the expired item was still there after ${TTL_WAIT_MS} ms (set NIMBUS_DDB_TTL_WAIT_MS to wait longer)`);
      for (const k of ['future', 'none', 'text']) assertItem(await get(ddb(), name, { pk: S(k) }), items[k], `${k} (should not expire)`);
      const inIndex = await waitFor(async () => (await ddb().send(new QueryCommand({ TableName: name, IndexName: 'byGrp', KeyConditionExpression: 'grp = :g', ExpressionAttributeValues: { ':g': S('g') } }))).Items.map((i) => i.pk.S).sort(),
        (pks) => !pks.includes('past'), 10_000, 200);
      assert.deepEqual(inIndex, ['future', 'none', 'text']);
    }));
  });
});

// =========================================================================================

describe('DynamoDB across a restart', { skip: SKIP_NO_BINARY }, () => {
  it('tables, their indexes and TTL settings, and their items survive a restart and keep working', { timeout: 180_000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-ddb-restart-'));
    const name = uniqueName('durable');
    const deleted = uniqueName('durable-deleted');
    const items = [
      { pk: S('a'), sk: N(1), grp: S('g1'), big: N('12345678901234567890123456789012345678'), bin: B([0, 255]), m: M({ l: L(S('x'), NULL()) }), ss: SS('p', 'q') },
      { pk: S('a'), sk: N(2), grp: S('g2') },
      { pk: S('b'), sk: N(1), grp: S('g1'), text: S('ünï') },
    ];
    let before;
    try {
      await withDaemon({ dataDir }, async (n) => {
        const c = ddbClient(n);
        try {
          await c.send(new CreateTableCommand({
            TableName: name, BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: defs({ pk: 'S', sk: 'N', grp: 'S' }), KeySchema: keys('pk', 'sk'),
            GlobalSecondaryIndexes: [gsi('byGrp', 'grp', 'sk', 'ALL')],
          }));
          await waitActive(c, name);
          await c.send(new CreateTableCommand({ TableName: deleted, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: defs({ pk: 'S' }), KeySchema: keys('pk') }));
          await waitActive(c, deleted);
          await c.send(new DeleteTableCommand({ TableName: deleted }));
          const isGone = async () => !(await listAllTables(c)).includes(deleted);
          assert.ok(await waitFor(isGone, (x) => x, ACTIVE_TIMEOUT_MS, 100), `${deleted} still listed after DeleteTable`);
          await c.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } }));
          await putAll(c, name, items);
          await put(c, name, { pk: S('gone'), sk: N(0) });
          await c.send(new DeleteItemCommand({ TableName: name, Key: { pk: S('gone'), sk: N(0) } }));
          before = await describeTable(c, name);
        } finally {
          c.destroy();
        }
        await n.stop(); // asserts a clean shutdown
      });
      await withDaemon({ dataDir }, async (n) => {
        const c = ddbClient(n);
        try {
          const tb = await waitActive(c, name);
          for (const k of ['TableArn', 'TableId', 'KeySchema', 'AttributeDefinitions', 'BillingModeSummary']) {
            assert.deepEqual(tb[k], before[k], `${k} changed across the restart`);
          }
          assert.equal(tb.CreationDateTime.getTime(), before.CreationDateTime.getTime());
          assert.deepEqual(tb.GlobalSecondaryIndexes.map((g) => [g.IndexName, g.IndexArn, g.KeySchema]), before.GlobalSecondaryIndexes.map((g) => [g.IndexName, g.IndexArn, g.KeySchema]));
          const listed = await listAllTables(c);
          assert.ok(listed.includes(name), `${name} lost across the restart`);
          assert.ok(!listed.includes(deleted), 'a deleted table came back');
          assert.deepEqual((await c.send(new DescribeTimeToLiveCommand({ TableName: name }))).TimeToLiveDescription, { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
          for (const row of items) assertItem(await get(c, name, { pk: row.pk, sk: row.sk }), row, 'an item after the restart');
          assert.equal(await get(c, name, { pk: S('gone'), sk: N(0) }), undefined, 'a deleted item came back');
          const q = await c.send(new QueryCommand({ TableName: name, IndexName: 'byGrp', KeyConditionExpression: 'grp = :g', ExpressionAttributeValues: { ':g': S('g1') } }));
          assert.deepEqual(q.Items.map((i) => i.pk.S).sort(), ['a', 'b']);
          // And it still takes writes.
          await update(c, name, { pk: S('a'), sk: N(1) }, 'ADD big :one', { values: { ':one': N(1) } });
          assert.equal((await get(c, name, { pk: S('a'), sk: N(1) })).big.N, '12345678901234567890123456789012345679');
        } finally {
          c.destroy();
        }
        await n.stop();
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
