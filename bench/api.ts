/**
 * Query API latency and throughput with 1,000,000 stored findings (BENCH_FINDINGS to change),
 * measured with autocannon against a server in a child process:
 *   pnpm exec tsx bench/api.ts
 * Baseline in the same run: GET /livez (no auth, no store) on the same server; for similar, the
 * in-process exact scan beside the IVF path (latency ratio and recall@20 on 100 fresh queries).
 * Also printed: EmbeddedStore.upsert rate, restart (log replay) time, index build time, RSS.
 * Targets (issue #7): p99 < 50 ms for list/get/similar, overview < 200 ms, >= 2,000 req/s for get.
 * BENCH_VECTORS=isotropic seeds vectors without low-dimensional structure (see api-server.ts).
 *
 * On a machine without node_modules, bundle both halves with the workspace's esbuild
 * (`esbuild bench/api.ts --bundle --platform=node --format=esm --external:onnxruntime-node`, the
 * same for api-server.ts, next to a copy of onnxruntime-node and packages/vector-store/assets) and
 * run `BENCH_SERVER=<bundled api-server.mjs> node <bundled api.mjs>`.
 *
 * Measured 2026-11-23, 1,000,000 findings, 10 connections (BENCH_SECONDS 8 / 6 / 8):
 * - 16-core Xeon, idle, at d496106: get p99 1 ms, 13,562 req/s; overview p99 4 ms; similar k=20
 *   p50 17 / p99 41 ms, 489 req/s; list (filtered) p50 6 / p99 16 ms, 1,225 req/s; /livez
 *   28,967 req/s. Upsert 74,604 points/s, restart 11.1 s, IVF build 13.7 s, RSS 4.1 GiB.
 * - same machine type, at 2e69a36 (every route slower, /livez 25,195 req/s): similar p99 71 ms,
 *   353 req/s (over target); list p99 32 ms; get p99 2 ms, 12,976 req/s; overview p99 6 ms.
 * - 2 shared cores at load 8-12, at b5cfe64 (lists kept clean, probe reads only list arrays):
 *   /livez 6,572 req/s; get p99 9 ms, 3,943 req/s; overview p99 7 ms; similar p50 12 / p99 40 ms,
 *   668 req/s (0.10x /livez; 179 req/s, 0.04x before that change); list p50 14 / p99 114 ms.
 * - 2 cores, quiet (load 0.7), at 04af820: /livez 19,977 req/s; get p50 1 / p99 3 ms, 7,161 req/s;
 *   overview p99 5 ms; similar k=20 p50 11 / p99 24 ms, 790 req/s; list (filtered) p50 8 / p99 23 ms,
 *   901 req/s; upsert 76,849 points/s, restart 10.7 s, IVF build 23.7 s, RSS 4.1 GiB. All targets met.
 * IVF: 1,000 lists, 4,000 points probed, recall@20 0.986 against exact on 100 fresh queries, 95-130x
 * faster than the exact scan in the same run.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const DURATION = Number(process.env['BENCH_SECONDS'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 10);

const child = spawn(
  process.execPath,
  [
    '--max-old-space-size=12000',
    '--expose-gc',
    ...(process.env['BENCH_CPU_PROF']
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`]
      : []),
    // BENCH_SERVER: a bundled server script (running where tsx is not installed).
    ...(process.env['BENCH_SERVER']
      ? [process.env['BENCH_SERVER']]
      : ['--import', 'tsx', fileURLToPath(new URL('./api-server.ts', import.meta.url))]),
  ],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TIDEWATCH_TEST: '1' },
  },
);
const line = await new Promise<string>((resolve, reject) => {
  const rl = createInterface({ input: child.stdout });
  rl.once('line', resolve);
  child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
});
const info = JSON.parse(line) as {
  url: string;
  key: string;
  ids: string[];
  seedMs: number;
  upsertPerS: number;
  restartMs: number;
  warmMs: number;
  ann: {
    lists: number;
    probePoints: number;
    recall: number;
    calibrationQueries: number;
    buildMs: number;
  } | null;
  recall: number;
  annMedianMs: number;
  exactMedianMs: number;
  startMs: number;
  rssMb: number;
  n: number;
  from: number;
  to: number;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
console.log(
  `seeded ${info.n.toLocaleString()} findings in ${secs(info.seedMs)} (EmbeddedStore.upsert alone: ${Math.round(info.upsertPerS).toLocaleString()} points/s)`,
);
console.log(
  `restart (log replay + column indexes): ${secs(info.restartMs)}; index warm-up (time order + IVF build): ${secs(info.warmMs)}; query-api start-up (aggregate rebuild): ${secs(info.startMs)}; server RSS ${Math.round(info.rssMb)} MiB`,
);
if (info.ann)
  console.log(
    `IVF: ${info.ann.lists} lists, ${info.ann.probePoints.toLocaleString()} points probed per query, build ${secs(info.ann.buildMs)}, calibration recall@20 ${info.ann.recall.toFixed(3)} on ${info.ann.calibrationQueries} queries`,
  );
console.log(
  `similar k=20 in-process on 100 fresh queries: recall@20 vs exact ${info.recall.toFixed(3)}; median ${info.annMedianMs.toFixed(2)} ms (IVF) vs ${info.exactMedianMs.toFixed(2)} ms (exact scan, same run) = ${(info.exactMedianMs / Math.max(info.annMedianMs, 1e-3)).toFixed(1)}x`,
);

let i = 0;
const nextId = () => info.ids[i++ % info.ids.length] as string;
const LIST_FILTERS = [
  'severity=high,critical&limit=50',
  'verdict=malicious&src_ip=10.1.0.0/16&limit=50',
  'tactic=TA0011&min_score=0.8&limit=50',
  `src_ip=10.2.3.0/24&from=${info.from + 86_400_000}&to=${info.from + 3 * 86_400_000}&limit=50`,
];

interface Case {
  name: string;
  path: () => string;
  auth: boolean;
  target: string;
}
// Cheapest first: a saturated case leaves a queue behind that would inflate the next one.
const cases: Case[] = [
  { name: 'baseline GET /livez', path: () => '/livez', auth: false, target: '' },
  {
    name: 'get /v1/findings/{id}',
    path: () => `/v1/findings/${nextId()}`,
    auth: true,
    target: 'p99 < 50 ms, >= 2000 req/s',
  },
  {
    name: 'overview (7 days)',
    path: () => `/v1/overview?from=${info.from}&to=${info.to}`,
    auth: true,
    target: 'p99 < 200 ms',
  },
  {
    name: 'similar k=20',
    path: () => `/v1/findings/${nextId()}/similar?k=20`,
    auth: true,
    target: 'p99 < 50 ms',
  },
  {
    name: 'list /v1/findings (filtered)',
    path: () => `/v1/findings?${LIST_FILTERS[i++ % LIST_FILTERS.length]}`,
    auth: true,
    target: 'p99 < 50 ms',
  },
];

/** Waits until the server answers /livez quickly again (the previous case's queue has drained). */
async function drained(): Promise<void> {
  for (let n = 0; n < 600; n++) {
    const t = performance.now();
    await fetch(`${info.url}/livez`);
    if (performance.now() - t < 20) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const rows: string[][] = [];
try {
  for (const c of cases) {
    await drained();
    const result = await autocannon({
      url: info.url,
      connections: CONNECTIONS,
      duration: DURATION,
      timeout: 30,
      requests: [
        {
          method: 'GET',
          setupRequest: (req) => ({
            ...req,
            path: c.path(),
            headers: c.auth ? { authorization: `Bearer ${info.key}` } : {},
          }),
        },
      ],
    });
    const bad = result.non2xx + result.errors + result.timeouts;
    rows.push([
      c.name,
      String(result.latency.p50),
      String(result.latency.p99),
      result.requests.average.toFixed(0),
      String(bad),
      c.target,
    ]);
    console.log(
      `${c.name}: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${result.requests.average.toFixed(0)} req/s, ${bad} errors`,
    );
  }
} finally {
  child.kill('SIGTERM');
}
const base = Number(rows[0]?.[3] ?? 1);
console.log(`\n${info.n.toLocaleString()} findings, ${CONNECTIONS} connections, ${DURATION} s each`);
console.log('| case | p50 ms | p99 ms | req/s | vs baseline req/s | non-2xx/errors | target |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r[0]} | ${r[1]} | ${r[2]} | ${r[3]} | ${(Number(r[3]) / base).toFixed(2)}x | ${r[4]} | ${r[5]} |`,
  );
