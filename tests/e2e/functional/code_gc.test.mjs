// Code collection: the daemon keeps exactly the code packages its functions use. A
// package's zip (<data>/blobs/sha256/<hex>) goes as soon as no function version uses it;
// its unpacked directory (<data>/code/<hex>/) after a grace period for environments that
// may still run from it, and at once when the daemon starts on the data directory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteFunctionCommand, UpdateFunctionCodeCommand } from '@aws-sdk/client-lambda';
import { withDaemon, SKIP_NO_BINARY, RUN_ID } from '../lib/nimbus.mjs';
import { createFunction, invoke, waitUpdated } from '../lib/lambda.mjs';
import { zipFiles } from '../lib/zip.mjs';

const handler = (answer) => `export const handler = async () => ${JSON.stringify(answer)};\n`;
const hexOf = (zip) => crypto.createHash('sha256').update(zip).digest('hex');
const entries = (dir) => new Set(fs.readdirSync(dir));

describe('code collection', { skip: SKIP_NO_BINARY }, () => {
  it('keeps exactly the referenced packages: blobs at once, code directories by the next start', { timeout: 180000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nimbus-e2e-code-gc-'));
    const blobs = path.join(dataDir, 'blobs', 'sha256');
    const code = path.join(dataDir, 'code');
    const zipX = zipFiles({ 'index.mjs': handler('x') });
    const zipY = zipFiles({ 'index.mjs': handler('y') });
    const zipZ = zipFiles({ 'index.mjs': handler('z') });
    const [x, y, z] = [zipX, zipY, zipZ].map(hexOf);
    const a = `${RUN_ID}-gc-a`; // code X, deleted
    const b = `${RUN_ID}-gc-b`; // code Y, updated to Z
    const c = `${RUN_ID}-gc-c`; // code X, like a
    const node = { runtime: 'nodejs20.x', handler: 'index.handler' };
    try {
      await withDaemon({ dataDir }, async (n) => {
        const lambda = n.lambda();
        await createFunction(lambda, { name: a, zip: zipX, ...node });
        await createFunction(lambda, { name: b, zip: zipY, ...node });
        await createFunction(lambda, { name: c, zip: zipX, ...node });
        assert.deepEqual(entries(blobs), new Set([x, y]), 'identical zips are stored once');
        assert.deepEqual(entries(code), new Set([x, y]));
        assert.equal((await invoke(lambda, b, {})).json, 'y'); // an environment now runs from Y

        await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: b, ZipFile: zipZ }));
        await waitUpdated(lambda, b);
        await lambda.send(new DeleteFunctionCommand({ FunctionName: a }));

        // X is still c's; Y is nobody's: its zip is gone, its directory waits out the grace.
        assert.deepEqual(entries(blobs), new Set([x, z]));
        assert.deepEqual(entries(code), new Set([x, y, z]));
        assert.equal((await invoke(lambda, b, {})).json, 'z');
        assert.equal((await invoke(lambda, c, {})).json, 'x');
        await n.stop();
      });
      // No environment survives a restart: the new daemon removes Y's directory at start.
      await withDaemon({ dataDir }, async (n) => {
        assert.deepEqual(entries(blobs), new Set([x, z]));
        assert.deepEqual(entries(code), new Set([x, z]));
        const lambda = n.lambda();
        assert.equal((await invoke(lambda, b, {})).json, 'z');
        assert.equal((await invoke(lambda, c, {})).json, 'x');
        await n.stop();
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
