// Functions use DynamoDB with their runtime's own SDK, unchanged (issue #6, as issue #5
// scope 7 does for S3/SQS in sdk_in_functions.test.mjs): Python's boto3 through both the
// low-level client (put_item, a ConditionalCheckFailedException caught by its modelled
// class) and the resource layer (Table.get_item, update_item with ReturnValues, the
// batch_writer, query with Key/Attr conditions, table_status), and Node's AWS SDK v3
// DynamoDBDocumentClient (PutCommand, GetCommand, UpdateCommand, QueryCommand) from an ES
// module, and the plain DynamoDBClient from CommonJS. The function finds Nimbus at
// AWS_ENDPOINT_URL with the credentials and region of its environment; the test reads
// every write back with @aws-sdk/client-dynamodb.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DynamoDBClient, CreateTableCommand, DescribeTableCommand, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { useNimbus, withLogs, waitFor, uniqueName, SKIP_NO_BINARY, REGION, CREDENTIALS } from '../lib/nimbus.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const ACTIVE_TIMEOUT_MS = Number(process.env.NIMBUS_DDB_ACTIVE_TIMEOUT_MS || 30_000);

const PYTHON = `from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import Binary

client = boto3.client("dynamodb")
resource = boto3.resource("dynamodb")


def plain(v):
    """Decimals, sets and Binary as JSON can carry them."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else str(v)
    if isinstance(v, (set, frozenset)):
        return sorted(plain(x) for x in v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, Binary):
        return v.value.decode()
    return v


def handler(event, context):
    name, pk = event["table"], event["pk"]
    client.put_item(
        TableName=name,
        Item={
            "pk": {"S": pk},
            "sk": {"N": "1"},
            "count": {"N": "1"},
            "tags": {"SS": ["a", "b"]},
            "blob": {"B": b"bytes from boto3"},
            "doc": {"M": {"from": {"S": "boto3 client"}, "ok": {"BOOL": True}, "none": {"NULL": True}}},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    try:
        client.put_item(TableName=name, Item={"pk": {"S": pk}, "sk": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)")
        conditional = "accepted"
    except client.exceptions.ConditionalCheckFailedException as e:
        conditional = e.response["Error"]["Code"]

    table = resource.Table(name)
    got = table.get_item(Key={"pk": pk, "sk": 1}, ConsistentRead=True)["Item"]
    updated = table.update_item(
        Key={"pk": pk, "sk": 1},
        UpdateExpression="SET #s = :s, price = :p ADD #c :inc, tags :more",
        ExpressionAttributeNames={"#s": "status", "#c": "count"},
        ExpressionAttributeValues={":s": "updated", ":p": Decimal("19.99"), ":inc": 41, ":more": {"c"}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    with table.batch_writer() as batch:
        for i in range(2, 5):
            batch.put_item(Item={"pk": pk, "sk": i, "kind": "batch" if i != 3 else "other"})
    queried = table.query(
        KeyConditionExpression=Key("pk").eq(pk) & Key("sk").gt(1),
        FilterExpression=Attr("kind").eq("batch"),
        ConsistentRead=True,
    )
    return {
        "conditional": conditional,
        "got": plain(got),
        "updated": plain(updated),
        "queried": [plain(x["sk"]) for x in queried["Items"]],
        "scanned": queried["ScannedCount"],
        "status": table.table_status,
    }
`;

const NODE_ESM = `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, GetCommand, UpdateCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';

const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

export const handler = async (event) => {
  const TableName = event.table;
  for (let sk = 1; sk <= 4; sk++) {
    await doc.send(new PutCommand({
      TableName,
      Item: { pk: event.pk, sk, title: 'item ' + sk, tags: new Set(['x', 't' + sk]), nested: { list: [1, 'two', { three: true }], none: null }, skipped: undefined },
    }));
  }
  const got = await doc.send(new GetCommand({ TableName, Key: { pk: event.pk, sk: 2 }, ConsistentRead: true }));
  const updated = await doc.send(new UpdateCommand({
    TableName,
    Key: { pk: event.pk, sk: 3 },
    UpdateExpression: 'SET title = :t, nested.#list[1] = :two ADD #views :one',
    ExpressionAttributeNames: { '#list': 'list', '#views': 'views' },
    ExpressionAttributeValues: { ':t': 'changed', ':two': 2, ':one': 1 },
    ReturnValues: 'ALL_NEW',
  }));
  const page = await doc.send(new QueryCommand({
    TableName,
    KeyConditionExpression: 'pk = :pk AND sk >= :from',
    ExpressionAttributeValues: { ':pk': event.pk, ':from': 2 },
    ScanIndexForward: false,
    Limit: 2,
  }));
  const rest = await doc.send(new QueryCommand({
    TableName,
    KeyConditionExpression: 'pk = :pk AND sk >= :from',
    ExpressionAttributeValues: { ':pk': event.pk, ':from': 2 },
    ScanIndexForward: false,
    ExclusiveStartKey: page.LastEvaluatedKey,
  }));
  return {
    got: { ...got.Item, tags: [...got.Item.tags].sort() },
    updated: { ...updated.Attributes, tags: [...updated.Attributes.tags].sort() },
    pages: [page.Items.map((x) => x.sk), rest.Items.map((x) => x.sk)],
    lastKey: page.LastEvaluatedKey,
  };
};
`;

const NODE_CJS = `const { DynamoDBClient, PutItemCommand, GetItemCommand, ConditionalCheckFailedException } = require('@aws-sdk/client-dynamodb');

const ddb = new DynamoDBClient({});

exports.handler = async (event) => {
  const Item = { pk: { S: event.pk }, sk: { N: '7' }, note: { S: 'written from CommonJS' } };
  await ddb.send(new PutItemCommand({ TableName: event.table, Item }));
  let refused = null;
  try {
    await ddb.send(new PutItemCommand({ TableName: event.table, Item, ConditionExpression: 'attribute_not_exists(pk)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
  } catch (e) {
    refused = { name: e.name, isClass: e instanceof ConditionalCheckFailedException, old: e.Item?.note?.S ?? null };
  }
  const got = await ddb.send(new GetItemCommand({ TableName: event.table, Key: { pk: Item.pk, sk: Item.sk } }));
  return { refused, note: got.Item.note.S };
};
`;

describe('DynamoDB from inside functions', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let ddb;

  before(() => {
    ddb = new DynamoDBClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  });
  after(() => ddb?.destroy());

  // A table keyed pk:S, sk:N; waits until ACTIVE.
  async function table(base) {
    const TableName = uniqueName(base);
    await ddb.send(new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'N' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    }));
    const d = await waitFor(async () => (await ddb.send(new DescribeTableCommand({ TableName }))).Table, (x) => x.TableStatus === 'ACTIVE', ACTIVE_TIMEOUT_MS);
    assert.equal(d.TableStatus, 'ACTIVE');
    return TableName;
  }

  async function run(base, files, runtime, handler, payload) {
    const name = uniqueName(base);
    await createFunction(box.nimbus.lambda(), { name, zip: zipFiles(files), runtime, handler, Timeout: 30 });
    const r = await invoke(box.nimbus.lambda(), name, payload);
    assert.equal(r.functionError, undefined, `${r.text}\n${r.tail}`);
    return r.json;
  }

  it('unchanged boto3 code: client.put_item with a condition (and ConditionalCheckFailedException on a repeat), resource Table.get_item, update_item, batch_writer and query', t(async () => {
    const TableName = await table('ddb-boto3');
    const out = await run('ddb-boto3', { 'app.py': PYTHON }, 'python3.11', 'app.handler', { table: TableName, pk: 'py' });
    assert.deepEqual(out, {
      conditional: 'ConditionalCheckFailedException',
      got: { pk: 'py', sk: 1, count: 1, tags: ['a', 'b'], blob: 'bytes from boto3', doc: { from: 'boto3 client', ok: true, none: null } },
      updated: {
        pk: 'py', sk: 1, count: 42, tags: ['a', 'b', 'c'], blob: 'bytes from boto3', doc: { from: 'boto3 client', ok: true, none: null },
        status: 'updated', price: '19.99',
      },
      queried: [2, 4],
      scanned: 3,
      status: 'ACTIVE',
    });

    const { Item } = await ddb.send(new GetItemCommand({ TableName, Key: { pk: { S: 'py' }, sk: { N: '1' } }, ConsistentRead: true }));
    assert.deepEqual({ ...Item, tags: { SS: [...Item.tags.SS].sort() }, blob: { B: Buffer.from(Item.blob.B).toString() } }, {
      pk: { S: 'py' }, sk: { N: '1' }, count: { N: '42' }, tags: { SS: ['a', 'b', 'c'] }, blob: { B: 'bytes from boto3' },
      doc: { M: { from: { S: 'boto3 client' }, ok: { BOOL: true }, none: { NULL: true } } }, status: { S: 'updated' }, price: { N: '19.99' },
    });
    const q = await ddb.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'py' } }, ConsistentRead: true }));
    assert.deepEqual(q.Items.map((x) => [x.sk.N, x.kind?.S]), [['1', undefined], ['2', 'batch'], ['3', 'other'], ['4', 'batch']]);
  }));

  it('unchanged AWS SDK v3 code in an ES module: DynamoDBDocumentClient.from(new DynamoDBClient({})) with PutCommand, GetCommand, UpdateCommand and paged QueryCommand', t(async () => {
    const TableName = await table('ddb-doc');
    const out = await run('ddb-doc', { 'index.mjs': NODE_ESM }, 'nodejs20.x', 'index.handler', { table: TableName, pk: 'node' });
    assert.deepEqual(out, {
      got: { pk: 'node', sk: 2, title: 'item 2', tags: ['t2', 'x'], nested: { list: [1, 'two', { three: true }], none: null } },
      updated: { pk: 'node', sk: 3, title: 'changed', tags: ['t3', 'x'], nested: { list: [1, 2, { three: true }], none: null }, views: 1 },
      pages: [[4, 3], [2]],
      lastKey: { pk: 'node', sk: 3 },
    });

    const q = await ddb.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'node' } }, ConsistentRead: true }));
    assert.deepEqual(q.Items.map((x) => [x.sk.N, x.title.S]), [['1', 'item 1'], ['2', 'item 2'], ['3', 'changed'], ['4', 'item 4']]);
    const { Item } = await ddb.send(new GetItemCommand({ TableName, Key: { pk: { S: 'node' }, sk: { N: '3' } } }));
    assert.deepEqual({ ...Item, tags: { SS: [...Item.tags.SS].sort() } }, {
      pk: { S: 'node' }, sk: { N: '3' }, title: { S: 'changed' }, tags: { SS: ['t3', 'x'] }, views: { N: '1' },
      nested: { M: { list: { L: [{ N: '1' }, { N: '2' }, { M: { three: { BOOL: true } } }] }, none: { NULL: true } } },
    });
    assert.equal(Item.skipped, undefined, 'an undefined attribute removed by removeUndefinedValues was stored');
  }));

  it('unchanged AWS SDK v3 code in CommonJS: PutItemCommand, a ConditionalCheckFailedException carrying the old item, GetItemCommand', t(async () => {
    const TableName = await table('ddb-cjs');
    const out = await run('ddb-cjs', { 'index.js': NODE_CJS }, 'nodejs20.x', 'index.handler', { table: TableName, pk: 'cjs' });
    assert.deepEqual(out, { refused: { name: 'ConditionalCheckFailedException', isClass: true, old: 'written from CommonJS' }, note: 'written from CommonJS' });
    const { Item } = await ddb.send(new GetItemCommand({ TableName, Key: { pk: { S: 'cjs' }, sk: { N: '7' } } }));
    assert.deepEqual(Item, { pk: { S: 'cjs' }, sk: { N: '7' }, note: { S: 'written from CommonJS' } });
  }));
});
