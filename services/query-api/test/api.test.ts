import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { EmbeddedSuppressionStore } from '@tidewatch/suppression';
import { needsServices } from '@tidewatch/testing';
import {
  ADMIN_KEY,
  DIM,
  type Backend,
  type Harness,
  makeFlows,
  makeFinding,
  seqId,
  startHarness,
  T0,
} from './harness.ts';

const SEEDED = 60;

for (const backend of ['embedded', 'redis'] as Backend[]) {
  describe(`query API over HTTP (${backend} stores)`, backend === 'redis' ? needsServices() : {}, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ backend, seed: SEEDED });
      for (const n of [0, 3]) {
        const f = makeFinding(n);
        await h.api.services.stores.evidence.put({
          sequence_id: f.sequence_id,
          src_ip: f.src_ip,
          dst_ip: f.dst_ip,
          window_start_ms: f.window_start_ms,
          window_end_ms: f.window_end_ms,
          flows: makeFlows(n),
        });
      }
    });
    after(async () => h?.close());

    describe('auth', () => {
      it('leaves /livez, /readyz, /metrics and /openapi.json open', async () => {
        for (const p of ['/livez', '/readyz', '/metrics', '/openapi.json'])
          assert.equal((await h.call('GET', p, { key: null })).status, 200, p);
      });
      it('answers 401 without a key, with a malformed key and with a wrong key', async () => {
        const missing = await h.call('GET', '/v1/findings', { key: null });
        assert.equal(missing.status, 401);
        assert.equal(missing.body.message, 'missing API key (Authorization: Bearer <key>)');
        assert.equal((await h.call('GET', '/v1/findings', { key: 'nope' })).status, 401);
        const forged = h.keys.read.slice(0, -4) + 'AAAA';
        assert.equal((await h.call('GET', '/v1/findings', { key: forged })).body.message, 'invalid API key');
      });
      it('answers 403 when the scope is too low, and admin implies write implies read', async () => {
        const r = await h.call('POST', '/v1/cases', { key: h.keys.read, body: { title: 'x' } });
        assert.equal(r.status, 403);
        assert.equal(r.body.message, 'this route needs the write scope');
        assert.equal((await h.call('GET', '/v1/keys', { key: h.keys.write })).status, 403);
        assert.equal((await h.call('GET', '/v1/findings', { key: h.keys.write })).status, 200);
        assert.equal((await h.call('GET', '/v1/keys', { key: ADMIN_KEY })).status, 200);
        const me = await h.call('GET', '/v1/whoami', { key: h.keys.write });
        assert.deepEqual([me.body.name, me.body.scopes], ['write-key', ['write']]);
        assert.equal((await h.call('GET', '/v1/whoami', { key: null })).status, 401);
      });
      it('stores keys hashed, lists them without secrets and revokes them', async () => {
        const created = await h.call('POST', '/v1/keys', { body: { name: 'temp', scopes: ['read'] } });
        assert.equal(created.status, 201);
        assert.match(created.body.key, /^tw_[0-9a-f]{16}_[A-Za-z0-9_-]{32}$/);
        const stored = await h.docs.get<{ hash: string; salt: string }>('api_keys', created.body.id);
        assert.ok(
          stored &&
            stored.hash.length === 64 &&
            // The secret is all of the key after `tw_<16 hex>_` (it may itself contain '_').
            !JSON.stringify(stored).includes(created.body.key.slice('tw_0123456789abcdef_'.length)),
        );
        const list = await h.call('GET', '/v1/keys');
        assert.ok(list.body.items.every((k: Record<string, unknown>) => !('hash' in k) && !('salt' in k)));
        assert.equal((await h.call('GET', '/v1/findings', { key: created.body.key })).status, 200);
        assert.equal((await h.call('DELETE', `/v1/keys/${created.body.id}`)).status, 200);
        assert.equal((await h.call('GET', '/v1/findings', { key: created.body.key })).status, 401);
        const bad = await h.call('POST', '/v1/keys', { body: { name: 'x', scopes: ['root'] } });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.field, 'scopes.0');
      });
    });

    describe('findings', () => {
      it('lists newest first, hides nothing unsuppressed, and pages with a cursor', async () => {
        const seen = new Set<string>();
        let cursor: string | null = null;
        let pages = 0;
        do {
          const r = await h.call(
            'GET',
            `/v1/findings?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
            { key: h.keys.read },
          );
          assert.equal(r.status, 200);
          for (const f of r.body.items) seen.add(f.id);
          cursor = r.body.next_cursor;
          pages++;
        } while (cursor);
        assert.equal(seen.size, SEEDED);
        assert.equal(pages, 3);
      });
      it('filters by verdict, severity, tactic, technique, CIDR, time and min score', async () => {
        const q = async (qs: string) =>
          (await h.call('GET', `/v1/findings?limit=1000&${qs}`, { key: h.keys.read })).body.items as {
            id: string;
          }[];
        const expect = (pred: (n: number) => boolean) =>
          Array.from({ length: SEEDED }, (_, n) => n).filter(pred).length;
        assert.equal(
          (await q('verdict=malicious')).length,
          expect((n) => n % 3 === 0),
        );
        assert.equal(
          (await q('severity=high')).length,
          expect((n) => n % 3 === 0 && n % 2 === 0),
        );
        assert.equal(
          (await q('severity=high,medium')).length,
          expect((n) => n % 3 === 0),
        );
        assert.equal(
          (await q('tactic=TA0011')).length,
          expect((n) => n % 3 === 0 && n % 4 === 1),
        );
        assert.equal(
          (await q('technique=T1046')).length,
          expect((n) => n % 3 === 0 && n % 4 === 0),
        );
        assert.equal(
          (await q('src_ip=10.0.0.1')).length,
          expect((n) => n % 10 === 0),
        );
        assert.equal(
          (await q('src_ip=10.0.0.0/30')).length,
          expect((n) => n % 10 < 3),
        );
        assert.equal(
          (await q('dst_ip=192.168.1.2')).length,
          expect((n) => n % 5 === 1),
        );
        assert.equal(
          (await q('min_score=0.5')).length,
          expect((n) => n % 3 === 0),
        );
        assert.equal((await q(`from=${T0 + 2 * 3_600_000}&to=${T0 + 3 * 3_600_000}`)).length, 10);
        assert.equal((await q(`from=${new Date(T0 + 5 * 3_600_000).toISOString()}`)).length, 10);
        assert.equal((await q('model_version=other')).length, 0);
        const byScore = await h.call('GET', '/v1/findings?sort=-score&limit=1', { key: h.keys.read });
        assert.equal(byScore.body.items[0].score, 0.9);
      });
      it('names the offending field on bad input', async () => {
        const cases: [string, string][] = [
          ['limit=0', 'limit'],
          ['limit=abc', 'limit'],
          ['verdict=evil', 'verdict'],
          ['severity=urgent', 'severity'],
          ['tactic=recon', 'tactic'],
          ['src_ip=10.0.0.999', 'src_ip'],
          ['dst_ip=10.0.0.0/40', 'dst_ip'],
          ['dst_ip=10.0.0.0/', 'dst_ip'],
          ['src_ip=10.0.0.0%2F0x18', 'src_ip'],
          ['from=yesterdayish', 'from'],
          ['sort=name', 'sort'],
          ['bogus=1', 'bogus'],
          ['min_score=2', 'min_score'],
        ];
        for (const [qs, field] of cases) {
          const r = await h.call('GET', `/v1/findings?${qs}`, { key: h.keys.read });
          assert.equal(r.status, 400, qs);
          assert.equal(r.body.field, field, qs);
        }
      });
      it('gets one finding with device types, 404 for an unknown id, 400 for a malformed id', async () => {
        const put = await h.call('PUT', '/v1/device-types', {
          key: h.keys.write,
          body: { address: '10.0.0.0/24', type: 'workstation' },
        });
        assert.equal(put.status, 200);
        await h.call('PUT', '/v1/device-types', {
          key: h.keys.write,
          body: { address: '192.168.1.1', type: 'webserver', label: 'www' },
        });
        const r = await h.call('GET', `/v1/findings/${seqId(0)}`, { key: h.keys.read });
        assert.equal(r.status, 200);
        assert.equal(r.body.id, seqId(0));
        assert.equal(r.body.src_device_type, 'workstation');
        assert.equal(r.body.dst_device_type, 'webserver');
        assert.equal(r.body.tactics[0].id, 'TA0007');
        assert.equal((await h.call('GET', `/v1/findings/${seqId(9999)}`, { key: h.keys.read })).status, 404);
        const bad = await h.call('GET', '/v1/findings/not-a-uuid', { key: h.keys.read });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.field, 'id');
        const badType = await h.call('PUT', '/v1/device-types', {
          key: h.keys.write,
          body: { address: '10.1.1.1', type: 'toaster' },
        });
        assert.equal(badType.body.field, 'type');
        const badAddr = await h.call('PUT', '/v1/device-types', {
          key: h.keys.write,
          body: { address: 'example.com', type: 'dns' },
        });
        assert.equal(badAddr.body.field, 'address');
        const list = await h.call('GET', '/v1/device-types', { key: h.keys.read });
        assert.equal(list.body.items.length, 2);
        assert.equal(
          (
            await h.call('PUT', '/v1/device-types', {
              key: h.keys.read,
              body: { address: '1.1.1.1', type: 'dns' },
            })
          ).status,
          403,
        );
      });
      it('returns the k nearest findings with similarity, excluding the finding itself', async () => {
        const r = await h.call('GET', `/v1/findings/${seqId(4)}/similar?k=5`, { key: h.keys.read });
        assert.equal(r.status, 200);
        assert.equal(r.body.items.length, 5);
        for (const hit of r.body.items) {
          assert.notEqual(hit.finding.id, seqId(4));
          assert.ok(hit.similarity > 0.99, `similarity ${hit.similarity}`);
          assert.equal(Number.parseInt(hit.finding.dst_ports[0], 10), 22); // same tactic direction (n % 4 == 0)
        }
        const sims = r.body.items.map((i: { similarity: number }) => i.similarity);
        assert.deepEqual(
          sims,
          [...sims].sort((a: number, b: number) => b - a),
        );
        const filtered = await h.call('GET', `/v1/findings/${seqId(4)}/similar?k=50&verdict=malicious`, {
          key: h.keys.read,
        });
        assert.ok(
          filtered.body.items.every(
            (i: { finding: { verdict: string } }) => i.finding.verdict === 'malicious',
          ),
        );
        assert.equal(
          (await h.call('GET', `/v1/findings/${seqId(4)}/similar?k=0`, { key: h.keys.read })).body.field,
          'k',
        );
        const byVector = await h.call('POST', '/v1/similar', {
          key: h.keys.read,
          body: { vector: [0, 1, 0, 0, 0, 0, 0, 0], k: 3 },
        });
        assert.equal(byVector.status, 200);
        assert.equal(byVector.body.items.length, 3);
        assert.ok(
          byVector.body.items.every(
            (i: { finding: { dst_ports: number[] } }) => i.finding.dst_ports[0] === 80,
          ),
        );
        const wrongDim = await h.call('POST', '/v1/similar', {
          key: h.keys.read,
          body: { vector: [1, 0, 0], k: 3 },
        });
        assert.equal(wrongDim.status, 400);
        assert.equal(wrongDim.body.field, 'vector');
        assert.equal(
          (await h.call('POST', '/v1/similar', { key: h.keys.read, body: { vector: 'x' } })).body.field,
          'vector',
        );
        assert.equal(
          (await h.call('POST', '/v1/similar', { key: null, body: { vector: [1, 2] } })).status,
          401,
        );
      });
      it('returns the evidence flows, 404 when the sequence was never seen', async () => {
        const r = await h.call('GET', `/v1/findings/${seqId(3)}/evidence`, { key: h.keys.read });
        assert.equal(r.status, 200);
        assert.equal(r.body.flows.length, 3);
        assert.equal(r.body.flows[0].src_port, 40000);
        assert.equal(
          (await h.call('GET', `/v1/findings/${seqId(5)}/evidence`, { key: h.keys.read })).status,
          404,
        );
        assert.equal((await h.call('GET', `/v1/findings/${seqId(3)}/evidence`, { key: null })).status, 401);
      });
      it('records feedback and status changes with the write scope only', async () => {
        const fb = await h.call('POST', `/v1/findings/${seqId(6)}/feedback`, {
          key: h.keys.write,
          body: { label: 'commonplace', comment: 'backup job' },
        });
        assert.equal(fb.status, 201);
        assert.equal(
          (await h.call('GET', `/v1/findings/${seqId(6)}/feedback`, { key: h.keys.read })).body.label,
          'commonplace',
        );
        assert.equal(
          (
            await h.call('POST', `/v1/findings/${seqId(6)}/feedback`, {
              key: h.keys.write,
              body: { label: 'maybe' },
            })
          ).body.field,
          'label',
        );
        assert.equal(
          (
            await h.call('POST', `/v1/findings/${seqId(6)}/feedback`, {
              key: h.keys.read,
              body: { label: 'tp' },
            })
          ).status,
          403,
        );
        const patched = await h.call('PATCH', `/v1/findings/${seqId(6)}`, {
          key: h.keys.write,
          body: { status: 'in_progress' },
        });
        assert.equal(patched.body.status, 'in_progress');
        assert.equal(
          (await h.call('PATCH', `/v1/findings/${seqId(6)}`, { key: h.keys.write, body: { status: 'gone' } }))
            .body.field,
          'status',
        );
      });
    });

    describe('analytics', () => {
      it('computes the overview from the incremental aggregates', async () => {
        const r = await h.call('GET', `/v1/overview?from=${T0}&to=${T0 + 6 * 3_600_000}`, {
          key: h.keys.read,
        });
        assert.equal(r.status, 200);
        assert.equal(r.body.total_sequences, SEEDED);
        assert.equal(r.body.suspicious, SEEDED / 3);
        assert.equal(r.body.unclassified, 0);
        assert.equal(r.body.unique_ip_pairs, 10);
        let flows = 0;
        for (let n = 0; n < SEEDED; n++) flows += makeFinding(n).connections;
        assert.equal(r.body.total_flows, flows);
        assert.equal(
          r.body.tactics.reduce((a: number, t: { count: number }) => a + t.count, 0),
          SEEDED / 3,
        );
        assert.equal(r.body.top_src_ips.length, 10);
        assert.equal(r.body.top_src_ips[0].count, 6);
        assert.equal(
          r.body.top_dst_ports.reduce((a: number, p: { count: number }) => a + p.count, 0),
          SEEDED,
        );
        assert.equal(r.body.over_time.length, 6);
        const half = await h.call('GET', `/v1/overview?from=${T0}&to=${T0 + 3_600_000}`, {
          key: h.keys.read,
        });
        assert.equal(half.body.total_sequences, 10);
        assert.equal(
          (await h.call('GET', `/v1/overview?from=${T0 + 10}&to=${T0}`, { key: h.keys.read })).body.field,
          'from',
        );
        assert.equal((await h.call('GET', '/v1/overview?top=1000', { key: h.keys.read })).body.field, 'top');
        assert.equal((await h.call('GET', '/v1/overview', { key: null })).status, 401);
      });
      it('answers forensics for a source, a pair and everything', async () => {
        const src = await h.call('GET', '/v1/forensics?src_ip=10.0.0.1', { key: h.keys.read });
        assert.equal(src.status, 200);
        const mine = Array.from({ length: SEEDED }, (_, n) => n)
          .filter((n) => n % 10 === 0)
          .map((n) => makeFinding(n));
        assert.equal(src.body.sequences, mine.length);
        assert.equal(
          src.body.connections,
          mine.reduce((a, f) => a + f.connections, 0),
        );
        assert.equal(
          src.body.fwd_bytes,
          mine.reduce((a, f) => a + f.fwd_bytes, 0),
        );
        assert.equal(
          src.body.bwd_bytes,
          mine.reduce((a, f) => a + f.bwd_bytes, 0),
        );
        const tactics = src.body.tactics.reduce((a: number, t: { count: number }) => a + t.count, 0);
        assert.equal(tactics, mine.filter((f) => f.verdict === 'malicious').length);
        const pair = await h.call('GET', '/v1/forensics?src_ip=10.0.0.1&dst_ip=192.168.1.1', {
          key: h.keys.read,
        });
        assert.equal(pair.body.sequences, mine.filter((f) => f.dst_ip === '192.168.1.1').length);
        const all = await h.call('GET', '/v1/forensics', { key: h.keys.read });
        assert.equal(all.body.sequences, SEEDED);
        assert.equal(
          (await h.call('GET', '/v1/forensics?src_ip=host', { key: h.keys.read })).body.field,
          'src_ip',
        );
      });
      it('rolls up techniques', async () => {
        const r = await h.call('GET', '/v1/techniques', { key: h.keys.read });
        assert.equal(r.status, 200);
        assert.deepEqual(r.body.techniques.map((t: { id: string }) => t.id).sort(), [
          'T1046',
          'T1048',
          'T1071',
          'T1110',
        ]);
        assert.equal(
          r.body.techniques.reduce((a: number, t: { count: number }) => a + t.count, 0),
          SEEDED / 3,
        );
        assert.equal(
          (await h.call('GET', '/v1/techniques?technique=x', { key: h.keys.read })).body.field,
          'technique',
        );
      });
      it('answers the common questions deterministically and shows the query it ran', async () => {
        const ask = (question: string) => h.call('POST', '/v1/ask', { key: h.keys.read, body: { question } });
        const sim = await ask(`top 5 events similar to sequence ${seqId(4)}`);
        assert.equal(sim.status, 200);
        assert.equal(sim.body.query.path, `/v1/findings/${seqId(4)}/similar`);
        assert.equal(sim.body.query.params.k, 5);
        assert.equal(sim.body.columns[0], 'similarity');
        assert.equal(sim.body.rows.length, 5);
        const high = await ask('high-severity findings from 10.0.0.1 in the last 100000 hours');
        assert.equal(high.body.query.path, '/v1/findings');
        assert.equal(high.body.query.params.severity, 'high');
        assert.equal(high.body.query.params.src_ip, '10.0.0.1');
        assert.ok(typeof high.body.query.params.from === 'number');
        const expected = Array.from({ length: SEEDED }, (_, n) => makeFinding(n)).filter(
          (f) => f.src_ip === '10.0.0.1' && f.severity === 'high',
        );
        assert.equal(high.body.rows.length, expected.length);
        const tech = await ask('which techniques were seen today');
        assert.equal(tech.body.query.path, '/v1/techniques');
        assert.ok(tech.body.query.params.from > 0);
        const between = await ask('traffic between 10.0.0.1 and 192.168.1.1');
        assert.equal(between.body.query.path, '/v1/forensics');
        assert.equal(between.body.rows.length, 2);
        assert.equal(between.body.rows[0][2], 6 - 0); // 10.0.0.1 → 192.168.1.1: n % 10 == 0 and n % 5 == 0
        const nonsense = await ask('what is the meaning of life');
        assert.equal(nonsense.status, 400);
        assert.equal(nonsense.body.field, 'question');
        assert.equal(
          (await h.call('POST', '/v1/ask', { key: h.keys.read, body: {} })).body.field,
          'question',
        );
      });
    });

    describe('cases', () => {
      it('creates, lists, gets, updates and attaches findings', async () => {
        const c = await h.call('POST', '/v1/cases', {
          key: h.keys.write,
          body: { title: 'Beaconing', priority: 'high', finding_ids: [seqId(0)] },
        });
        assert.equal(c.status, 201);
        assert.equal(c.body.status, 'open');
        const id = c.body.id;
        const attached = await h.call('POST', `/v1/cases/${id}/findings`, {
          key: h.keys.write,
          body: { finding_ids: [seqId(3), seqId(0)] },
        });
        assert.deepEqual(attached.body.finding_ids, [seqId(0), seqId(3)]);
        const upd = await h.call('PATCH', `/v1/cases/${id}`, {
          key: h.keys.write,
          body: { status: 'in_progress', priority: 'critical', note: 'escalated' },
        });
        assert.equal(upd.body.status, 'in_progress');
        assert.equal(upd.body.priority, 'critical');
        assert.equal(upd.body.notes[0].text, 'escalated');
        const got = await h.call('GET', `/v1/cases/${id}`, { key: h.keys.read });
        assert.equal(got.body.notes.length, 1);
        const list = await h.call('GET', '/v1/cases?status=in_progress', { key: h.keys.read });
        assert.ok(list.body.items.some((x: { id: string }) => x.id === id));
        assert.equal(
          (await h.call('POST', '/v1/cases', { key: h.keys.write, body: {} })).body.field,
          'title',
        );
        assert.equal(
          (await h.call('PATCH', `/v1/cases/${id}`, { key: h.keys.write, body: { status: 'done' } })).body
            .field,
          'status',
        );
        const missing = await h.call('POST', `/v1/cases/${id}/findings`, {
          key: h.keys.write,
          body: { finding_ids: [seqId(9999)] },
        });
        assert.equal(missing.status, 400);
        assert.equal(missing.body.field, 'add_findings');
        assert.equal((await h.call('GET', `/v1/cases/${seqId(9999)}`, { key: h.keys.read })).status, 404);
        assert.equal(
          (await h.call('PATCH', `/v1/cases/${id}`, { key: h.keys.read, body: { note: 'x' } })).status,
          403,
        );
        assert.equal((await h.call('GET', '/v1/cases', { key: null })).status, 401);
      });
    });

    describe('suppressions', () => {
      it('suppresses the finding and its stored near-duplicates, records the rule, hides them by default', async () => {
        // n % 4 == 2 share a direction; the perturbation keeps their cosine above 0.99.
        const group = Array.from({ length: SEEDED }, (_, n) => n).filter((n) => n % 4 === 2);
        const r = await h.call('POST', '/v1/suppressions', {
          key: h.keys.write,
          body: { finding_id: seqId(2), reason: 'nightly backup', threshold: 0.99 },
        });
        assert.equal(r.status, 201);
        assert.equal(r.body.retroactive_count, group.length);
        assert.equal('vector' in r.body, false);
        const f = await h.call('GET', `/v1/findings/${seqId(14)}`, { key: h.keys.read });
        assert.equal(f.body.status, 'suppressed');
        assert.equal(f.body.suppressed_by, r.body.id);
        const other = await h.call('GET', `/v1/findings/${seqId(1)}`, { key: h.keys.read });
        assert.equal(other.body.status, 'new');
        const visible = await h.call('GET', '/v1/findings?limit=1000', { key: h.keys.read });
        assert.equal(visible.body.items.length, SEEDED - group.length);
        const suppressed = await h.call('GET', '/v1/findings?limit=1000&status=suppressed', {
          key: h.keys.read,
        });
        assert.equal(suppressed.body.items.length, group.length);
        if (backend === 'embedded') {
          // Inference reads the same rule through @tidewatch/suppression's store.
          const shared = await new EmbeddedSuppressionStore(join(h.dataDir, 'query-api')).get(r.body.id);
          assert.equal(shared?.reason, 'nightly backup');
          assert.equal(shared?.vector.length, DIM);
        }
        const rules = await h.call('GET', '/v1/suppressions', { key: h.keys.read });
        assert.equal(rules.body.items[0].reason, 'nightly backup');
        assert.deepEqual(
          rules.body.builtin.map((r: { id: string }) => r.id),
          [
            'builtin:local-discovery',
            'builtin:subnet-broadcast',
            'builtin:netbios-broadcast',
            'builtin:infrastructure-chatter',
            'builtin:infrastructure-rhythm',
            'builtin:internal-poller',
            'builtin:clock-sync-retries',
          ],
        );
        assert.match(rules.body.builtin[0].reason, /link-local multicast group/);
        assert.equal(
          (await h.call('POST', '/v1/suppressions', { key: h.keys.write, body: { finding_id: seqId(2) } }))
            .body.field,
          'reason',
        );
        assert.equal(
          (
            await h.call('POST', '/v1/suppressions', {
              key: h.keys.read,
              body: { finding_id: seqId(2), reason: 'x' },
            })
          ).status,
          403,
        );
        const off = await h.call('DELETE', `/v1/suppressions/${r.body.id}`, { key: h.keys.write });
        assert.equal(off.body.enabled, false);
      });
    });

    describe('settings', () => {
      it('reads with read, writes with admin', async () => {
        assert.equal(
          (await h.call('GET', '/v1/settings', { key: h.keys.read })).body.suppression_threshold,
          0.95,
        );
        assert.equal(
          (await h.call('PUT', '/v1/settings', { key: h.keys.write, body: { suppression_threshold: 0.9 } }))
            .status,
          403,
        );
        assert.equal(
          (await h.call('PUT', '/v1/settings', { body: { suppression_threshold: 0.9 } })).body
            .suppression_threshold,
          0.9,
        );
        assert.equal(
          (await h.call('PUT', '/v1/settings', { body: { suppression_threshold: 2 } })).body.field,
          'suppression_threshold',
        );
      });
    });

    describe('robustness', () => {
      it('rejects malformed JSON and oversized bodies without crashing', async () => {
        const bad = await h.call('POST', '/v1/cases', { key: h.keys.write, body: '{"title":' });
        assert.equal(bad.status, 400);
        const big = await h.call('POST', '/v1/ask', {
          key: h.keys.read,
          body: { question: 'x'.repeat(2_000_000) },
        });
        assert.equal(big.status, 413);
        assert.equal((await h.call('GET', '/livez', { key: null })).status, 200);
      });
      it('publishes an OpenAPI 3.1 document generated from the route schemas', async () => {
        const r = await h.call('GET', '/openapi.json', { key: null });
        assert.equal(r.body.openapi, '3.1.0');
        for (const p of [
          '/v1/findings',
          '/v1/findings/{id}',
          '/v1/findings/{id}/similar',
          '/v1/findings/{id}/evidence',
          '/v1/overview',
          '/v1/forensics',
          '/v1/cases',
          '/v1/cases/{id}',
          '/v1/ask',
          '/v1/webhooks',
          '/v1/suppressions',
        ])
          assert.ok(r.body.paths[p], p);
        const params = r.body.paths['/v1/findings'].get.parameters.map((x: { name: string }) => x.name);
        for (const n of [
          'from',
          'to',
          'verdict',
          'severity',
          'tactic',
          'technique',
          'src_ip',
          'dst_ip',
          'status',
          'model_version',
          'min_score',
          'sort',
          'limit',
          'cursor',
        ])
          assert.ok(params.includes(n), n);
        assert.ok(r.body.components.securitySchemes.bearer);
        assert.equal(r.body.components.schemas.Finding.properties.score.type, 'number');
        const sub = r.body.components.schemas.Finding.properties.explanation.properties.subscores.properties;
        assert.deepEqual(Object.keys(sub), ['beacon', 'scan', 'brute_force', 'exfiltration', 'reflection']);
        assert.equal(sub.reflection.default, 0);
        assert.ok(r.body.components.schemas.Case.properties.finding_ids);
      });
    });
  });
}
