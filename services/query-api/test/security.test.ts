import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, type Harness, startHarness } from './harness.ts';

describe('rate limits and CORS', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      seed: 3,
      env: { TIDEWATCH_RATE_LIMIT_PER_MINUTE: '30', TIDEWATCH_CORS_ORIGINS: 'https://soc.example' },
    });
  });
  after(async () => h?.close());

  it('answers 429 past the per-key limit, and health checks are never limited', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++)
      statuses.push((await h.call('GET', '/v1/cases', { key: h.keys.read })).status);
    assert.ok(statuses.slice(0, 25).every((s) => s === 200));
    assert.equal(statuses.at(-1), 429);
    for (let i = 0; i < 40; i++) assert.equal((await h.call('GET', '/livez', { key: null })).status, 200);
  });

  it('sends CORS headers to allow-listed origins only', async () => {
    const ok = await fetch(`${h.url}/livez`, { headers: { origin: 'https://soc.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://soc.example');
    const other = await fetch(`${h.url}/livez`, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});

describe('defaults', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ deps: { ui: undefined } });
  });
  after(async () => h?.close());

  it('has CORS off, serves the UI shell without a key, and keeps unknown API paths behind auth', async () => {
    const r = await fetch(`${h.url}/livez`, { headers: { origin: 'https://soc.example' } });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const shell = await fetch(`${h.url}/`);
    assert.ok([200, 503].includes(shell.status), `UI shell answered ${shell.status}`);
    assert.equal((await h.call('GET', '/v1/nothing-here', { key: null })).status, 401);
    assert.equal((await h.call('GET', '/v1/nothing-here', { key: ADMIN_KEY })).status, 404);
  });
});
