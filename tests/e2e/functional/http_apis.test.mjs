// HTTP APIs (API Gateway v2 subset, issue #5 scope 5), built with
// @aws-sdk/client-apigatewayv2 the way the SDK and CLI build them (CreateApi,
// CreateIntegration, CreateRoute, CreateStage with auto-deploy, or quick create with
// `Target`) and called with plain HTTP at http://<api-id>.execute-api.localhost:<port>/
// (sent to 127.0.0.1 with that Host) or at /execute-api/<api-id>/. Routes with {params}
// and {proxy+}, ANY and $default; payload formats 2.0 and 1.0; the function's policy
// must let apigateway.amazonaws.com invoke it, as on AWS.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiGatewayV2Client,
  CreateApiCommand,
  GetApiCommand,
  GetApisCommand,
  DeleteApiCommand,
  CreateIntegrationCommand,
  CreateRouteCommand,
  GetRoutesCommand,
  CreateStageCommand,
} from '@aws-sdk/client-apigatewayv2';
import { AddPermissionCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, SKIP_NO_BINARY, REGION, CREDENTIALS, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, functionArn, expectServiceError } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { httpRequest as call } from '../lib/http.mjs';

// Answers with what it was given.
const ECHO = `export const handler = async (event) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    version: event.version, routeKey: event.routeKey ?? event.resource, rawPath: event.rawPath ?? event.path,
    method: event.requestContext.http?.method ?? event.httpMethod, stage: event.requestContext.stage,
    pathParameters: event.pathParameters, query: event.queryStringParameters, body: event.body,
  }),
});
`;

describe('HTTP APIs (API Gateway v2)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let apigw;
  let counter = 0;
  const name = (base) => `${RUN_ID}-${base}-${++counter}`;

  before(() => {
    apigw = new ApiGatewayV2Client({ endpoint: box.nimbus.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  });

  async function echo(base, { allow = true } = {}) {
    const fn = name(base);
    await createFunction(box.nimbus.lambda(), { name: fn, zip: zipFiles({ 'index.mjs': ECHO }), runtime: 'nodejs20.x', handler: 'index.handler' });
    if (allow) {
      await box.nimbus.lambda().send(new AddPermissionCommand({
        FunctionName: fn, StatementId: 'apigw', Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com',
      }));
    }
    return fn;
  }

  it('routes with parameters, greedy paths, ANY and $default reach their integrations in payload format 2.0 and 1.0', t(async () => {
    const items = await echo('items');
    const legacy = await echo('legacy');
    const api = await apigw.send(new CreateApiCommand({ Name: name('api'), ProtocolType: 'HTTP' }));
    assert.equal(api.$metadata.httpStatusCode, 201);
    assert.match(api.ApiId, /^[a-z0-9]{10}$/);
    const endpoint = new URL(api.ApiEndpoint);
    assert.equal(endpoint.hostname, `${api.ApiId}.execute-api.localhost`);
    const v2 = await apigw.send(new CreateIntegrationCommand({ ApiId: api.ApiId, IntegrationType: 'AWS_PROXY', IntegrationUri: functionArn(items), PayloadFormatVersion: '2.0' }));
    const v1 = await apigw.send(new CreateIntegrationCommand({ ApiId: api.ApiId, IntegrationType: 'AWS_PROXY', IntegrationUri: functionArn(legacy), PayloadFormatVersion: '1.0' }));
    for (const [RouteKey, id] of [['GET /items/{id}', v2.IntegrationId], ['ANY /files/{proxy+}', v2.IntegrationId], ['POST /legacy', v1.IntegrationId], ['$default', v2.IntegrationId]]) {
      await apigw.send(new CreateRouteCommand({ ApiId: api.ApiId, RouteKey, Target: `integrations/${id}` }));
    }
    await apigw.send(new CreateStageCommand({ ApiId: api.ApiId, StageName: '$default', AutoDeploy: true }));
    const routes = await apigw.send(new GetRoutesCommand({ ApiId: api.ApiId }));
    assert.equal(routes.Items.length, 4);

    const got = await call(box.nimbus.port, { host: endpoint.host, path: '/items/42?color=red' });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(JSON.parse(got.text), {
      version: '2.0', routeKey: 'GET /items/{id}', rawPath: '/items/42', method: 'GET', stage: '$default',
      pathParameters: { id: '42' }, query: { color: 'red' },
    });
    const file = JSON.parse((await call(box.nimbus.port, { host: endpoint.host, method: 'DELETE', path: '/files/a/b.txt' })).text);
    assert.equal(file.routeKey, 'ANY /files/{proxy+}');
    assert.deepEqual(file.pathParameters, { proxy: 'a/b.txt' });
    const old = JSON.parse((await call(box.nimbus.port, { path: `/execute-api/${api.ApiId}/legacy?x=1`, method: 'POST', body: 'hi', headers: { 'Content-Type': 'text/plain' } })).text);
    assert.deepEqual(old, { version: '1.0', routeKey: '/legacy', rawPath: '/legacy', method: 'POST', stage: '$default', pathParameters: null, query: { x: '1' }, body: 'hi' });
    const fallback = JSON.parse((await call(box.nimbus.port, { host: endpoint.host, path: '/anything/else' })).text);
    assert.equal(fallback.routeKey, '$default');
  }));

  it('quick create with Target serves at once; without the permission API Gateway answers 500; Get, list and Delete work', t(async () => {
    const fn = await echo('quick');
    const api = await apigw.send(new CreateApiCommand({ Name: name('quick'), ProtocolType: 'HTTP', Target: functionArn(fn) }));
    const host = new URL(api.ApiEndpoint).host;
    const r = await call(box.nimbus.port, { host, path: '/hello' });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).routeKey, '$default');
    assert.equal((await apigw.send(new GetApiCommand({ ApiId: api.ApiId }))).Name, api.Name);
    assert.ok((await apigw.send(new GetApisCommand({}))).Items.some((a) => a.ApiId === api.ApiId));

    const locked = await echo('locked', { allow: false });
    const closed = await apigw.send(new CreateApiCommand({ Name: name('closed'), ProtocolType: 'HTTP', Target: functionArn(locked) }));
    const denied = await call(box.nimbus.port, { host: new URL(closed.ApiEndpoint).host, path: '/' });
    assert.equal(denied.status, 500);
    assert.deepEqual(JSON.parse(denied.text), { message: 'Internal Server Error' });

    await apigw.send(new DeleteApiCommand({ ApiId: api.ApiId }));
    await expectServiceError(() => apigw.send(new GetApiCommand({ ApiId: api.ApiId })), { name: 'NotFoundException', status: 404 });
    assert.equal((await call(box.nimbus.port, { host, path: '/hello' })).status, 404);
  }));
});
