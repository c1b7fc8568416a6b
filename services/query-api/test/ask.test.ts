import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { timeRange } from '../src/ask.ts';
import { type Harness, seqId, startHarness } from './harness.ts';
import { startReceiver } from './receivers.ts';

describe('question parser', () => {
  const now = Date.UTC(2026, 10, 23, 15, 30);
  it('reads time ranges', () => {
    assert.deepEqual(timeRange('findings in the last hour', now), { from: now - 3_600_000 });
    assert.deepEqual(timeRange('alerts over the past 3 days', now), { from: now - 3 * 86_400_000 });
    assert.deepEqual(timeRange('which techniques were seen today', now), { from: Date.UTC(2026, 10, 23) });
    assert.deepEqual(timeRange('yesterday', now), {
      from: Date.UTC(2026, 10, 22),
      to: Date.UTC(2026, 10, 23),
    });
    assert.deepEqual(timeRange('everything', now), {});
  });
});

describe('POST /v1/ask with an OpenAI-compatible endpoint', () => {
  let h: Harness;
  let llm: Awaited<ReturnType<typeof startReceiver>>;
  before(async () => {
    llm = await startReceiver((r) => {
      const req = JSON.parse(r.body) as { model: string; messages: { role: string; content: string }[] };
      assert.equal(r.url, '/v1/chat/completions');
      assert.equal(r.headers.authorization, 'Bearer llm-key');
      assert.equal(req.model, 'local-model');
      const q = req.messages.at(-1)?.content ?? '';
      const content = q.includes('beacon')
        ? JSON.stringify({ path: '/v1/findings', params: { tactic: 'TA0011', limit: 5, sort: '-score' } })
        : JSON.stringify({ path: '/v1/keys', params: {} });
      return { status: 200, body: { choices: [{ message: { role: 'assistant', content } }] } };
    });
    h = await startHarness({
      seed: 30,
      env: {
        TIDEWATCH_LLM_URL: `${llm.url}/v1`,
        TIDEWATCH_LLM_MODEL: 'local-model',
        TIDEWATCH_LLM_API_KEY: 'llm-key',
      },
    });
  });
  after(async () => {
    await h?.close();
    await llm?.close();
  });

  it('keeps the deterministic parser first and sends only free-form questions to the LLM', async () => {
    const parsed = await h.call('POST', '/v1/ask', {
      key: h.keys.read,
      body: { question: `top 3 events similar to ${seqId(4)}` },
    });
    assert.equal(parsed.body.answered_by, 'parser');
    assert.equal(llm.requests.length, 0);
    const free = await h.call('POST', '/v1/ask', {
      key: h.keys.read,
      body: { question: 'show me anything that looks like beaconing' },
    });
    assert.equal(free.status, 200);
    assert.equal(free.body.answered_by, 'llm');
    assert.deepEqual(free.body.query, {
      method: 'GET',
      path: '/v1/findings',
      params: { tactic: 'TA0011', limit: 5, sort: '-score' },
    });
    assert.ok(free.body.rows.length > 0 && free.body.rows.length <= 5);
    assert.ok(free.body.rows.every((r: unknown[]) => r[6] === 'Command and Control'));
  });

  it('never lets the LLM run a query outside the findings read API', async () => {
    const r = await h.call('POST', '/v1/ask', {
      key: h.keys.read,
      body: { question: 'list the api keys please' },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'question');
  });
});
