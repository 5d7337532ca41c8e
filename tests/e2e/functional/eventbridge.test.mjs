// EventBridge subset (issue #5, scope 6) driven with @aws-sdk/client-eventbridge: rules
// with event patterns and targets (a function whose policy lets events.amazonaws.com
// invoke it, and an SQS queue), PutEvents matched against the patterns, Input and
// InputPath, rule management and its errors, and a rate(1 minute) schedule that fires
// in EventBridge's scheduled-event shape.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  EventBridgeClient,
  PutRuleCommand,
  DescribeRuleCommand,
  ListRulesCommand,
  DeleteRuleCommand,
  DisableRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
} from '@aws-sdk/client-eventbridge';
import { SQSClient, CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { AddPermissionCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, waitFor, SKIP_NO_BINARY, REGION, ACCOUNT, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, functionArn, expectServiceError } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';
import { zipFiles } from '../lib/zip.mjs';

const RECORDER = `import json

def handler(event, context):
    print("EVENT " + json.dumps(event, sort_keys=True))
`;

describe('EventBridge', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let eb;
  let sqs;
  let counter = 0;
  const name = (base) => `${RUN_ID}-${base}-${++counter}`;

  before(() => {
    eb = new EventBridgeClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
    sqs = new SQSClient({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  });

  async function recorder(base) {
    const fn = name(base);
    await createFunction(box.nimbus.lambda(), { name: fn, zip: zipFiles({ 'app.py': RECORDER }), runtime: 'python3.12', handler: 'app.handler' });
    await box.nimbus.lambda().send(new AddPermissionCommand({ FunctionName: fn, StatementId: 'events', Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com' }));
    return fn;
  }
  async function events(fn) {
    return (await logMessages(box.nimbus.logs(), fn)).filter((m) => m.startsWith('EVENT ')).map((m) => JSON.parse(m.slice(6)));
  }
  async function queue(base) {
    const QueueName = name(base);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName }));
    return { QueueUrl, arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${QueueName}` };
  }
  async function receive(QueueUrl, want, timeoutMs) {
    const got = [];
    const end = Date.now() + timeoutMs;
    while (got.length < want && Date.now() < end) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 5 }));
      got.push(...Messages.map((m) => JSON.parse(m.Body)));
    }
    return got;
  }

  it('PutEvents reaches the targets of the rules whose patterns match, as the event or as its Input/InputPath', t(async () => {
    const fn = await recorder('orders');
    const q = await queue('orders-q');
    const rule = name('big-orders');
    const put = await eb.send(new PutRuleCommand({
      Name: rule, EventPattern: JSON.stringify({ source: ['shop'], 'detail-type': ['OrderPlaced'], detail: { total: [{ numeric: ['>', 100] }] } }),
    }));
    assert.equal(put.RuleArn, `arn:aws:events:${REGION}:${ACCOUNT}:rule/${rule}`);
    const targets = await eb.send(new PutTargetsCommand({
      Rule: rule,
      Targets: [{ Id: 'fn', Arn: functionArn(fn) }, { Id: 'q', Arn: q.arn, InputPath: '$.detail' }],
    }));
    assert.equal(targets.FailedEntryCount, 0);
    const out = await eb.send(new PutEventsCommand({
      Entries: [
        { Source: 'shop', DetailType: 'OrderPlaced', Detail: JSON.stringify({ id: 'big', total: 250 }) },
        { Source: 'shop', DetailType: 'OrderPlaced', Detail: JSON.stringify({ id: 'small', total: 5 }) },
        { Source: 'bank', DetailType: 'OrderPlaced', Detail: JSON.stringify({ id: 'other', total: 500 }) },
      ],
    }));
    assert.equal(out.FailedEntryCount, 0);
    assert.equal(out.Entries.length, 3);
    const seen = await waitFor(() => events(fn), (e) => e.length >= 1, 30000);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].source, 'shop');
    assert.equal(seen[0]['detail-type'], 'OrderPlaced');
    assert.deepEqual(seen[0].detail, { id: 'big', total: 250 });
    assert.equal(seen[0].account, ACCOUNT);
    assert.equal(seen[0].id, out.Entries[0].EventId);
    assert.deepEqual(await receive(q.QueueUrl, 1, 15000), [{ id: 'big', total: 250 }]);
    // Nothing more arrives for the events that did not match.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await events(fn)).length, 1);
  }));

  it('rules are described, listed, disabled and deleted; bad patterns, schedules and names are refused', t(async () => {
    const rule = name('manage');
    await eb.send(new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: ['x'] }), Description: 'd' }));
    const d = await eb.send(new DescribeRuleCommand({ Name: rule }));
    assert.equal(d.State, 'ENABLED');
    assert.equal(d.Description, 'd');
    assert.equal(d.EventBusName, 'default');
    assert.ok((await eb.send(new ListRulesCommand({ NamePrefix: rule }))).Rules.some((r) => r.Name === rule));
    await eb.send(new DisableRuleCommand({ Name: rule }));
    assert.equal((await eb.send(new DescribeRuleCommand({ Name: rule }))).State, 'DISABLED');
    await eb.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 't', Arn: functionArn('whatever') }] }));
    assert.deepEqual((await eb.send(new ListTargetsByRuleCommand({ Rule: rule }))).Targets.map((x) => x.Id), ['t']);
    await expectServiceError(() => eb.send(new DeleteRuleCommand({ Name: rule })), { name: 'ValidationException', status: 400 });
    await eb.send(new RemoveTargetsCommand({ Rule: rule, Ids: ['t'] }));
    await eb.send(new DeleteRuleCommand({ Name: rule }));
    await expectServiceError(() => eb.send(new DescribeRuleCommand({ Name: rule })), { name: 'ResourceNotFoundException', status: 400 });
    await expectServiceError(() => eb.send(new PutRuleCommand({ Name: name('bad'), EventPattern: '{"source":"not-an-array"}' })),
      { name: 'InvalidEventPatternException', status: 400 });
    await expectServiceError(() => eb.send(new PutRuleCommand({ Name: name('bad'), ScheduleExpression: 'rate(5 minute)' })),
      { name: 'ValidationException', status: 400 });
  }));

  it('a rate(1 minute) schedule fires within a minute with a Scheduled Event for the rule', t(async () => {
    const q = await queue('ticks');
    const rule = name('every-minute');
    await eb.send(new PutRuleCommand({ Name: rule, ScheduleExpression: 'rate(1 minute)' }));
    await eb.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 'q', Arn: q.arn }] }));
    const [tick] = await receive(q.QueueUrl, 1, 75000);
    assert.ok(tick, 'no scheduled event within 75 s');
    assert.equal(tick['detail-type'], 'Scheduled Event');
    assert.equal(tick.source, 'aws.events');
    assert.deepEqual(tick.resources, [`arn:aws:events:${REGION}:${ACCOUNT}:rule/${rule}`]);
    assert.deepEqual(tick.detail, {});
    assert.match(tick.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
    await eb.send(new RemoveTargetsCommand({ Rule: rule, Ids: ['q'] }));
  }));
});
