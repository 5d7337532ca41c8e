// Function URLs (issue #5, scope 5), configured with @aws-sdk/client-lambda and called
// with plain HTTP as a browser or curl would: at http://<url-id>.lambda-url.localhost:<port>/
// (sent to 127.0.0.1 with that Host) and at the path fallback /lambda-url/<url-id>/. The
// function gets payload format 2.0 and its result becomes the response; public URLs need
// the lambda:InvokeFunctionUrl permission, as on AWS; CORS preflights are answered.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateFunctionUrlConfigCommand,
  GetFunctionUrlConfigCommand,
  UpdateFunctionUrlConfigCommand,
  DeleteFunctionUrlConfigCommand,
  ListFunctionUrlConfigsCommand,
  AddPermissionCommand,
} from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, SKIP_NO_BINARY, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, functionArn, expectServiceError } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { httpRequest as call } from '../lib/http.mjs';

const ECHO = `export const handler = async (event) => {
  if (event.rawPath === '/plain') return { hello: 'world' };
  if (event.rawPath === '/trace') return { trace: process.env._X_AMZN_TRACE_ID };
  if (event.rawPath === '/fail') throw new Error('boom');
  return {
    statusCode: 201,
    headers: { 'content-type': 'application/json', 'x-echo': 'yes' },
    cookies: ['session=abc; HttpOnly'],
    body: JSON.stringify({
      version: event.version, routeKey: event.routeKey, rawPath: event.rawPath, rawQueryString: event.rawQueryString,
      query: event.queryStringParameters, method: event.requestContext.http.method, accountId: event.requestContext.accountId,
      apiId: event.requestContext.apiId, cookies: event.cookies, header: event.headers['x-custom'], body: event.body,
      isBase64Encoded: event.isBase64Encoded,
    }),
  };
};
`;

describe('function URLs', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  let counter = 0;
  const name = (base) => `${RUN_ID}-${base}-${++counter}`;

  async function echoFunction(base) {
    const fn = name(base);
    await createFunction(box.nimbus.lambda(), { name: fn, zip: zipFiles({ 'index.mjs': ECHO }), runtime: 'nodejs20.x', handler: 'index.handler' });
    return fn;
  }

  it('a public URL (AuthType NONE with the InvokeFunctionUrl permission) gives the function payload 2.0 and returns its response, by host and by path', t(async () => {
    const lambda = box.nimbus.lambda();
    const fn = await echoFunction('url');
    const created = await lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: fn, AuthType: 'NONE' }));
    assert.equal(created.$metadata.httpStatusCode, 201);
    const url = new URL(created.FunctionUrl);
    assert.match(url.hostname, /^[a-z0-9]{32}\.lambda-url\.localhost$/);
    assert.equal(Number(url.port), box.nimbus.port);
    assert.equal(created.FunctionArn, functionArn(fn));
    assert.equal(created.AuthType, 'NONE');
    const id = url.hostname.split('.')[0];
    // Without the permission the URL is forbidden, as on AWS.
    const forbidden = await call(box.nimbus.port, { host: url.host, path: '/x' });
    assert.equal(forbidden.status, 403);
    assert.deepEqual(JSON.parse(forbidden.text), { Message: 'Forbidden' });
    await lambda.send(new AddPermissionCommand({
      FunctionName: fn, StatementId: 'public-url', Action: 'lambda:InvokeFunctionUrl', Principal: '*', FunctionUrlAuthType: 'NONE',
    }));
    const r = await call(box.nimbus.port, {
      host: url.host, method: 'POST', path: '/items/42?a=1&a=2&b=x',
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'hi', Cookie: 'c1=v1; c2=v2' }, body: '{"k":"v"}',
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers['x-echo'], 'yes');
    assert.deepEqual(r.headers['set-cookie'], ['session=abc; HttpOnly']);
    assert.deepEqual(JSON.parse(r.text), {
      version: '2.0', routeKey: '$default', rawPath: '/items/42', rawQueryString: 'a=1&a=2&b=x', query: { a: '1,2', b: 'x' },
      method: 'POST', accountId: 'anonymous', apiId: id, cookies: ['c1=v1', 'c2=v2'], header: 'hi', body: '{"k":"v"}',
      isBase64Encoded: false,
    });
    // The path fallback reaches the same function; a result without statusCode is a 200 JSON body.
    const plain = await call(box.nimbus.port, { path: `/lambda-url/${id}/plain` });
    assert.equal(plain.status, 200);
    assert.match(plain.headers['content-type'], /application\/json/);
    assert.deepEqual(JSON.parse(plain.text), { hello: 'world' });
    // A function error is a 502.
    const failed = await call(box.nimbus.port, { host: url.host, path: '/fail' });
    assert.equal(failed.status, 502);
    // An unknown url id is not found.
    assert.equal((await call(box.nimbus.port, { path: '/lambda-url/nosuchid/' })).status, 404);
    // The caller's trace reaches the function (_X_AMZN_TRACE_ID): an X-Ray header as it is,
    // a W3C traceparent converted, and without either a new trace.
    const traced = async (headers) => JSON.parse((await call(box.nimbus.port, { host: url.host, path: '/trace', headers })).text).trace;
    assert.equal(await traced({ 'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' }),
      'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1');
    assert.equal(await traced({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }),
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1');
    assert.match(await traced({}), /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
  }));

  it('Get, Update (CORS), List and Delete; a second Create conflicts and a bad AuthType is refused', t(async () => {
    const lambda = box.nimbus.lambda();
    const fn = await echoFunction('url-api');
    await expectServiceError(() => lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: fn })), { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: fn, AuthType: 'MAYBE' })), { status: 400 });
    const created = await lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: fn, AuthType: 'AWS_IAM' }));
    await expectServiceError(() => lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: fn, AuthType: 'NONE' })), { name: 'ResourceConflictException', status: 409 });
    const got = await lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: fn }));
    assert.equal(got.FunctionUrl, created.FunctionUrl);
    assert.equal(got.AuthType, 'AWS_IAM');
    // An IAM URL refuses an unsigned request.
    const url = new URL(created.FunctionUrl);
    assert.equal((await call(box.nimbus.port, { host: url.host })).status, 403);
    const updated = await lambda.send(new UpdateFunctionUrlConfigCommand({
      FunctionName: fn, AuthType: 'NONE', Cors: { AllowOrigins: ['https://app.example'], AllowMethods: ['GET', 'POST'], AllowHeaders: ['x-custom'], MaxAge: 60 },
    }));
    assert.equal(updated.AuthType, 'NONE');
    assert.deepEqual(updated.Cors.AllowOrigins, ['https://app.example']);
    await lambda.send(new AddPermissionCommand({ FunctionName: fn, StatementId: 'public', Action: 'lambda:InvokeFunctionUrl', Principal: '*', FunctionUrlAuthType: 'NONE' }));
    const preflight = await call(box.nimbus.port, {
      host: url.host, method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(preflight.headers['access-control-allow-methods'], 'GET,POST');
    assert.equal(preflight.headers['access-control-max-age'], '60');
    const cross = await call(box.nimbus.port, { host: url.host, headers: { Origin: 'https://app.example' } });
    assert.equal(cross.headers['access-control-allow-origin'], 'https://app.example');
    const other = await call(box.nimbus.port, { host: url.host, headers: { Origin: 'https://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const listed = await lambda.send(new ListFunctionUrlConfigsCommand({ FunctionName: fn }));
    assert.deepEqual(listed.FunctionUrlConfigs.map((c) => c.FunctionUrl), [created.FunctionUrl]);
    await lambda.send(new DeleteFunctionUrlConfigCommand({ FunctionName: fn }));
    await expectServiceError(() => lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: fn })), { name: 'ResourceNotFoundException', status: 404 });
    assert.equal((await call(box.nimbus.port, { host: url.host })).status, 404);
  }));
});
