// Asynchronous invocation: Event invokes and the legacy InvokeAsync answer 202
// once the event is on disk; failed events are retried (MaximumRetryAttempts,
// ~1 min / ~2 min, scaled here by --async-retry-scale 0.01) and their records
// land on OnFailure / OnSuccess destination functions in Lambda's invocation-
// record format; Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s) with
// AWS's shapes and validation errors. Destinations print what they receive;
// the tests read it back through FilterLogEvents.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  InvokeCommand,
  InvokeAsyncCommand,
  PutFunctionEventInvokeConfigCommand,
  GetFunctionEventInvokeConfigCommand,
  UpdateFunctionEventInvokeConfigCommand,
  DeleteFunctionEventInvokeConfigCommand,
  ListFunctionEventInvokeConfigsCommand,
} from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, uniqueName, SKIP_NO_BINARY, sleep } from '../lib/nimbus.mjs';
import { zipFixture } from '../lib/zip.mjs';
import { createFunction, functionArn } from '../lib/lambda.mjs';
import { logMessages } from '../lib/logs.mjs';

const ZIP = () => zipFixture('functions', 'python', 'async');

// Every log message of /aws/lambda/NAME that contains `marker`.
export async function logLines(logs, name, marker) {
  return (await logMessages(logs, name)).filter((m) => m.includes(marker)).map((m) => m.trim());
}

async function waitForLines(logs, name, marker, count, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lines = [];
  while (Date.now() < deadline) {
    lines = await logLines(logs, name, marker);
    if (lines.length >= count) return lines;
    await sleep(250);
  }
  return lines;
}

async function apiError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

async function sendEvent(lambda, name, payload) {
  const res = await lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: JSON.stringify(payload) }));
  assert.equal(res.StatusCode, 202);
  return res.$metadata.requestId;
}

describe('asynchronous invocation', { skip: SKIP_NO_BINARY }, () => {
  const box = useNimbus({ args: ['--async-retry-scale', '0.01'] });

  it('an event that fails on every attempt runs 3 times, then its record lands on the OnFailure function', { timeout: 120000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const logs = box.nimbus.logs();
    const fn = uniqueName('fails');
    const dest = uniqueName('onfail');
    await createFunction(lambda, { name: fn, zip: ZIP(), runtime: 'python3.11', handler: 'app.fail' });
    await createFunction(lambda, { name: dest, zip: ZIP(), runtime: 'python3.11', handler: 'app.record' });
    await lambda.send(new PutFunctionEventInvokeConfigCommand({
      FunctionName: fn,
      DestinationConfig: { OnFailure: { Destination: functionArn(dest) } },
    }));
    const started = Date.now();
    const requestId = await sendEvent(lambda, fn, { marker: 'm1', ORDER_IDS: ['9e07af03'] });
    const records = await waitForLines(logs, dest, 'ASYNC-RECORD', 1, 60000);
    assert.equal(records.length, 1, 'one failure record');
    // Retries wait ~1 min then ~2 min, scaled by 0.01: at least 1.8 s in all.
    assert.ok(Date.now() - started >= 1800, `record after ${Date.now() - started} ms`);
    const attempts = await logLines(logs, fn, 'ASYNC-ATTEMPT');
    assert.equal(attempts.length, 3, attempts.join('\n'));
    for (const a of attempts) assert.ok(a.includes(requestId), `every attempt has request id ${requestId}: ${a}`);
    const record = JSON.parse(records[0].slice('ASYNC-RECORD '.length));
    assert.equal(record.version, '1.0');
    assert.match(record.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(record.requestContext, {
      requestId,
      functionArn: `${functionArn(fn)}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    });
    assert.deepEqual(record.requestPayload, { marker: 'm1', ORDER_IDS: ['9e07af03'] });
    assert.deepEqual(record.responseContext, { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' });
    assert.equal(record.responsePayload.errorType, 'RuntimeError');
    assert.equal(record.responsePayload.errorMessage, 'failing on purpose: m1');
  }));

  it('an event that fails once succeeds on its retry, and the OnSuccess function gets a Success record', { timeout: 120000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const logs = box.nimbus.logs();
    const fn = uniqueName('flaky');
    const dest = uniqueName('onsuccess');
    const failDest = uniqueName('onfail2');
    await createFunction(lambda, { name: fn, zip: ZIP(), runtime: 'python3.11', handler: 'app.flaky' });
    await createFunction(lambda, { name: dest, zip: ZIP(), runtime: 'python3.11', handler: 'app.record' });
    await createFunction(lambda, { name: failDest, zip: ZIP(), runtime: 'python3.11', handler: 'app.record' });
    await lambda.send(new PutFunctionEventInvokeConfigCommand({
      FunctionName: fn,
      MaximumRetryAttempts: 1,
      DestinationConfig: { OnSuccess: { Destination: functionArn(dest) }, OnFailure: { Destination: functionArn(failDest) } },
    }));
    const requestId = await sendEvent(lambda, fn, { marker: 'flaky-1' });
    const records = await waitForLines(logs, dest, 'ASYNC-RECORD', 1, 60000);
    assert.equal(records.length, 1);
    const record = JSON.parse(records[0].slice('ASYNC-RECORD '.length));
    assert.equal(record.requestContext.condition, 'Success');
    assert.equal(record.requestContext.requestId, requestId);
    assert.equal(record.requestContext.approximateInvokeCount, 2);
    assert.equal(record.requestContext.functionArn, `${functionArn(fn)}:$LATEST`);
    assert.deepEqual(record.requestPayload, { marker: 'flaky-1' });
    assert.deepEqual(record.responseContext, { statusCode: 200, executedVersion: '$LATEST' });
    assert.deepEqual(record.responsePayload, { ok: true, marker: 'flaky-1' });
    assert.equal((await logLines(logs, fn, 'ASYNC-ATTEMPT')).length, 2);
    assert.equal((await logLines(logs, failDest, 'ASYNC-RECORD')).length, 0, 'no failure record');
  }));

  it('MaximumRetryAttempts 0: a failing event runs once', { timeout: 60000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const logs = box.nimbus.logs();
    const fn = uniqueName('noretry');
    const dest = uniqueName('onfail0');
    await createFunction(lambda, { name: fn, zip: ZIP(), runtime: 'python3.11', handler: 'app.fail' });
    await createFunction(lambda, { name: dest, zip: ZIP(), runtime: 'python3.11', handler: 'app.record' });
    await lambda.send(new PutFunctionEventInvokeConfigCommand({
      FunctionName: fn, MaximumRetryAttempts: 0, DestinationConfig: { OnFailure: { Destination: functionArn(dest) } },
    }));
    await sendEvent(lambda, fn, { marker: 'once' });
    const records = await waitForLines(logs, dest, 'ASYNC-RECORD', 1, 30000);
    assert.equal(records.length, 1);
    assert.equal(JSON.parse(records[0].slice(13)).requestContext.approximateInvokeCount, 1);
    await sleep(2500); // longer than the scaled retry delays
    assert.equal((await logLines(logs, fn, 'ASYNC-ATTEMPT')).length, 1);
  }));

  it('the legacy InvokeAsync answers Status 202 and the event runs', { timeout: 60000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const logs = box.nimbus.logs();
    const fn = uniqueName('legacy');
    await createFunction(lambda, { name: fn, zip: ZIP(), runtime: 'python3.11', handler: 'app.mark' });
    const res = await lambda.send(new InvokeAsyncCommand({ FunctionName: fn, InvokeArgs: JSON.stringify({ id: 'legacy-1' }) }));
    assert.equal(res.Status, 202);
    const lines = await waitForLines(logs, fn, 'ASYNC-EVENT legacy-1', 1, 30000);
    assert.deepEqual(lines, ['ASYNC-EVENT legacy-1']);
  }));

  it('many Event invokes all run exactly once when nothing fails', { timeout: 120000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const logs = box.nimbus.logs();
    const fn = uniqueName('many');
    await createFunction(lambda, { name: fn, zip: ZIP(), runtime: 'python3.11', handler: 'app.mark' });
    const ids = Array.from({ length: 60 }, (_, i) => `many-${i}`);
    await Promise.all(ids.map((id) => sendEvent(lambda, fn, { id })));
    const lines = await waitForLines(logs, fn, 'ASYNC-EVENT many-', ids.length, 90000);
    assert.deepEqual(lines.map((l) => l.split(' ')[1]).sort(), [...ids].sort());
  }));

  it('event invoke config: Put replaces, Update merges, Get, List, Delete, with AWS shapes', { timeout: 60000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const fn = uniqueName('eic');
    const dest = uniqueName('eic-dest');
    await createFunction(lambda, { name: fn, zip: ZIP(), runtime: 'python3.11', handler: 'app.mark' });
    await createFunction(lambda, { name: dest, zip: ZIP(), runtime: 'python3.11', handler: 'app.record' });
    const before = Date.now() / 1000;
    const put = await lambda.send(new PutFunctionEventInvokeConfigCommand({
      FunctionName: fn, MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: 'arn:aws:sqs:us-east-1:000000000000:dlq' } },
    }));
    assert.equal(put.FunctionArn, `${functionArn(fn)}:$LATEST`);
    assert.ok(put.LastModified instanceof Date, 'LastModified is an epoch-seconds timestamp');
    assert.ok(Math.abs(put.LastModified.getTime() / 1000 - before) < 60);
    assert.equal(put.MaximumRetryAttempts, 1);
    assert.equal(put.MaximumEventAgeInSeconds, 3600);
    assert.equal(put.DestinationConfig.OnFailure.Destination, 'arn:aws:sqs:us-east-1:000000000000:dlq');

    const upd = await lambda.send(new UpdateFunctionEventInvokeConfigCommand({
      FunctionName: fn, DestinationConfig: { OnSuccess: { Destination: functionArn(dest) } },
    }));
    assert.equal(upd.MaximumRetryAttempts, 1, 'Update keeps what it does not name');
    assert.equal(upd.DestinationConfig.OnSuccess.Destination, functionArn(dest));
    assert.equal(upd.DestinationConfig.OnFailure.Destination, 'arn:aws:sqs:us-east-1:000000000000:dlq');

    const replaced = await lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: fn, MaximumRetryAttempts: 0 }));
    assert.equal(replaced.MaximumEventAgeInSeconds, undefined, 'Put replaces the whole config');
    assert.equal(replaced.DestinationConfig.OnSuccess.Destination, undefined);

    const got = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: fn, Qualifier: '$LATEST' }));
    assert.equal(got.MaximumRetryAttempts, 0);
    assert.equal(got.FunctionArn, `${functionArn(fn)}:$LATEST`);

    const list = await lambda.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: fn }));
    assert.equal(list.FunctionEventInvokeConfigs.length, 1);
    assert.equal(list.FunctionEventInvokeConfigs[0].FunctionArn, `${functionArn(fn)}:$LATEST`);

    const del = await lambda.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: fn }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    const gone = await apiError(lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: fn })));
    assert.equal(gone.name, 'ResourceNotFoundException');
    assert.equal(gone.$metadata.httpStatusCode, 404);
    assert.equal(gone.message, `The function ${functionArn(fn)}:$LATEST doesn't have an EventInvokeConfig`);
    const list2 = await lambda.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: fn }));
    assert.deepEqual(list2.FunctionEventInvokeConfigs, []);
  }));

  it('event invoke config: validation errors name the exception and constraint', { timeout: 60000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const fn = uniqueName('eic-val');
    await createFunction(lambda, { name: fn, zip: ZIP(), runtime: 'python3.11', handler: 'app.mark' });
    const cases = [
      [{ MaximumRetryAttempts: 3 }, 'ValidationException', /Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2/],
      [{ MaximumEventAgeInSeconds: 59 }, 'ValidationException', /Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60/],
      [{ MaximumEventAgeInSeconds: 21601 }, 'ValidationException', /less than or equal to 21600/],
      [{}, 'InvalidParameterValueException', /You must specify at least one of error handling or destination setting\./],
      [{ DestinationConfig: { OnSuccess: { Destination: functionArn(fn) } } }, 'InvalidParameterValueException', /You can't specify the function as a destination for itself\./],
      [{ DestinationConfig: { OnSuccess: { Destination: functionArn(uniqueName('missing')) } } }, 'InvalidParameterValueException', /The destination ARN .* is invalid\./],
    ];
    for (const [input, name, message] of cases) {
      const e = await apiError(lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: fn, ...input })));
      assert.equal(e.name, name, JSON.stringify(input));
      assert.equal(e.$metadata.httpStatusCode, 400);
      assert.match(e.message, message);
    }
    const upd = await apiError(lambda.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: fn, MaximumRetryAttempts: 1 })));
    assert.equal(upd.name, 'ResourceNotFoundException');
    const nofn = await apiError(lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: uniqueName('nofn'), MaximumRetryAttempts: 1 })));
    assert.equal(nofn.name, 'ResourceNotFoundException');
    // Boundaries are accepted.
    await lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: fn, MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 }));
    await lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: fn, MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 21600 }));
  }));

  it('an Event invoke of an unknown function is refused with 404 and nothing is queued', { timeout: 30000 }, withLogs(box, async () => {
    const lambda = box.nimbus.lambda();
    const e = await apiError(lambda.send(new InvokeCommand({ FunctionName: uniqueName('nope'), InvocationType: 'Event', Payload: '{}' })));
    assert.equal(e.name, 'ResourceNotFoundException');
  }));
});
