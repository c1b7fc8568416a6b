/**
 * EmbeddedStore micro-benchmark for the inference service's per-sequence store work (issue #6).
 * Run: `node --import tsx bench/vector-store.ts`. Knobs (env): TW_VS_POINTS (32,768), TW_VS_LABELLED
 * (fractions of points carrying a label, comma-separated: `1,0.03`), TW_VS_QUERIES (distinct alert
 * embeddings per neighbour call, 36 ≈ one 512-point write of the labelled captures), TW_VS_REPS (5),
 * TW_VS_COMPARE (path to another EmbeddedStore's src/index.ts, e.g. an older commit's extracted with
 * `git archive <commit> packages/vector-store | tar -x -C bench/.vs-old`: measured in the same run,
 * after this one, on the same data).
 *
 * Per labelled fraction, in one store on a temp dir (fsync on, as the service runs it):
 *  - upsert: 512-point batches of finding payloads shaped like the service's (explanation with
 *    sub-scores, top features, 3 neighbours), Float32Array embeddings, CPU µs per point;
 *  - neighbour kNN: `similarMany(Q queries, k 4, { labelled: true })` once the store is full,
 *    CPU µs per query, beside a brute-force scan of the labelled points in plain JS (the baseline,
 *    same run) and checked equal to it;
 *  - `count({ sequenceIds })` for 512 ids, µs per call.
 * The IVF index build that starts at 20,000 points is in the upsert figures (it runs beside the
 * writes, as in the service) and finished (warm()) before the kNN ones.
 * Vectors have a low intrinsic dimension (8 latent directions, repeated embeddings), as the model's do.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Finding } from '@tidewatch/contracts';
import { EmbeddedStore, type UpsertPoint } from '@tidewatch/vector-store';
import { seededRandom } from '@tidewatch/testing';

const env = process.env;
const POINTS = Number(env['TW_VS_POINTS'] ?? 32_768);
const FRACTIONS = (env['TW_VS_LABELLED'] ?? '1,0.03').split(',').map(Number);
const Q = Number(env['TW_VS_QUERIES'] ?? 36);
const REPS = Number(env['TW_VS_REPS'] ?? 5);
const DIM = 64;
const BATCH = 512;
const K = 4;

let r = seededRandom(7);
const basis = Array.from({ length: 8 }, () => Float32Array.from({ length: DIM }, () => r() - 0.5));
const distinct = Array.from({ length: 4096 }, () => {
  const v = new Float32Array(DIM);
  for (const b of basis) {
    const w = r() - 0.5;
    for (let i = 0; i < DIM; i++) v[i] = (v[i] as number) + w * (b[i] as number);
  }
  for (let i = 0; i < DIM; i++) v[i] = (v[i] as number) + 0.02 * (r() - 0.5);
  return v;
});

function uuid(i: number, salt: number): string {
  const h = (i * 2654435761 + salt * 97) >>> 0;
  return `${h.toString(16).padStart(8, '0')}-${(i & 0xffff).toString(16).padStart(4, '0')}-5000-8000-${i.toString(16).padStart(12, '0')}`;
}

function finding(i: number, labelled: boolean, salt: number): Finding {
  const start = Date.UTC(2026, 10, 23) + Math.floor(i / 64) * 60_000;
  const malicious = r() < 0.25;
  return {
    sequence_id: uuid(i, salt),
    window_start_ms: start,
    window_end_ms: start + 60_000,
    first_seen_ms: start + 12,
    last_seen_ms: start + 840,
    src_ip: `10.${i & 3}.${(i >> 2) & 255}.${(i >> 10) & 255}`,
    dst_ip: `192.168.${i & 7}.${(i >> 3) & 127}`,
    dst_ports: [443, 80],
    protocols: [6],
    connections: 1 + (i % 7),
    fwd_bytes: 1200 + i,
    bwd_bytes: 5400,
    fwd_pkts: 12,
    bwd_pkts: 9,
    // The detector's field order (finding-builder: the sequence facts end with the label).
    label: labelled ? (malicious ? 1 : 0) : null,
    score: Math.round(r() * 1e6) / 1e6,
    anomaly: Math.round(r() * 1e6) / 1e6,
    verdict: malicious ? 'malicious' : 'benign',
    tactics: malicious ? [{ id: 'TA0011', name: 'Command and Control', probability: 0.91 }] : [],
    techniques: malicious ? [{ id: 'T1071', name: 'Application Layer Protocol', probability: 0.62 }] : [],
    severity: malicious ? 'high' : 'info',
    model_version: 'flow-1.2.0',
    status: 'new',
    explanation: {
      subscores: { beacon: 0.12, scan: 0.03, brute_force: 0, exfiltration: 0.41, reflection: 0 },
      top_features: malicious
        ? [
            { name: 'fwd_bytes_log', value: 7.1, contribution: 3.2 },
            { name: 'duration_log', value: 0.2, contribution: -2.1 },
            { name: 'distinct_dsts', value: 14, contribution: 1.9 },
            { name: 'iat_mean_log', value: 3.3, contribution: 1.2 },
            { name: 'dst_port_wellknown', value: 1, contribution: 0.7 },
          ]
        : [],
      neighbours: malicious
        ? [0, 1, 2].map((n) => ({
            sequence_id: uuid(i + n + 1, salt),
            similarity: 0.98,
            verdict: 'malicious' as const,
            label: 'malicious',
          }))
        : [],
    },
    suppressed_by: null,
    scored_at_ms: start + 61_000,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

function unit(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** One query against every labelled point in plain JS (unit vectors precomputed): the baseline; the top k similarities. */
function bruteForce(
  all: { id: string; u: Float32Array; labelled: boolean }[],
  query: Float32Array,
  k: number,
): number[] {
  const q = unit(query);
  const hits: { id: string; s: number }[] = [];
  for (const p of all) {
    if (!p.labelled) continue;
    let d = 0;
    for (let i = 0; i < DIM; i++) d += (q[i] as number) * (p.u[i] as number);
    hits.push({ id: p.id, s: d });
  }
  hits.sort((a, b) => b.s - a.s || (a.id < b.id ? -1 : 1));
  return hits.slice(0, k).map((h) => h.s);
}

type StoreCtor = new (opts: { dir: string; dim: number }) => EmbeddedStore;

async function main(): Promise<void> {
  const impls: { name: string; Store: StoreCtor }[] = [{ name: 'this checkout', Store: EmbeddedStore }];
  const other = env['TW_VS_COMPARE'];
  if (other) {
    const mod = (await import(pathToFileURL(resolve(other)).href)) as { EmbeddedStore: StoreCtor };
    impls.push({ name: other, Store: mod.EmbeddedStore });
  }
  console.log(
    `EmbeddedStore, ${POINTS.toLocaleString('en-US')} points of dim ${DIM}, upserts of ${BATCH} (fsync on), ${Q} queries per neighbour call, k ${K}; medians of ${REPS}`,
  );
  // Alternating which goes first, so JIT warm-up and the machine's load fall on both.
  for (const [fi, frac] of FRACTIONS.entries())
    for (const impl of fi % 2 === 0 ? impls : [...impls].reverse()) {
      r = seededRandom(100 + fi); // the same points and queries for every implementation
      const dir = await mkdtemp(join(tmpdir(), 'tw-vs-bench-'));
      try {
        const store = new impl.Store({ dir, dim: DIM });
        await store.init();
        const all: { id: string; u: Float32Array; labelled: boolean }[] = [];
        const upsertUs: number[] = [];
        for (let i = 0; i < POINTS; i += BATCH) {
          const points: UpsertPoint[] = [];
          for (let j = i; j < Math.min(POINTS, i + BATCH); j++) {
            const labelled = r() < frac;
            const f = finding(j, labelled, fi);
            const v = distinct[Math.floor(r() * distinct.length)] as Float32Array;
            all.push({ id: f.sequence_id, u: unit(v), labelled });
            points.push({ id: f.sequence_id, vector: v, payload: f });
          }
          const c0 = cpuUs();
          await store.upsert(points);
          upsertUs.push((cpuUs() - c0) / points.length);
        }
        await store.warm(); // the IVF build (from 20,000 points) runs in the background: not kNN's cost
        const queries = Array.from(
          { length: Q },
          () => distinct[Math.floor(r() * distinct.length)] as Float32Array,
        );
        const knnUs: number[] = [];
        const bruteUs: number[] = [];
        let mismatches = 0;
        for (let rep = 0; rep < REPS; rep++) {
          let c0 = cpuUs();
          const res = await store.similarMany(queries, { k: K, filter: { labelled: true } });
          knnUs.push((cpuUs() - c0) / Q);
          c0 = cpuUs();
          const ref = queries.map((q) => bruteForce(all, q, K));
          bruteUs.push((cpuUs() - c0) / Q);
          // Repeated embeddings tie: compare the similarities rank by rank (float32 vs float64 sums).
          for (const [q, hits] of res.entries()) {
            const want = ref[q] as number[];
            if (
              hits.length !== want.length ||
              hits.some((h, i) => Math.abs(h.similarity - (want[i] as number)) > 1e-5)
            )
              mismatches++;
          }
        }
        const ids = all.slice(0, 512).map((p) => p.id);
        const countUs: number[] = [];
        for (let rep = 0; rep < REPS; rep++) {
          const c0 = cpuUs();
          const n = await store.count({ sequenceIds: ids, status: ['in_progress', 'resolved'] });
          countUs.push(cpuUs() - c0);
          if (n !== 0) throw new Error(`count: ${n}`);
        }
        const labelledN = all.filter((p) => p.labelled).length;
        console.log(
          `\n${impl.name}, labelled ${(frac * 100).toFixed(0)} % (${labelledN.toLocaleString('en-US')} points):`,
        );
        console.log(
          `  upsert: ${median(upsertUs).toFixed(1)} µs CPU/point (median batch; last 8 batches ${median(upsertUs.slice(-8)).toFixed(1)})`,
        );
        console.log(
          `  similarMany labelled: ${median(knnUs).toFixed(1)} µs CPU/query vs brute-force JS ${median(bruteUs).toFixed(1)} µs/query (baseline) = ${(median(knnUs) / median(bruteUs)).toFixed(3)}×; ${mismatches} result(s) differing from it`,
        );
        console.log(`  count({ sequenceIds: 512 ids, status }): ${median(countUs).toFixed(0)} µs CPU/call`);
        await store.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
}

await main();
