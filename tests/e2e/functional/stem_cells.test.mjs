// Stem cells (docs/decisions/0006-stem-cells.md): Python and Node environments started before
// any function is known, which cold starts specialize. A function deployed after the pool was
// created must get an environment that is wholly its own: its code, its variables, an empty
// /tmp, none of another function's modules or state, and its own limits. Every function here
// reports whether it ran in a cell (a cell's process was started with _NIMBUS_SPECIALIZATION_FD,
// which /proc/self/environ keeps), so the test fails if cells were silently not used.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName, SKIP_NO_BINARY, sleep, withDaemon, CREDENTIALS } from '../lib/nimbus.mjs';
import { basicAuthorization } from '../lib/sign.mjs';
import { zipFiles } from '../lib/zip.mjs';
import { createFunction, invoke } from '../lib/lambda.mjs';

const IS_ROOT = process.getuid?.() === 0;

// The value of an unlabelled Prometheus sample at GET /metrics.
async function metric(n, name) {
  const res = await fetch(`${n.endpoint}/metrics`, { headers: { authorization: basicAuthorization(CREDENTIALS) } });
  assert.equal(res.status, 200);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} not in /metrics:\n${text}`);
  return Number(line.split(' ')[1]);
}

// Waits (bounded) until `count` cells are ready: a cold start then finds one.
async function waitForCells(n, count) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if ((await metric(n, 'nimbus_stem_cells_ready')) >= count) return;
    await sleep(20);
  }
  assert.fail(`fewer than ${count} stem cells ready after 30 s`);
}

const PY_CELL_FLAG = "b'_NIMBUS_SPECIALIZATION_FD' in open('/proc/self/environ', 'rb').read()";

const ALPHA = `
import os
SECRET = 'alpha-secret'
def handler(event, context):
    with open('/tmp/alpha-was-here', 'w') as f:
        f.write(SECRET)
    os.environ['ALPHA_LEAK'] = '1'
    return {'cell': ${PY_CELL_FLAG}, 'only': os.environ.get('ALPHA_ONLY')}
`;

const BETA = `
import os, sys
def handler(event, context):
    st = os.statvfs('/tmp')
    return {
        'cell': ${PY_CELL_FLAG},
        'beta_only': os.environ.get('BETA_ONLY'),
        'alpha_only': os.environ.get('ALPHA_ONLY'),
        'alpha_leak': os.environ.get('ALPHA_LEAK'),
        'tmp': os.listdir('/tmp'),
        'task': sorted(os.listdir('/var/task')),
        'alpha_module': 'alpha' in sys.modules,
        'cwd': os.getcwd(),
        'tmp_mb': st.f_blocks * st.f_frsize >> 20,
        'memory': os.environ.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE'),
        'name': os.environ.get('AWS_LAMBDA_FUNCTION_NAME'),
        'handler': os.environ.get('_HANDLER'),
        'context_name': context.function_name,
        'specialization_fd': os.environ.get('_NIMBUS_SPECIALIZATION_FD'),
    }
`;

const HOG = `
import os
def handler(event, context):
    cell = ${PY_CELL_FLAG}
    if event.get('hog'):
        block = bytearray(event['hog'] << 20)
        return {'cell': cell, 'allocated': len(block)}
    return {'cell': cell}
`;

const NODE = `
import fs from 'node:fs';
export const handler = async () => ({
  cell: fs.readFileSync('/proc/self/environ').includes('_NIMBUS_SPECIALIZATION_FD'),
  gammaOnly: process.env.GAMMA_ONLY ?? null,
  alphaOnly: process.env.ALPHA_ONLY ?? null,
  task: fs.readdirSync('/var/task').sort(),
  tmp: fs.readdirSync('/tmp'),
  cwd: process.cwd(),
  name: process.env.AWS_LAMBDA_FUNCTION_NAME,
});
`;

describe('stem cells', { skip: SKIP_NO_BINARY || (!IS_ROOT && 'stem cells need root') }, () => {
  it('a function deployed after the pool was created gets its own code, variables, /tmp and limits, and nothing of the function a cell served before',
    { timeout: 180000 }, async () => {
      await withDaemon({ args: ['--stem-cells', '1'] }, async (n) => {
        await waitForCells(n, 2);
        const lambda = n.lambda();
        const alpha = uniqueName('cell-alpha');
        await createFunction(lambda, {
          name: alpha, runtime: 'python3.12', handler: 'alpha.handler', zip: zipFiles({ 'alpha.py': ALPHA }),
          Environment: { Variables: { ALPHA_ONLY: 'a' } },
        });
        const a = await invoke(lambda, alpha, {});
        assert.equal(a.functionError, undefined, a.text);
        assert.deepEqual(a.json, { cell: true, only: 'a' });

        // The replacement cell was started while alpha's environment existed.
        await waitForCells(n, 2);
        const beta = uniqueName('cell-beta');
        await createFunction(lambda, {
          name: beta, runtime: 'python3.11', handler: 'beta.handler', zip: zipFiles({ 'beta.py': BETA }),
          MemorySize: 256, EphemeralStorage: { Size: 600 }, Environment: { Variables: { BETA_ONLY: 'b' } },
        });
        const b = await invoke(lambda, beta, {});
        assert.equal(b.functionError, undefined, b.text);
        assert.deepEqual(b.json, {
          cell: true, beta_only: 'b', alpha_only: null, alpha_leak: null, tmp: [], task: ['beta.py'],
          alpha_module: false, cwd: '/var/task', tmp_mb: 600, memory: '256', name: beta,
          handler: 'beta.handler', context_name: beta, specialization_fd: null,
        });

        // Node: its own code and variables as well.
        await waitForCells(n, 2);
        const gamma = uniqueName('cell-gamma');
        await createFunction(lambda, {
          name: gamma, runtime: 'nodejs20.x', handler: 'index.handler', zip: zipFiles({ 'index.mjs': NODE }),
          Environment: { Variables: { GAMMA_ONLY: 'g' } },
        });
        const g = await invoke(lambda, gamma, {});
        assert.equal(g.functionError, undefined, g.text);
        assert.deepEqual(g.json, {
          cell: true, gammaOnly: 'g', alphaOnly: null, task: ['index.mjs'], tmp: [], cwd: '/var/task', name: gamma,
        });

        // The function's memory limit replaced the cell's (1,769 MB while waiting).
        await waitForCells(n, 2);
        const hog = uniqueName('cell-hog');
        await createFunction(lambda, {
          name: hog, runtime: 'python3.12', handler: 'app.handler', zip: zipFiles({ 'app.py': HOG }), MemorySize: 128,
        });
        const small = await invoke(lambda, hog, {});
        assert.deepEqual(small.json, { cell: true });
        const big = await invoke(lambda, hog, { hog: 400 });
        assert.equal(big.functionError, 'Unhandled', big.text);
        assert.equal(big.json.errorType, 'Runtime.OutOfMemory', big.text);

        assert.ok((await metric(n, 'nimbus_cold_starts_stem_cell_total')) >= 4);
      });
    });

  it('a function that sets a start-up variable (PYTHONWARNINGS) gets a sandbox of its own, and it works',
    { timeout: 120000 }, async () => {
      await withDaemon({ args: ['--stem-cells', '1'] }, async (n) => {
        await waitForCells(n, 2);
        const lambda = n.lambda();
        const name = uniqueName('cell-own');
        await createFunction(lambda, {
          name, runtime: 'python3.12', handler: 'app.handler', zip: zipFiles({ 'app.py': HOG }),
          Environment: { Variables: { PYTHONWARNINGS: 'ignore' } },
        });
        const r = await invoke(lambda, name, {});
        assert.equal(r.functionError, undefined, r.text);
        assert.deepEqual(r.json, { cell: false });
        assert.equal(await metric(n, 'nimbus_cold_starts_stem_cell_total'), 0);
        assert.equal(await metric(n, 'nimbus_cold_starts_total'), 1);
      });
    });

  it('--stem-cells 0 starts no cell and cold starts still work', { timeout: 120000 }, async () => {
    await withDaemon({ args: ['--stem-cells', '0'] }, async (n) => {
      const lambda = n.lambda();
      const name = uniqueName('cell-none');
      await createFunction(lambda, { name, runtime: 'python3.12', handler: 'app.handler', zip: zipFiles({ 'app.py': HOG }) });
      const r = await invoke(lambda, name, {});
      assert.deepEqual(r.json, { cell: false });
      assert.equal(await metric(n, 'nimbus_stem_cells_ready'), 0);
    });
  });
});
