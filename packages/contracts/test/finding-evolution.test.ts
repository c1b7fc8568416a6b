import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AvroCodec,
  CONTRACTS,
  type Finding,
  FindingWriter,
  LocalSchemaRegistry,
  PREVIOUS_SCHEMAS,
  withoutFields,
} from '../src/index.ts';

// findings.v1's SubScores gained a last field, reflection (double, default 0): subscores.v3's
// reflection sub-score. Old and new producers and readers must get along.

const OLD_SCHEMA = withoutFields(CONTRACTS.findings.schema, 'SubScores', ['reflection']);

function finding(reflection: number | undefined): Finding {
  const subscores = { beacon: 0.25, scan: 0, brute_force: 0.5, exfiltration: 0.125 };
  return {
    sequence_id: '00000000-0000-5000-8000-000000000009',
    window_start_ms: 1_700_000_100_000,
    window_end_ms: 1_700_000_400_000,
    first_seen_ms: 1_700_000_100_500,
    last_seen_ms: 1_700_000_100_500,
    src_ip: '198.51.100.7',
    dst_ip: '203.0.113.9',
    dst_ports: [40_123],
    protocols: [17],
    connections: 1,
    fwd_bytes: 57,
    bwd_bytes: 0,
    fwd_pkts: 1,
    bwd_pkts: 0,
    label: null,
    score: 0.01,
    anomaly: 0.2,
    verdict: 'benign',
    tactics: [{ id: 'TA0040', name: 'Impact', probability: 1 }],
    techniques: [{ id: 'T1498.002', name: 'Reflection Amplification', probability: 1 }],
    severity: 'low',
    model_version: 'flow-1.4.0',
    status: 'new',
    explanation: {
      subscores: (reflection === undefined
        ? subscores
        : { ...subscores, reflection }) as Finding['explanation']['subscores'],
      top_features: [],
      neighbours: [],
    },
    suppressed_by: null,
    scored_at_ms: 1_700_000_500_000,
  };
}

/** avsc's records as plain objects (its decoded values are instances of generated classes). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

async function codecs() {
  const registry = new LocalSchemaRegistry();
  const current = await new AvroCodec<Finding>(CONTRACTS.findings, registry).init();
  const old = await new AvroCodec<Finding>({ topic: 'findings.v1', schema: OLD_SCHEMA }, registry).init();
  return { current, old, registry };
}

describe('findings.v1 explanation.subscores.reflection (appended, default 0)', () => {
  it('is the last field of SubScores, a double with default 0, and the only difference from the previous schema', () => {
    const sub = JSON.stringify(CONTRACTS.findings.schema).match(/"name":"SubScores".*?\]/)?.[0] ?? '';
    assert.match(sub, /\{"name":"reflection","type":"double","default":0\}\]$/);
    assert.ok(
      PREVIOUS_SCHEMAS.some((s) => JSON.stringify(s) === JSON.stringify(OLD_SCHEMA)),
      'the local registry knows the previous schema',
    );
    assert.deepEqual(withoutFields(CONTRACTS.findings.schema, 'SubScores', ['reflection']), OLD_SCHEMA);
  });

  it('a new message is the old one with the new schema id and 8 more bytes after exfiltration', async () => {
    const { current, old } = await codecs();
    const oldBytes = old.encode(finding(undefined));
    const newBytes = current.encode(finding(0.75));
    assert.equal(newBytes.length, oldBytes.length + 8);
    const r = Buffer.alloc(8);
    r.writeDoubleLE(0.75);
    const at = newBytes.indexOf(r);
    assert.ok(at > 5);
    assert.deepEqual(
      Buffer.concat([newBytes.subarray(5, at), newBytes.subarray(at + 8)]),
      oldBytes.subarray(5),
    );
    // The hand writer gives avsc's bytes, and writes the default for a producer that leaves it out.
    const writer = new FindingWriter(current);
    assert.equal(writer.handEncoding, true);
    assert.deepEqual(writer.encode(finding(0.75)), newBytes);
    assert.deepEqual(writer.encode(finding(undefined)), current.encode(finding(0)));
  });

  it('an earlier producer’s message reads with reflection 0; an earlier reader reads a new message', async () => {
    const { current, old } = await codecs();
    const fromOld = await current.decodeAsync(old.encode(finding(undefined)));
    assert.deepEqual(plain(fromOld), finding(0));
    const fromNew = await old.decodeAsync(current.encode(finding(0.75)));
    assert.deepEqual(plain(fromNew), finding(undefined));
  });
});
