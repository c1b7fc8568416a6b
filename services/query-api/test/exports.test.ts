import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { needsShared, sharedPath } from '@tidewatch/testing';
import { type Harness, type Json, makeFinding, makeFlows, seqId, startHarness, T0 } from './harness.ts';

const SEEDED = 40;
const malicious = Array.from({ length: SEEDED }, (_, n) => makeFinding(n)).filter(
  (f) => f.verdict === 'malicious',
);

describe('exports', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ seed: SEEDED });
    const f = makeFinding(0);
    await h.api.services.stores.evidence.put({
      sequence_id: f.sequence_id,
      src_ip: f.src_ip,
      dst_ip: f.dst_ip,
      window_start_ms: f.window_start_ms,
      window_end_ms: f.window_end_ms,
      flows: makeFlows(0),
    });
    await h.call('PUT', '/v1/device-types', { body: { address: '10.0.0.1', type: 'workstation' } });
    await h.call('PUT', '/v1/device-types', { body: { address: '192.168.1.0/24', type: 'server' } });
  });
  after(async () => h?.close());

  const lines = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, Json>);

  it('writes OCSF 1.8 Detection Findings with finding_info.attacks[] and evidences', async () => {
    const r = await h.call('GET', `/v1/exports/findings?format=ocsf&id=${seqId(0)}`, { key: h.keys.read });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const [doc] = lines(r.text);
    assert.ok(doc);
    assert.equal(doc['class_uid'], 2004);
    assert.equal(doc['category_uid'], 2);
    assert.equal(doc['activity_id'], 1);
    assert.equal(doc['type_uid'], 200401);
    assert.equal(doc['severity_id'], 4);
    assert.equal(doc['time'], makeFinding(0).scored_at_ms);
    assert.equal(doc['metadata'].version, '1.8.0');
    assert.equal(doc['metadata'].product.name, 'Tidewatch');
    const info = doc['finding_info'];
    assert.equal(info.uid, seqId(0));
    assert.equal(typeof info.title, 'string');
    assert.deepEqual(info.attacks[0].technique, {
      uid: 'T1046',
      name: 'Network Service Discovery',
      src_url: 'https://attack.mitre.org/techniques/T1046/',
    });
    assert.equal(info.attacks[0].tactic.uid, 'TA0007');
    assert.equal(doc['evidences'].length, 3);
    assert.deepEqual(doc['evidences'][0].src_endpoint, { ip: '10.0.0.1', port: 40000 });
    assert.deepEqual(doc['evidences'][0].dst_endpoint, { ip: '192.168.1.1', port: 22 });
    assert.equal(doc['evidences'][0].connection_info.protocol_num, 6);
  });

  it('writes ECS alerts with threat.* fields', async () => {
    const r = await h.call('GET', '/v1/exports/findings?format=ecs&verdict=malicious', { key: h.keys.read });
    const docs = lines(r.text);
    assert.equal(docs.length, malicious.length);
    for (const d of docs) {
      assert.equal(d['event'].kind, 'alert');
      assert.equal(d['threat'].framework, 'MITRE ATT&CK');
      assert.match(d['threat'].technique.id[0], /^T\d{4}$/);
      assert.match(d['threat'].tactic.id[0], /^TA\d{4}$/);
      assert.ok(!Number.isNaN(Date.parse(d['@timestamp'])));
    }
  });

  it('writes Timesketch JSONL with message, datetime and timestamp_desc', async () => {
    const r = await h.call('GET', '/v1/exports/findings?format=timesketch', { key: h.keys.read });
    const docs = lines(r.text);
    assert.equal(docs.length, SEEDED);
    for (const d of docs) {
      assert.equal(typeof d['message'], 'string');
      assert.equal(new Date(d['datetime']).toISOString(), d['datetime']);
      assert.equal(d['timestamp_desc'], 'First Seen');
      assert.equal(d['timestamp'], Date.parse(d['datetime']) * 1000);
    }
  });

  it('writes CSV and the Tempo-style results CSV with device types and classification', async () => {
    const csv = await h.call('GET', '/v1/exports/findings?format=csv', { key: h.keys.read });
    const rows = csv.text.trim().split('\n');
    assert.equal(rows[0]?.split(',')[0], 'sequence_id');
    assert.equal(rows.length, SEEDED + 1);
    const tempo = await h.call('GET', `/v1/exports/findings?format=tempo&id=${seqId(0)}`, {
      key: h.keys.read,
    });
    const [header, row] = tempo.text.trim().split('\n');
    assert.equal(
      header,
      'start_time,end_time,src_ip,dest_ip,src_port,dest_port,connections,src_device_type,dest_device_type,classification',
    );
    const f = makeFinding(0);
    assert.equal(
      row,
      [
        new Date(f.first_seen_ms).toISOString(),
        new Date(f.last_seen_ms).toISOString(),
        '10.0.0.1',
        '192.168.1.1',
        '40000',
        '22',
        String(f.connections),
        'workstation',
        'server',
        'Discovery',
      ].join(','),
    );
    const benign = await h.call('GET', `/v1/exports/findings?format=tempo&id=${seqId(1)}`, {
      key: h.keys.read,
    });
    assert.match(benign.text.trim().split('\n')[1] ?? '', /,unknown,server,Benign$/);
  });

  it('rejects bad export requests', async () => {
    assert.equal((await h.call('GET', '/v1/exports/findings', { key: h.keys.read })).body.field, 'format');
    assert.equal(
      (await h.call('GET', '/v1/exports/findings?format=pdf', { key: h.keys.read })).body.field,
      'format',
    );
    assert.equal((await h.call('GET', '/v1/exports/findings?format=csv', { key: null })).status, 401);
    assert.equal((await h.call('GET', '/v1/exports/navigator', { key: h.keys.read })).body.field, 'from');
    assert.equal(
      (await h.call('GET', '/v1/exports/navigator?case_id=x', { key: h.keys.read })).body.field,
      'case_id',
    );
  });

  it(
    'builds ATT&CK Navigator 4.5 layers for a time range and for a case, valid against ATT&CK v18.1',
    needsShared(),
    async () => {
      const catalogue = JSON.parse(
        readFileSync(sharedPath('data/attack/attack-enterprise-v18.1.compact.json'), 'utf8'),
      ) as {
        techniques: { id: string; tactics: string[] }[];
      };
      const byId = new Map(catalogue.techniques.map((t) => [t.id, t]));
      const r = await h.call('GET', `/v1/exports/navigator?from=${T0}`, { key: h.keys.read });
      assert.equal(r.status, 200);
      const layer = r.body;
      assert.equal(layer.versions.layer, '4.5');
      assert.equal(layer.domain, 'enterprise-attack');
      assert.equal(typeof layer.name, 'string');
      assert.equal(
        layer.techniques.reduce((a: number, t: { score: number }) => a + t.score, 0),
        malicious.length,
      );
      for (const t of layer.techniques) {
        const known = byId.get(t.techniqueID);
        assert.ok(known, `${t.techniqueID} is in ATT&CK v18.1`);
        assert.ok(known.tactics.includes(t.tactic), `${t.techniqueID} belongs to ${t.tactic}`);
      }
      assert.equal(
        layer.gradient.maxValue,
        Math.max(...layer.techniques.map((t: { score: number }) => t.score)),
      );
      const c = await h.call('POST', '/v1/cases', {
        key: h.keys.write,
        body: { title: 'c2', finding_ids: [seqId(9), seqId(21)] },
      });
      const caseLayer = await h.call('GET', `/v1/exports/navigator?case_id=${c.body.id}`, {
        key: h.keys.read,
      });
      assert.deepEqual(
        caseLayer.body.techniques.map((t: { techniqueID: string; tactic: string; score: number }) => [
          t.techniqueID,
          t.tactic,
          t.score,
        ]),
        [['T1071', 'command-and-control', 2]],
      );
    },
  );
});
