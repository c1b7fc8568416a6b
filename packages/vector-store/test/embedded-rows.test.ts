import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Finding, FindingStatus, Severity } from '@tidewatch/contracts';
import { seededRandom } from '@tidewatch/testing';
import { EmbeddedStore, type FindingRows, findingOfRow, pointsOfRows } from '../src/index.ts';
import { LOG_FILE } from '../src/point-log.ts';
import { CONTRACT_DIM, contractFinding, rowsOf, testUuid } from './contract.ts';

const SEVERITIES: Severity[] = ['info', 'low', 'medium', 'high', 'critical'];
const STATUSES: FindingStatus[] = ['new', 'in_progress', 'suppressed', 'resolved'];

/**
 * Findings of every shape the codec distinguishes: UUID and other ids, IPv4 / IPv6 / odd addresses,
 * integers of every width, negative and fractional numbers, NaN sub-scores, long strings (not
 * interned), labels 0 / 1 / null, empty and long port lists, statuses with and without a rule.
 */
function randomFindings(n: number, seed: number, version: string, at: number): Finding[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)] as T;
  const num = () =>
    pick([
      0,
      1,
      255,
      256,
      65_535,
      70_000,
      2 ** 32 - 1,
      2 ** 32 + 5,
      -3,
      -(2 ** 33),
      0.125,
      rnd(),
      Math.round(rnd() * 1e6) / 1e6,
    ]);
  return Array.from({ length: n }, (_, i) => {
    const base = contractFinding(i % 60);
    const status = pick(STATUSES);
    const ports = Array.from({ length: pick([0, 1, 1, 1, 3, 16]) }, () => Math.floor(rnd() * 65_536));
    return {
      ...base,
      sequence_id: i % 17 === 5 ? `not-a-uuid-${seed}-${i}` : testUuid(`rows-${seed}-${i}`),
      window_start_ms: base.window_start_ms + i,
      window_end_ms: base.window_end_ms + 2 * i,
      first_seen_ms: num(),
      last_seen_ms: num(),
      src_ip: pick([
        '10.1.2.3',
        `10.0.${i % 256}.9`,
        `2001:db8:0:${i.toString(16)}::1`,
        'fe80::1%eth0',
        '010.1.1.1',
      ]),
      dst_ip: pick(['192.168.1.10', '::1', `a-very-long-host-name-that-is-not-interned-${i}.example`]),
      dst_ports: ports,
      protocols: pick([[6], [17], [1, 6, 17], []]),
      connections: num(),
      fwd_bytes: num(),
      bwd_bytes: num(),
      fwd_pkts: num(),
      bwd_pkts: num(),
      label: pick([0, 1, null]),
      score: num(),
      anomaly: num(),
      verdict: pick(['benign', 'malicious'] as const),
      tactics: [],
      techniques: [],
      severity: pick(SEVERITIES),
      model_version: version,
      status,
      explanation: {
        subscores: {
          beacon: num(),
          scan: pick([Number.NaN, 0.5]),
          brute_force: num(),
          exfiltration: num(),
          reflection: num(),
        },
        top_features: [],
        neighbours: [],
      },
      suppressed_by:
        status === 'suppressed' ? pick(['r1', `rule-with-a-long-name-over-32-chars-${i}`]) : null,
      scored_at_ms: at,
    };
  });
}

function vectorsOf(n: number, seed: number): number[][] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, () => Array.from({ length: CONTRACT_DIM }, () => rnd() - 0.5));
}

async function openStore(dir: string): Promise<EmbeddedStore> {
  const s = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
  await s.init();
  return s;
}

describe('EmbeddedStore.upsertRows', () => {
  it('writes the same log bytes and stores the same points as upsert(pointsOfRows(rows))', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tw-rows-'));
    try {
      const a = await openStore(join(root, 'points'));
      const b = await openStore(join(root, 'rows'));
      const batches: FindingRows[] = [];
      for (let k = 0; k < 4; k++) {
        const version = k < 2 ? 'flow-1.2.0' : `model-version-${k}`;
        const findings = randomFindings(150, k + 1, version, 1_700_000_000_000 + k);
        // Some rows carry their Finding (alerts), interleaved with column rows; batch 3 overwrites batch 0's ids.
        if (k === 3) for (const [i, f] of findings.entries()) f.sequence_id = batches[0]?.ids[i] as string;
        batches.push(
          rowsOf(findings, vectorsOf(150, 10 + k), version, 1_700_000_000_000 + k, (i) => i % 6 === 0),
        );
      }
      assert.ok(
        batches.every((r) => r.findings.some(Boolean) && r.findings.filter(Boolean).length < r.count),
      );
      // Two batches in one write, then one at a time.
      await a.upsert([
        ...pointsOfRows(batches[0] as FindingRows),
        ...pointsOfRows(batches[1] as FindingRows),
      ]);
      await b.upsertRows(batches.slice(0, 2));
      for (const r of batches.slice(2)) {
        await a.upsert(pointsOfRows(r));
        await b.upsertRows([r]);
      }
      const logA = await readFile(join(root, 'points', LOG_FILE));
      const logB = await readFile(join(root, 'rows', LOG_FILE));
      assert.ok(logA.length > 10_000);
      assert.ok(logA.equals(logB), 'the two logs are byte for byte the same');
      const compare = async (x: EmbeddedStore, y: EmbeddedStore) => {
        assert.equal(await y.count(), await x.count());
        const ids = batches.flatMap((r) => r.ids.slice(0, r.count));
        for (const id of ids) assert.deepEqual(await y.get(id), await x.get(id));
        for (const filter of [
          { labelled: true },
          { status: ['suppressed' as const] },
          { verdict: 'malicious' as const, srcIp: '10.0.0.0/8' },
          { severity: ['info' as const], modelVersion: 'flow-1.2.0' },
          { srcIp: '2001:db8::/32', minScore: 0.1 },
        ]) {
          const page = { filter, limit: 1000, sort: { field: 'score' as const, order: 'desc' as const } };
          assert.equal(await y.count(filter), await x.count(filter));
          assert.deepEqual(await y.list(page), await x.list(page));
        }
        for (const field of ['status', 'severity', 'dst_port', 'src_ip', 'model_version'] as const)
          assert.deepEqual(await y.facet(field, undefined, 50), await x.facet(field, undefined, 50));
        const q = vectorsOf(5, 99);
        assert.deepEqual(
          await y.similarEvidence(q, { k: 6, filter: { labelled: true } }),
          await x.similarEvidence(q, { k: 6, filter: { labelled: true } }),
        );
        assert.deepEqual(await y.similarMany(q, { k: 6 }), await x.similarMany(q, { k: 6 }));
      };
      await compare(a, b);
      // And the payloads are the findings given.
      const last = batches[3] as FindingRows;
      for (let i = 0; i < last.count; i++)
        assert.deepEqual(
          (await b.get(last.ids[i] as string))?.payload,
          JSON.parse(JSON.stringify(findingOfRow(last, i))),
        );
      await a.close();
      await b.close();
      // Replayed from the log: the same again.
      await compare(await openStore(join(root, 'points')), await openStore(join(root, 'rows')));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
  it('leaves the same state as upsert when ids repeat within one write and labels flip (labelled matrix order included)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tw-rows-repeat-'));
    try {
      const a = await openStore(join(root, 'points'));
      const b = await openStore(join(root, 'rows'));
      const rnd = seededRandom(77);
      // Few distinct vectors: neighbours tie, so results depend on the labelled matrix's row order.
      const palette = vectorsOf(6, 500);
      const ids: string[] = [];
      for (let round = 0; round < 6; round++) {
        const findings = randomFindings(120, 40 + round, 'flow-1.2.0', 1_700_000_000_000);
        for (const [i, f] of findings.entries()) {
          // Ids from earlier writes and from earlier in this same write come back, with new labels.
          if (ids.length > 0 && rnd() < 0.3) f.sequence_id = ids[Math.floor(rnd() * ids.length)] as string;
          else if (i > 0 && rnd() < 0.2)
            f.sequence_id = (findings[Math.floor(rnd() * i)] as Finding).sequence_id;
          f.label = ([0, 1, null] as const)[Math.floor(rnd() * 3)] as 0 | 1 | null;
        }
        const vectors = findings.map(() => palette[Math.floor(rnd() * palette.length)] as number[]);
        const rows = rowsOf(findings, vectors, 'flow-1.2.0', 1_700_000_000_000, (i) => i % 5 === 0);
        await a.upsert(pointsOfRows(rows));
        await b.upsertRows([rows]);
        for (const f of findings) ids.push(f.sequence_id);
        const q = [...palette, ...vectorsOf(3, 600 + round)];
        assert.deepEqual(
          await b.similarEvidence(q, { k: 7, filter: { labelled: true } }),
          await a.similarEvidence(q, { k: 7, filter: { labelled: true } }),
        );
      }
      assert.ok(new Set(ids).size < ids.length - 100, 'ids repeat');
      const logA = await readFile(join(root, 'points', LOG_FILE));
      const logB = await readFile(join(root, 'rows', LOG_FILE));
      assert.ok(logA.equals(logB), 'the two logs are byte for byte the same');
      for (const id of new Set(ids)) assert.deepEqual(await b.get(id), await a.get(id));
      for (const filter of [
        { labelled: true },
        { verdict: 'malicious' as const },
        { status: ['new' as const] },
      ])
        assert.equal(await b.count(filter), await a.count(filter));
      const q = vectorsOf(4, 900);
      assert.deepEqual(
        await b.similarMany(q, { k: 9, filter: { labelled: true } }),
        await a.similarMany(q, { k: 9, filter: { labelled: true } }),
      );
      await a.close();
      await b.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
