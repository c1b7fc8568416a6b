import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Finding } from '@tidewatch/contracts';
import { EmbeddedStore, readPointLog, type StoredPoint } from '../src/index.ts';
import { ByteReader, ByteWriter, StringTable } from '../src/payload-codec.ts';
import { appendAll } from '../src/point-log.ts';
import { CONTRACT_DIM, contractFinding, contractVector, testUuid } from './contract.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'format1-store');

/** What `JSON.parse(JSON.stringify(v))` gives, compared as text so key order counts too. */
function roundTrip(v: unknown, table = new StringTable()): unknown {
  const w = new ByteWriter(16);
  w.payload(v, table);
  const r = new ByteReader(w.buf);
  const out = r.value(table);
  assert.equal(r.pos, w.pos, 'the reader consumed exactly what was written');
  return out;
}

function assertJsonEqual(v: unknown): void {
  const want = JSON.stringify(v);
  assert.equal(JSON.stringify(roundTrip(v)), want);
  assert.deepEqual(roundTrip(v), JSON.parse(want));
}

/** A finding in the inference service's field order (the shaped record form). */
function serviceFinding(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sequence_id: testUuid(`svc-${i}`),
    window_start_ms: 1_767_225_600_000,
    window_end_ms: 1_767_225_660_000,
    first_seen_ms: 1_767_225_600_005,
    last_seen_ms: 1_767_225_600_050,
    src_ip: `10.0.0.${i}`,
    dst_ip: '2001:db8::1',
    dst_ports: [443, 65535],
    protocols: [6, 17],
    connections: 3,
    fwd_bytes: 1.5e10,
    bwd_bytes: 0,
    fwd_pkts: 2 ** 33,
    bwd_pkts: 1,
    label: i % 3 === 0 ? null : i % 2,
    score: 0.123457,
    anomaly: -0.5,
    verdict: 'malicious',
    tactics: [{ id: 'TA0043', name: 'Reconnaissance', probability: 0.9 }],
    techniques: [{ id: 'T1046', name: 'Network Service Discovery', probability: 0.81 }],
    severity: 'high',
    model_version: 'flow-1.2.0',
    status: 'new',
    explanation: {
      subscores: { beacon: 0, scan: 1, brute_force: 0.25, exfiltration: 0.000001, reflection: 0.85 },
      top_features: [{ name: 'distinct_dst_ports', value: 12, contribution: 4.5 }],
      neighbours: [{ sequence_id: testUuid('n'), similarity: 0.9999, verdict: 'malicious', label: null }],
    },
    suppressed_by: null,
    scored_at_ms: 1_767_225_700_000 + i,
    ...over,
  };
}

describe('payload records (payload-codec)', () => {
  it('decode to exactly what JSON would give back, key order included', () => {
    for (let i = 0; i < 60; i++) assertJsonEqual(contractFinding(i));
    for (let i = 0; i < 6; i++) assertJsonEqual(serviceFinding(i));
    // Shapes the keyless form does not take: reordered, extra, missing or undefined members.
    const { label, ...noLabel } = serviceFinding(1);
    assert.equal(label, 1);
    assertJsonEqual(noLabel);
    assertJsonEqual({ ...serviceFinding(2), extra: { nested: [1, 'two'] } });
    assertJsonEqual({ ...serviceFinding(3), label: undefined });
    assertJsonEqual({ score: 1, ...serviceFinding(4) });
    assertJsonEqual(
      serviceFinding(5, {
        tactics: [{ name: 'x', id: 'TA0001', probability: 1 }, { id: 'TA0002', name: 'y' }, null, 7],
        explanation: { subscores: { scan: 1 }, top_features: 'none', neighbours: [undefined] },
      }),
    );
  });

  it('reads a stored finding of the four sub-scores before reflection with reflection 0 (older stores and producers)', () => {
    const old = serviceFinding(7) as { explanation: { subscores: Record<string, number> } };
    const { reflection, ...four } = old.explanation.subscores;
    assert.equal(reflection, 0.85);
    const legacy = { ...old, explanation: { ...old.explanation, subscores: four } };
    const w = new ByteWriter(16);
    const table = new StringTable();
    w.payload(legacy, table);
    // The record as the code before reflection wrote it: the four-score tag (17) and four values.
    const at = w.buf.indexOf(Buffer.from([16, 17]));
    assert.ok(at > 0, 'explanation and four-score subscores tags');
    // As a value it is what was written; as a stored payload it gains findings.v1's default.
    assert.deepEqual(new ByteReader(w.buf).value(table), JSON.parse(JSON.stringify(legacy)));
    const got = new ByteReader(w.buf).payload(table) as typeof old;
    assert.deepEqual(got.explanation.subscores, { ...four, reflection: 0 });
    assert.deepEqual({ ...got, explanation: { ...got.explanation, subscores: four } }, legacy);
    // The five-score form keeps every value (and is a different tag).
    assert.deepEqual(roundTrip(old), JSON.parse(JSON.stringify(old)));
    const generic = { explanation: { subscores: four }, extra: 1 };
    const g = new ByteWriter(16);
    g.payload(generic, table);
    assert.deepEqual(new ByteReader(g.buf).payload(table), {
      explanation: { subscores: { ...four, reflection: 0 } },
      extra: 1,
    });
  });

  it('keeps numbers, strings and odd values as JSON does', () => {
    const values: unknown[] = [
      0,
      -0,
      1,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      -1,
      -(2 ** 32 - 1),
      -(2 ** 32),
      0.1,
      -1e-300,
      1e300,
      Number.MAX_SAFE_INTEGER,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      '',
      'é✓日本',
      'x'.repeat(200),
      'y'.repeat(33),
      'TA0043',
      testUuid('a'),
      testUuid('a').toUpperCase(),
      `${testUuid('a').slice(0, 35)}g`,
      'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeeee',
      '1.2.3.4',
      '0.0.0.0',
      '255.255.255.255',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3',
      '1.2.3.4.5',
      '1..2.3',
      '1.2.3.',
      '::1',
      true,
      false,
      null,
      [],
      {},
      [undefined, () => 1, Symbol('s')],
      { a: undefined, b: () => 1, c: 1 },
      { 2: 'b', 1: 'a', z: 0, y: [{}] },
      new Date(0),
      { __proto__: null, k: 1 },
    ];
    for (const v of values) assertJsonEqual({ v, list: [v, v] });
    assert.throws(() => roundTrip({ n: 1n }), /Do not know how to serialize a BigInt/);
  });

  it('interns repeated short strings once and decodes against the same table', () => {
    const table = new StringTable();
    for (let i = 0; i < 10; i++) roundTrip(serviceFinding(i), table);
    const size = table.size;
    for (let i = 10; i < 20; i++) roundTrip(serviceFinding(i), table);
    assert.equal(table.size, size, 'no new entries for findings of the same vocabulary');
    assert.ok(!table.values.some((s) => s.includes('.') && /^\d/.test(s)), 'IPv4 addresses are not interned');
    const w = new ByteWriter();
    w.payload(serviceFinding(0), table);
    assert.ok(w.pos < JSON.stringify(serviceFinding(0)).length / 2, `record ${w.pos} bytes`);
  });
});

describe('appendAll', () => {
  it('appends every buffer in order after what the file held, empty ones and views included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-append-'));
    try {
      const path = join(dir, 'log');
      await writeFile(path, 'head|');
      const big = Buffer.alloc(3 << 20, 7); // several MiB: more than one write may take
      const view = Buffer.from('xxabcxx').subarray(2, 5);
      const fh = await open(path, 'a');
      await appendAll(fh, [Buffer.from('one|'), Buffer.alloc(0), view, big, new Uint8Array([0x7c])]);
      await appendAll(fh, []);
      await appendAll(fh, [Buffer.from('|two')]);
      await fh.close();
      assert.deepEqual(
        await readFile(path),
        Buffer.concat([Buffer.from('head|one|abc'), big, Buffer.from('||two')]),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('EmbeddedStore log format', () => {
  it('opens a store written in format 1 (JSON lines) by the previous code, rewrites it once as format 2, same points', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-format1-'));
    try {
      await cp(FIXTURE, dir, { recursive: true });
      const expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8')) as {
        dim: number;
        count: number;
        deleted: number;
        points: StoredPoint[];
      };
      // Written before findings.v1 appended explanation.subscores.reflection: read back as 0.
      let upgraded = 0;
      for (const p of expected.points) {
        const sub = (p.payload as Finding).explanation?.subscores as unknown as
          | Record<string, number>
          | undefined;
        if (sub && !('reflection' in sub)) {
          sub['reflection'] = 0;
          upgraded++;
        }
      }
      assert.equal(upgraded, expected.points.length);
      assert.equal((await readPointLog(dir)).format, 'json');
      assert.equal(expected.deleted, 2);
      for (let reopen = 0; reopen < 2; reopen++) {
        const store = new EmbeddedStore({ dir, dim: expected.dim });
        await store.init();
        assert.equal(await store.count(), expected.count);
        for (const p of expected.points) assert.deepEqual(await store.get(p.id), p);
        const inProgress = expected.points.filter((p) => p.payload.status === 'in_progress');
        assert.ok(inProgress.length > 0);
        assert.equal(await store.count({ status: ['in_progress'] }), inProgress.length);
        assert.equal(
          await store.count({ labelled: true }),
          expected.points.filter((p) => p.payload.label !== null).length,
        );
        const first = expected.points[0] as StoredPoint;
        assert.equal((await store.similar(first.vector, { k: 1 }))[0]?.id, first.id);
        await store.close();
        const log = await readPointLog(dir);
        assert.equal(log.format, 'binary');
        assert.deepEqual(new Set(log.upserts), new Set(expected.points.map((p) => p.id)));
        assert.equal(log.torn, false);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('replays format-1 lines in other JSON layouts, skipping a torn last line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-format1-'));
    try {
      const lines = [0, 1].map((i) => {
        const v = Float32Array.from(contractVector(i));
        const norm = Math.hypot(...v);
        const b64 = Buffer.from(v.map((x) => x / norm).buffer).toString('base64');
        return JSON.stringify({ u: [contractFinding(i).sequence_id, b64, contractFinding(i)] }, null, i);
      });
      await writeFile(
        join(dir, 'points.log'),
        `${lines[0]}\n${lines[1]?.replaceAll('\n', ' ')}\n{"u":["half`,
      );
      const store = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await store.init();
      assert.equal(await store.count(), 2);
      for (const i of [0, 1])
        assert.deepEqual((await store.get(contractFinding(i).sequence_id))?.payload, contractFinding(i));
      await store.close();
      assert.equal((await readPointLog(dir)).format, 'binary');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ignores a torn or corrupt last frame after a crash and rewrites the log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-format2-'));
    try {
      const point = (i: number) => ({
        id: contractFinding(i).sequence_id,
        vector: contractVector(i),
        payload: contractFinding(i) as Finding,
      });
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await a.init();
      await a.upsert([0, 1].map(point));
      await a.close();
      const intact = await readFile(join(dir, 'points.log'));
      // A whole frame whose body was not all written (length says more than is there).
      const b = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await b.init();
      await b.upsert([point(2)]);
      await b.close();
      const withThird = await readFile(join(dir, 'points.log'));
      await writeFile(join(dir, 'points.log'), withThird.subarray(0, withThird.length - 5));
      const c = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await c.init();
      assert.equal(await c.count(), 2);
      assert.equal(await c.get(point(2).id), null);
      await c.upsert([point(5)]);
      await c.close();
      // A frame with a flipped byte fails its checksum.
      const log = await readFile(join(dir, 'points.log'));
      log[log.length - 3] = (log[log.length - 3] as number) ^ 0xff;
      await writeFile(join(dir, 'points.log'), log);
      await appendFile(join(dir, 'points.log'), Buffer.from([1, 2, 3]));
      const d = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await d.init();
      assert.equal(await d.count(), 2);
      await d.close();
      const after = await readPointLog(dir);
      assert.equal(after.torn, false);
      assert.deepEqual(after.upserts.sort(), [point(0).id, point(1).id].sort());
      assert.ok(intact.length > 8);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('EmbeddedStore string table across interleaved writes', () => {
  it('replays a patch that brings new strings while an upsert with other new strings is queued behind it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-format2-'));
    try {
      const point = (i: number, over: Partial<Finding> = {}) => ({
        id: contractFinding(i).sequence_id,
        vector: contractVector(i),
        payload: { ...contractFinding(i), ...over },
      });
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await a.init();
      await a.upsert([point(0)]);
      // The patch's write is under way when the upsert (with strings new to the table) is issued;
      // the patch's new string is met only when the patch applies, after the upsert was encoded.
      const patched = a.updatePayload([point(0).id], { suppressed_by: 'rule-new-1', status: 'suppressed' });
      await new Promise((resolve) => setImmediate(resolve));
      const upserted = a.upsert([point(1, { model_version: 'model-new-2' })]);
      await Promise.all([patched, upserted]);
      await a.upsert([point(2, { model_version: 'model-new-3' })]);
      const want = await Promise.all([0, 1, 2].map((i) => a.get(point(i).id)));
      await a.close();
      const b = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await b.init();
      for (const [i, p] of want.entries()) assert.deepEqual(await b.get(point(i).id), p);
      assert.equal((await b.get(point(0).id))?.payload.suppressed_by, 'rule-new-1');
      assert.equal(await b.count({ modelVersion: 'model-new-2' }), 1);
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('EmbeddedStore point ids that are not lower-case UUIDs', () => {
  it('keep their exact text through the log, a reopen and readPointLog', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-format2-'));
    try {
      const ids = [
        'plain-id',
        testUuid('upper').toUpperCase(),
        'ünïcode ✓',
        'x'.repeat(300),
        testUuid('lower'),
      ];
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await a.init();
      await a.upsert(
        ids.map((id, i) => ({
          id,
          vector: contractVector(i),
          payload: { ...contractFinding(i), sequence_id: id },
        })),
      );
      await a.close();
      const b = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await b.init();
      for (const [i, id] of ids.entries()) {
        const got = await b.get(id);
        assert.equal(got?.id, id);
        assert.deepEqual(got?.payload, { ...contractFinding(i), sequence_id: id });
      }
      await b.close();
      assert.deepEqual((await readPointLog(dir)).upserts, ids);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('EmbeddedStore opened twice at once on one directory', () => {
  it('both open (each compaction writes its own temporary file), and the log is a valid empty store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-store-twice-'));
    try {
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      const b = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await Promise.all([a.init(), b.init()]);
      await Promise.all([a.close(), b.close()]);
      const c = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await c.init();
      assert.equal(await c.count(), 0);
      await c.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
