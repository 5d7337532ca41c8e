// Function configuration and metadata with @aws-sdk/client-lambda: tags
// (CreateFunction, TagResource, UntagResource, ListTags, GetFunction), the
// resource-based policy (AddPermission, GetPolicy, RemovePermission),
// DeadLetterConfig, TracingConfig, LoggingConfig and the Environment merge rules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  UpdateFunctionConfigurationCommand,
  TagResourceCommand,
  UntagResourceCommand,
  ListTagsCommand,
  AddPermissionCommand,
  GetPolicyCommand,
  RemovePermissionCommand,
  PublishVersionCommand,
  CreateAliasCommand,
} from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, ACCOUNT } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, waitUpdated, invoke, expectServiceError, functionArn, UUID_RE } from '../lib/lambda.mjs';

describe('configuration, tags and policy (SDK)', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  const zip = () => zipFixture('functions', 'python', 'echo');

  it('tags: at CreateFunction, TagResource merges, UntagResource removes, ListTags and GetFunction show them', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('tags');
    await createFunction(lambda, { name, zip: zip(), runtime: 'python3.11', handler: 'app.handler', Tags: { team: 'a', env: 'dev' } });
    const arn = functionArn(name);
    assert.deepEqual((await lambda.send(new ListTagsCommand({ Resource: arn }))).Tags, { team: 'a', env: 'dev' });
    const tagged = await lambda.send(new TagResourceCommand({ Resource: arn, Tags: { env: 'prod', cost: '42' } }));
    assert.equal(tagged.$metadata.httpStatusCode, 204);
    assert.deepEqual((await lambda.send(new ListTagsCommand({ Resource: arn }))).Tags, { team: 'a', env: 'prod', cost: '42' });
    const untagged = await lambda.send(new UntagResourceCommand({ Resource: arn, TagKeys: ['team', 'cost'] }));
    assert.equal(untagged.$metadata.httpStatusCode, 204);
    assert.deepEqual((await lambda.send(new ListTagsCommand({ Resource: arn }))).Tags, { env: 'prod' });
    assert.deepEqual((await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Tags, { env: 'prod' });
    await lambda.send(new UntagResourceCommand({ Resource: arn, TagKeys: ['env'] }));
    assert.deepEqual((await lambda.send(new ListTagsCommand({ Resource: arn }))).Tags, {});
    assert.equal((await lambda.send(new GetFunctionCommand({ FunctionName: name }))).Tags, undefined);
    await expectServiceError(() => lambda.send(new ListTagsCommand({ Resource: functionArn(uniqueName('ghost')) })), { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => lambda.send(new TagResourceCommand({ Resource: arn, Tags: { 'aws:x': '1' } })), { name: 'InvalidParameterValueException', status: 400 });
  }));

  it('AddPermission → 201 statement, GetPolicy → policy document, duplicate Sid → 409, RemovePermission → 204, then 404', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('policy');
    await createFunction(lambda, { name, zip: zip(), runtime: 'python3.11', handler: 'app.handler' });
    await expectServiceError(() => lambda.send(new GetPolicyCommand({ FunctionName: name })), { name: 'ResourceNotFoundException', status: 404 });
    const added = await lambda.send(new AddPermissionCommand({
      FunctionName: name, StatementId: 's3-invoke', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com',
      SourceArn: 'arn:aws:s3:::my-bucket', SourceAccount: '123456789012',
    }));
    assert.equal(added.$metadata.httpStatusCode, 201);
    const statement = JSON.parse(added.Statement);
    assert.deepEqual(statement, {
      Sid: 's3-invoke',
      Effect: 'Allow',
      Principal: { Service: 's3.amazonaws.com' },
      Action: 'lambda:InvokeFunction',
      Resource: functionArn(name),
      Condition: { StringEquals: { 'AWS:SourceAccount': '123456789012' }, ArnLike: { 'AWS:SourceArn': 'arn:aws:s3:::my-bucket' } },
    });
    await lambda.send(new AddPermissionCommand({ FunctionName: name, StatementId: 'acct', Action: 'lambda:GetFunction', Principal: ACCOUNT }));
    const policy = await lambda.send(new GetPolicyCommand({ FunctionName: name }));
    assert.match(policy.RevisionId, UUID_RE);
    const doc = JSON.parse(policy.Policy);
    assert.equal(doc.Version, '2012-10-17');
    assert.equal(doc.Id, 'default');
    assert.deepEqual(doc.Statement.map((s) => s.Sid), ['s3-invoke', 'acct']);
    assert.deepEqual(doc.Statement[1].Principal, { AWS: `arn:aws:iam::${ACCOUNT}:root` });
    await expectServiceError(() => lambda.send(new AddPermissionCommand({ FunctionName: name, StatementId: 'acct', Action: 'lambda:InvokeFunction', Principal: '*' })), { name: 'ResourceConflictException', status: 409 });
    await expectServiceError(() => lambda.send(new AddPermissionCommand({ FunctionName: name, StatementId: 'x', Action: 'lambda:InvokeFunction', Principal: '*', RevisionId: '00000000-0000-0000-0000-000000000000' })), { name: 'PreconditionFailedException', status: 412 });
    await expectServiceError(() => lambda.send(new AddPermissionCommand({ FunctionName: name, StatementId: 'bad', Action: 's3:GetObject', Principal: '*' })), { name: 'ValidationException', status: 400 });
    const removed = await lambda.send(new RemovePermissionCommand({ FunctionName: name, StatementId: 's3-invoke' }));
    assert.equal(removed.$metadata.httpStatusCode, 204);
    await expectServiceError(() => lambda.send(new RemovePermissionCommand({ FunctionName: name, StatementId: 's3-invoke' })), { name: 'ResourceNotFoundException', status: 404 });
    await lambda.send(new RemovePermissionCommand({ FunctionName: name, StatementId: 'acct' }));
    await expectServiceError(() => lambda.send(new GetPolicyCommand({ FunctionName: name })), { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('a policy on an alias names the alias ARN and is separate from the function policy', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('apol');
    await createFunction(lambda, { name, zip: zip(), runtime: 'python3.11', handler: 'app.handler' });
    await lambda.send(new PublishVersionCommand({ FunctionName: name }));
    await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '1' }));
    const added = await lambda.send(new AddPermissionCommand({ FunctionName: name, Qualifier: 'live', StatementId: 'sns', Action: 'lambda:InvokeFunction', Principal: 'sns.amazonaws.com' }));
    assert.equal(JSON.parse(added.Statement).Resource, `${functionArn(name)}:live`);
    const policy = await lambda.send(new GetPolicyCommand({ FunctionName: `${name}:live` }));
    assert.equal(JSON.parse(policy.Policy).Statement.length, 1);
    await expectServiceError(() => lambda.send(new GetPolicyCommand({ FunctionName: name })), { name: 'ResourceNotFoundException', status: 404 });
    await expectServiceError(() => lambda.send(new AddPermissionCommand({ FunctionName: name, Qualifier: 'nope', StatementId: 's', Action: 'lambda:InvokeFunction', Principal: '*' })), { name: 'ResourceNotFoundException', status: 404 });
  }));

  it('DeadLetterConfig, TracingConfig and LoggingConfig are stored and returned', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('cfg');
    const dlq = `arn:aws:sqs:us-east-1:${ACCOUNT}:dead-letters`;
    const created = await createFunction(lambda, {
      name, zip: zip(), runtime: 'python3.11', handler: 'app.handler',
      DeadLetterConfig: { TargetArn: dlq }, TracingConfig: { Mode: 'Active' }, LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'DEBUG' },
    });
    assert.deepEqual(created.DeadLetterConfig, { TargetArn: dlq });
    assert.deepEqual(created.TracingConfig, { Mode: 'Active' });
    assert.deepEqual(created.LoggingConfig, { LogFormat: 'JSON', ApplicationLogLevel: 'DEBUG', SystemLogLevel: 'INFO', LogGroup: `/aws/lambda/${name}` });
    const sns = `arn:aws:sns:us-east-1:${ACCOUNT}:alerts`;
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, DeadLetterConfig: { TargetArn: sns }, TracingConfig: { Mode: 'PassThrough' }, LoggingConfig: { LogFormat: 'Text', LogGroup: '/custom/group' } }));
    await waitUpdated(lambda, name);
    const got = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.deepEqual(got.DeadLetterConfig, { TargetArn: sns });
    assert.deepEqual(got.TracingConfig, { Mode: 'PassThrough' });
    assert.deepEqual(got.LoggingConfig, { LogFormat: 'Text', LogGroup: '/custom/group' });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, DeadLetterConfig: { TargetArn: 'arn:aws:s3:::bucket' } })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, LoggingConfig: { SystemLogLevel: 'DEBUG' } })), { name: 'InvalidParameterValueException', status: 400 });
    await expectServiceError(() => lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, TracingConfig: { Mode: 'Sometimes' } })), { name: 'ValidationException', status: 400 });
    // An empty TargetArn removes the dead-letter queue.
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, DeadLetterConfig: { TargetArn: '' } }));
    await waitUpdated(lambda, name);
    assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }))).DeadLetterConfig, undefined);
  }));

  it('Environment: given replaces the whole map, absent keeps it, empty clears it; the function sees it', t(async () => {
    const lambda = box.nimbus.lambda();
    const name = uniqueName('env');
    await createFunction(lambda, { name, zip: zip(), runtime: 'python3.11', handler: 'app.handler', Environment: { Variables: { E2E_A: '1', E2E_B: '2' } } });
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: { E2E_C: '3' } } }));
    await waitUpdated(lambda, name);
    assert.deepEqual((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }))).Environment, { Variables: { E2E_C: '3' } });
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Timeout: 9 }));
    await waitUpdated(lambda, name);
    const kept = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    assert.deepEqual(kept.Environment, { Variables: { E2E_C: '3' } });
    assert.equal(kept.Timeout, 9);
    const r = await invoke(lambda, name, {});
    assert.equal(r.functionError, undefined, r.text);
    assert.deepEqual(r.json.customEnv, { E2E_C: '3' }, r.text);
    await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: {} } }));
    await waitUpdated(lambda, name);
    assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }))).Environment, undefined);
  }));
});
