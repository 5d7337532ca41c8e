// Issue #5's "a restart loses no object, message, rule or mapping": everything the
// event-source services accepted is configured on one daemon, which is stopped; a second
// daemon on the same data directory still has the bucket notification, the queue and its
// unreceived message, the event source mapping (which then delivers that message), the
// EventBridge rule and its targets, the function URL and the HTTP API, and each works.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Client, CreateBucketCommand, PutBucketNotificationConfigurationCommand, GetBucketNotificationConfigurationCommand } from '@aws-sdk/client-s3';
import { SQSClient, CreateQueueCommand, SendMessageCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand, DescribeRuleCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { ApiGatewayV2Client, CreateApiCommand, GetApiCommand } from '@aws-sdk/client-apigatewayv2';
import {
  AddPermissionCommand,
  CreateEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  UpdateEventSourceMappingCommand,
  CreateFunctionUrlConfigCommand,
  GetFunctionUrlConfigCommand,
} from '@aws-sdk/client-lambda';
import { withDaemon, waitFor, SKIP_NO_BINARY, REGION, ACCOUNT, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, functionArn } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { httpRequest } from '../lib/http.mjs';

const HANDLER = `export const handler = async (event) => {
  for (const r of event.Records ?? []) console.log('GOT ' + r.body);
  return { statusCode: 200, body: 'alive' };
};
`;

describe('event sources across a restart', { skip: SKIP_NO_BINARY }, () => {
  it('notifications, queues and their messages, mappings, rules, function URLs and HTTP APIs survive a restart and work after it', { timeout: 240000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-sources-restart-'));
    const fn = `${RUN_ID}-restart-fn`;
    const bucket = `${RUN_ID}-restart`.toLowerCase();
    const queueName = `${RUN_ID}-restart-q`;
    const rule = `${RUN_ID}-restart-rule`;
    const clients = (n) => ({
      s3: new S3Client({ endpoint: n.endpoint, region: REGION, credentials: CREDENTIALS, forcePathStyle: true, maxAttempts: 1 }),
      sqs: new SQSClient({ endpoint: n.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 }),
      eb: new EventBridgeClient({ endpoint: n.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 }),
      apigw: new ApiGatewayV2Client({ endpoint: n.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 }),
      lambda: n.lambda(),
    });
    let mappingId;
    let urlHost;
    let apiId;
    let queueUrl;
    try {
      await withDaemon({ dataDir }, async (n) => {
        const c = clients(n);
        await createFunction(c.lambda, { name: fn, zip: zipFiles({ 'index.mjs': HANDLER }), runtime: 'nodejs20.x', handler: 'index.handler' });
        for (const [StatementId, Principal, Action, extra] of [
          ['s3', 's3.amazonaws.com', 'lambda:InvokeFunction', {}], ['events', 'events.amazonaws.com', 'lambda:InvokeFunction', {}],
          ['apigw', 'apigateway.amazonaws.com', 'lambda:InvokeFunction', {}], ['url', '*', 'lambda:InvokeFunctionUrl', { FunctionUrlAuthType: 'NONE' }]]) {
          await c.lambda.send(new AddPermissionCommand({ FunctionName: fn, StatementId, Principal, Action, ...extra }));
        }
        await c.s3.send(new CreateBucketCommand({ Bucket: bucket }));
        await c.s3.send(new PutBucketNotificationConfigurationCommand({
          Bucket: bucket, NotificationConfiguration: { LambdaFunctionConfigurations: [{ Id: 'kept', LambdaFunctionArn: functionArn(fn), Events: ['s3:ObjectCreated:*'] }] },
        }));
        ({ QueueUrl: queueUrl } = await c.sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: { VisibilityTimeout: '5' } })));
        // Mapped but disabled, so the message waits in the queue across the restart.
        ({ UUID: mappingId } = await c.lambda.send(new CreateEventSourceMappingCommand({
          FunctionName: fn, EventSourceArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueName}`, BatchSize: 1, Enabled: false,
        })));
        await c.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'sent before the restart' }));
        await c.eb.send(new PutRuleCommand({ Name: rule, EventPattern: JSON.stringify({ source: ['restart'] }) }));
        await c.eb.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 'fn', Arn: functionArn(fn) }] }));
        urlHost = new URL((await c.lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: fn, AuthType: 'NONE' }))).FunctionUrl).hostname;
        ({ ApiId: apiId } = await c.apigw.send(new CreateApiCommand({ Name: 'restart', ProtocolType: 'HTTP', Target: functionArn(fn) })));
        await n.stop();
      });
      await withDaemon({ dataDir }, async (n) => {
        const c = clients(n);
        const notification = await c.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
        assert.deepEqual(notification.LambdaFunctionConfigurations.map((x) => x.Id), ['kept']);
        const { Attributes } = await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));
        assert.equal(Attributes.VisibilityTimeout, '5');
        assert.equal(Attributes.ApproximateNumberOfMessages, '1');
        assert.equal((await c.eb.send(new DescribeRuleCommand({ Name: rule }))).State, 'ENABLED');
        assert.deepEqual((await c.eb.send(new ListTargetsByRuleCommand({ Rule: rule }))).Targets.map((x) => x.Id), ['fn']);
        assert.equal((await c.lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: fn }))).AuthType, 'NONE');
        assert.equal((await c.apigw.send(new GetApiCommand({ ApiId: apiId }))).Name, 'restart');
        const mapping = await c.lambda.send(new GetEventSourceMappingCommand({ UUID: mappingId }));
        assert.equal(mapping.State, 'Disabled');
        // Each still works on the new daemon (whose port differs).
        const url = await httpRequest(n.port, { host: `${urlHost}:${n.port}` });
        assert.equal(url.status, 200, url.text);
        assert.equal(url.text, 'alive');
        const api = await httpRequest(n.port, { host: `${apiId}.execute-api.localhost:${n.port}` });
        assert.equal(api.status, 200, api.text);
        await c.lambda.send(new UpdateEventSourceMappingCommand({ UUID: mappingId, Enabled: true }));
        const got = await waitFor(async () => (await logMessages(n.logs(), fn)).filter((m) => m.includes('GOT ')), (m) => m.length >= 1, 30000);
        assert.ok(got.some((m) => m.includes('sent before the restart')), got.join('\n'));
        await n.stop();
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
