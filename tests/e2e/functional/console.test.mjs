// The web console (issue #7, scope 5), driven in headless Chromium (Debian's
// `chromium`) by playwright-core. Nothing is set up by hand: the test creates a
// function, a bucket, a queue with a mapping to the function, and a table with
// the SDKs, then, from the browser only:
//   - opens the server's address and is asked to sign in (issue #8: the
//     console signs in with an access key and then holds an HttpOnly,
//     SameSite=Strict session cookie); a wrong secret is refused; signing in
//     with the harness's admin key (CREDENTIALS) lands on the function list;
//   - the cookie alone, without the console's X-Nimbus-Console header, opens
//     no API (checked with fetch from node);
//   - opens the function, picks the S3 event template and invokes it from the
//     page, and sees the result, the function's log line in the live tail, the
//     REPORT in recent invocations, and the invocation in the charts (their
//     figures, and the pixels of the invocations chart, which change);
//   - invokes a failing event and sees it counted as an error;
//   - visits event sources, buckets (and a bucket's objects), queues, tables
//     (and a table's items) and usage, each showing what was created;
//   - signs out, is back at the sign-in form, and the old cookie opens nothing;
//     a session ended elsewhere sends the page back to the sign-in form;
// with no JavaScript error or failed request on any page (but the sign-in's
// own refusals: GET /console/session's 401 before signing in, the wrong
// secret's 403). Screenshots of every
// page are written to $NIMBUS_ARTIFACTS (default: a temporary directory) and
// checked to be real PNGs of the viewport's size; with
// NIMBUS_UPDATE_SCREENSHOTS=1 the function page's is also written to
// docs/console.png.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { S3Client, CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SQSClient, CreateQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBClient, CreateTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { useNimbus, withLogs, SKIP_NO_BINARY, RUN_ID, REGION, CREDENTIALS, REPO_ROOT, commandExists } from '../lib/nimbus.mjs';
import { createFunction } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const CHROMIUM = process.env.NIMBUS_CHROMIUM || '/usr/bin/chromium';
let playwright = null;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = null;
}
const SKIP = SKIP_NO_BINARY
  || (!playwright && 'playwright-core is not installed (npm ci in tests/e2e)')
  || (!commandExists(CHROMIUM) && `no Chromium at ${CHROMIUM} (Debian package chromium; tools/deps.sh --test installs it)`);

const APP = `import json
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail from the console")
    key = event["Records"][0]["s3"]["object"]["key"] if "Records" in event else None
    print("console-marker handled", json.dumps(key))
    return {"handled": key}
`;

const VIEWPORT = { width: 1440, height: 1000 };
const ARTIFACTS = process.env.NIMBUS_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-console-'));

// Width and height from a PNG's IHDR, and whether its pixels vary (not a blank page).
function pngInfo(buf) {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG signature');
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  const idat = [];
  for (let off = 8; off < buf.length;) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') idat.push(buf.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const distinct = new Set();
  for (let i = 0; i < raw.length && distinct.size < 64; i += 997) distinct.add(raw[i]);
  return { width, height, distinct: distinct.size };
}

describe('web console', { skip: SKIP }, () => {
  const box = useNimbus();
  const t = (fn) => withLogs(box, fn);
  const name = `${RUN_ID}-console`;
  const bucket = `${RUN_ID}-console-bucket`.toLowerCase();
  const queue = `${RUN_ID}-console-queue`;
  const tableName = `${RUN_ID}-console-table`;
  let browser;
  let context;
  let page;
  const problems = [];

  before(async () => {
    const n = box.nimbus;
    const clientOptions = { endpoint: n.endpoint, region: REGION, credentials: CREDENTIALS };
    await createFunction(n.lambda(), { name, zip: zipFiles({ 'app.py': APP }), runtime: 'python3.12', handler: 'app.handler', MemorySize: 256 });
    const s3 = new S3Client({ ...clientOptions, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'reports/2026/summary.txt', Body: 'hello' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'top.txt', Body: 'x'.repeat(2048) }));
    const sqs = new SQSClient(clientOptions);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queue }));
    const queueArn = `arn:aws:sqs:${REGION}:000000000000:${queue}`;
    await n.lambda().send(new CreateEventSourceMappingCommand({ FunctionName: name, EventSourceArn: queueArn, BatchSize: 7, Enabled: false }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'waiting' }));
    const ddb = new DynamoDBClient(clientOptions);
    await ddb.send(new CreateTableCommand({
      TableName: tableName, BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }));
    await ddb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'item-1' }, colour: { S: 'teal' }, n: { N: '42' } } }));

    browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    context = await browser.newContext({ viewport: VIEWPORT });
    page = await context.newPage();
    // The sign-in's answers when not signed in or refused are expected.
    const isSession = (url) => { try { return new URL(url).pathname === '/console/session'; } catch { return false; } };
    const signInRefusal = (url, status) => isSession(url) && [401, 403].includes(status);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (/^Failed to load resource: the server responded with a status of (401|403)/.test(m.text())
        && isSession(m.location().url)) return;
      problems.push(`console error: ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400 && !signInRefusal(r.url(), r.status())) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
  }, { timeout: 120000 });

  after(async () => {
    await browser?.close();
  });

  async function screenshot(file) {
    const buf = await page.screenshot({ path: path.join(ARTIFACTS, file) });
    const info = pngInfo(buf);
    assert.deepEqual([info.width, info.height], [VIEWPORT.width, VIEWPORT.height], file);
    assert.ok(info.distinct > 8, `${file} is not blank`);
    return buf;
  }

  const sessionCookie = async () => (await context.cookies()).find((c) => c.name === 'nimbus_session');

  async function signIn(secret = CREDENTIALS.secretAccessKey) {
    await page.getByLabel('Access key ID').fill(CREDENTIALS.accessKeyId);
    await page.getByLabel('Secret access key').fill(secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  // An API request from node, with `headers`.
  async function listFunctions(headers) {
    const response = await fetch(`${box.nimbus.endpoint}/2015-03-31/functions/`, { headers });
    return { status: response.status, body: await response.json() };
  }

  it('asks to sign in before showing anything, and says where the keys are', t(async () => {
    const response = await page.goto(`${box.nimbus.endpoint}/`);
    assert.equal(response.status(), 200);
    assert.match(page.url(), /\/console\/$/);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(await page.getByLabel('Secret access key').getAttribute('type'), 'password');
    assert.match(await page.locator('form.sign-in').textContent(), /<data-dir>\/credentials\.json on the server/);
    assert.equal(await page.locator('nav.side').isVisible(), false, 'no navigation before signing in');
    assert.equal(await page.locator('#view').isVisible(), false);
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), false);
    await screenshot('sign-in.png');
  }));

  it('refuses a wrong secret with an error and no session cookie', t(async () => {
    await signIn('not/the/secret/at/all/0123456789abcdefghij');
    const error = page.locator('form.sign-in .error');
    await error.waitFor();
    assert.match(await error.textContent(), /The access key ID or secret is wrong/);
    assert.equal(await sessionCookie(), undefined);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  }));

  it('signs in and opens on the function list', t(async (tc) => {
    const started = Date.now();
    const response = await page.goto(`${box.nimbus.endpoint}/`);
    assert.equal(response.status(), 200);
    await signIn();
    await page.getByRole('link', { name }).waitFor();
    assert.equal(await page.locator('[data-testid="account-key"]').textContent(), CREDENTIALS.accessKeyId);
    assert.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible());
    const listed = Date.now() - started;
    const nav = await page.evaluate(() => {
      const [n] = performance.getEntriesByType('navigation');
      const bytes = performance.getEntriesByType('resource').reduce((a, r) => a + r.transferSize, n.transferSize);
      return { domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd, bytes };
    });
    tc.diagnostic(`console: DOMContentLoaded ${nav.domContentLoaded.toFixed(0)} ms, load ${nav.load.toFixed(0)} ms, ${(nav.bytes / 1024).toFixed(0)} KiB transferred, function list shown ${listed} ms after navigation started`);
    assert.equal(await page.locator('nav.side a.active').textContent(), 'Functions');
    await page.locator('#server-status.ok').waitFor();
    await screenshot('functions.png');
  }));

  it('holds the session in an HttpOnly, SameSite=Strict cookie', t(async () => {
    const cookie = await sessionCookie();
    assert.ok(cookie, 'a nimbus_session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/');
    assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await page.evaluate(() => document.cookie), '', 'the page\'s scripts cannot read it');
  }));

  it('refuses an API request with the cookie but without the console header', t(async () => {
    const cookie = `nimbus_session=${(await sessionCookie()).value}`;
    const bare = await listFunctions({ Cookie: cookie });
    assert.equal(bare.status, 403);
    assert.equal(bare.body.__type, 'MissingAuthenticationToken');
    const withHeader = await listFunctions({ Cookie: cookie, 'X-Nimbus-Console': '1' });
    assert.equal(withHeader.status, 200);
    assert.ok(withHeader.body.Functions.some((f) => f.FunctionName === name));
  }));

  it('test-invokes the function from its page and sees the result, the log line and the charts update', t(async () => {
    await page.getByRole('link', { name }).click();
    await page.getByRole('heading', { name: 'Monitoring' }).waitFor();
    const invocations = page.locator('[data-testid="invocations-figure"]');
    await invocations.waitFor();
    assert.equal(await invocations.textContent(), '0');
    const tile = page.locator('.tile[data-metric="invocations"] canvas');
    const before = await tile.screenshot();

    await page.getByLabel('Event template').selectOption({ label: 'S3 Put' });
    assert.match(await page.getByLabel('Event JSON').inputValue(), /ObjectCreated:Put/);
    await page.getByRole('button', { name: 'Invoke' }).click();
    const outcome = page.locator('[data-testid="invoke-outcome"]');
    await outcome.waitFor({ timeout: 30000 });
    assert.match(await outcome.textContent(), /^Succeeded · [\d.]+ ms · billed \d+ ms · \d+\/256 MB/);
    assert.deepEqual(JSON.parse(await page.locator('[data-testid="invoke-response"]').textContent()), { handled: 'test/key' });

    await page.locator('[data-testid="log-tail"]', { hasText: 'console-marker handled "test/key"' }).waitFor({ timeout: 15000 });
    await page.locator('[data-testid="invocations-figure"]', { hasText: /^1$/ }).waitFor({ timeout: 15000 });
    await page.locator('[data-testid="coldstarts-figure"]', { hasText: /^1 · init p99 / }).waitFor({ timeout: 15000 });
    await page.locator('[data-testid="duration-figure"]', { hasText: /^p99 [\d.]+ ms$/ }).waitFor({ timeout: 15000 });
    await page.locator('table tr', { hasText: 'success' }).first().waitFor({ timeout: 15000 });

    // The chart's pixels changed, and its bar is drawn in the series' colour.
    const after = await tile.screenshot();
    assert.notDeepEqual(after, before, 'the invocations chart redrew');
    const painted = await tile.evaluate((canvas) => {
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0 && data[i + 2] > 150 && data[i] < 120) n++;
      return n;
    });
    assert.ok(painted > 0, 'a bar is drawn');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot('function.png');
    if (process.env.NIMBUS_UPDATE_SCREENSHOTS === '1') {
      await page.screenshot({ path: path.join(REPO_ROOT, 'docs', 'console.png'), fullPage: true });
    }
  }));

  it('shows a failed invocation as failed and counts it as an error', t(async () => {
    await page.getByLabel('Event JSON').fill('{"fail": true}');
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.locator('[data-testid="invoke-outcome"]', { hasText: 'Failed (Unhandled)' }).waitFor({ timeout: 30000 });
    assert.match(await page.locator('[data-testid="invoke-response"]').textContent(), /asked to fail from the console/);
    await page.locator('[data-testid="errors-figure"]', { hasText: /^1 \/ 0$/ }).waitFor({ timeout: 15000 });
    await page.locator('[data-testid="invocations-figure"]', { hasText: /^2$/ }).waitFor({ timeout: 15000 });
    // The mapping created above is among the function's triggers.
    await page.locator('section', { hasText: 'Triggers' }).locator('td', { hasText: queue }).waitFor();
  }));

  it('rejects an event that is not JSON without invoking', t(async () => {
    await page.getByLabel('Event JSON').fill('{not json');
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.locator('.result .error', { hasText: 'Invalid JSON' }).waitFor();
  }));

  it('lists event sources, buckets, queues, tables and usage', t(async () => {
    await page.getByRole('link', { name: 'Event sources' }).click();
    const row = page.locator('tr', { hasText: queue });
    await row.waitFor();
    assert.match(await row.textContent(), /SQS.*batch 7.*Disabled/);
    await screenshot('sources.png');

    await page.getByRole('link', { name: 'Buckets' }).click();
    await page.getByRole('link', { name: bucket }).click();
    await page.getByRole('link', { name: 'reports/' }).waitFor();
    assert.match(await page.locator('tr', { hasText: 'top.txt' }).textContent(), /2\.0 KiB/);
    await page.getByRole('link', { name: 'reports/' }).click();
    await page.getByRole('link', { name: '2026/' }).click();
    await page.locator('td', { hasText: 'summary.txt' }).waitFor();
    await screenshot('bucket.png');

    await page.getByRole('link', { name: 'Queues' }).click();
    const q = page.locator('tr', { hasText: queue });
    await q.waitFor();
    assert.match(await q.textContent(), /Standard\s*1\s*0\s*0/);

    await page.getByRole('link', { name: 'Tables' }).click();
    await page.getByRole('link', { name: tableName }).click();
    await page.locator('td', { hasText: 'teal' }).waitFor();
    assert.match(await page.locator('tr', { hasText: 'teal' }).textContent(), /item-1.*42|42.*item-1/);

    await page.getByRole('link', { name: 'Usage' }).click();
    const usage = page.locator('tr', { hasText: name });
    await usage.waitFor();
    const [, requests, billed, gbSeconds, cost] = await usage.locator('td').allTextContents();
    assert.equal(requests, '2');
    assert.match(billed, /^\d+ ms$/);
    assert.match(gbSeconds, /^\d+\.\d{3}$/);
    assert.match(cost, /^\$0\.0*[1-9]\d{0,2}$/, 'the cost of two requests, in three significant digits');
    await screenshot('usage.png');
  }));

  it('signs out back to the sign-in form, and the old cookie no longer works', t(async () => {
    const old = `nimbus_session=${(await sessionCookie()).value}`;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.locator('.notice', { hasText: 'Signed out.' }).waitFor();
    assert.equal(await page.locator('nav.side').isVisible(), false);
    assert.equal(await sessionCookie(), undefined, 'the cookie is cleared');
    const refused = await listFunctions({ Cookie: old, 'X-Nimbus-Console': '1' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.__type, 'ExpiredTokenException');
    assert.match(refused.body.message, /sign in again/);
    // Reloading stays signed out.
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  }));

  it('had no script errors or failed requests', () => {
    // The bucket page's deliberate 404s would show here too: there are none.
    assert.deepEqual(problems, []);
  });

  // After the check above: the refused API calls here are the point.
  it('goes back to the sign-in form when the session ends elsewhere', t(async () => {
    await signIn();
    await page.getByRole('link', { name }).waitFor();
    const cookie = `nimbus_session=${(await sessionCookie()).value}`;
    const out = await fetch(`${box.nimbus.endpoint}/console/session`, { method: 'DELETE', headers: { Cookie: cookie, 'X-Nimbus-Console': '1' } });
    assert.equal(out.status, 204);
    await page.getByRole('link', { name: 'Queues' }).click();
    await page.locator('.notice', { hasText: 'Your console session has ended: The console session has expired or is not valid; sign in again' }).waitFor();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(await page.locator('nav.side').isVisible(), false);
  }));
});
