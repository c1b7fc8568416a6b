// First meaningful render of the overview in headless Chromium: with the labelled capture as
// scored (baseline, same run) and with 1,000,000 stored findings. Reports medians; asserts nothing.
//
//   pnpm --filter @tidewatch/ui build && pnpm --filter @tidewatch/ui bench:overview
//
// "Meaningful" = the count tiles hold numbers and every chart canvas of the page is drawn (two
// animation frames after both exist), measured from navigation start by the page's own clock.
// The 1M store is the capture's findings repeated with fresh ids, shifted in time copy by copy
// (so the overview merges thousands of hourly buckets). Its overview aggregates are fed finding by
// finding as the findings.v1 consumer feeds them: query-api's start-up rebuild pages through
// EmbeddedStore.list, which sorts every match per page (O(N log N) per 1,000-finding page), far
// too slow at 1M.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Finding } from '@tidewatch/contracts';
import { createApp, loadConfig } from '@tidewatch/query-api';
import { sharedPath } from '@tidewatch/testing';
import { EmbeddedStore, type StoredPoint } from '@tidewatch/vector-store';
import { chromium } from 'playwright-core';
import { uiPlugin } from '../../src/ui/plugin.ts';
import { scoreCapture, startApi } from '../test/seed.ts';

const TOTAL = Number(process.env['BENCH_FINDINGS'] ?? 1_000_000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const CAPTURE = sharedPath('testdata/labeled/ctu-malware-capture-botnet-4/conn.log.labeled');
const HOUR = 3_600_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function measure(url: string, key: string): Promise<{ fmr: number[]; overviewApi: number[] }> {
  const browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  const fmr: number[] = [];
  const overviewApi: number[] = [];
  try {
    for (let run = 0; run <= RUNS; run++) {
      // A fresh context per run: cold HTTP cache, the key already in this tab's session storage.
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      // A string, not a function: tsx's name helpers do not exist inside the page.
      await context.addInitScript(`
        sessionStorage.setItem('tidewatch.apiKey', ${JSON.stringify(key)});
        const poll = () => {
          const stat = document.querySelector('[data-testid=stat-sequences]');
          const canvases = document.querySelectorAll('main canvas');
          if (stat && /\\d/.test(stat.textContent || '') && canvases.length >= 4)
            requestAnimationFrame(() => requestAnimationFrame(() => { window.__fmr = performance.now(); }));
          else requestAnimationFrame(poll);
        };
        requestAnimationFrame(poll);
      `);
      const page = await context.newPage();
      await page.goto(`${url}/`);
      await page.waitForFunction(() => (window as unknown as { __fmr?: number }).__fmr !== undefined, null, {
        timeout: 120_000,
      });
      const [t, api, js, ovStart, ovEnd] = await page.evaluate(() => {
        const r = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
        const o = r.find((e) => e.name.includes('/v1/overview'));
        const j = r.find((e) => /\/App-[^/]*\.js$/.test(e.name)) ?? r.find((e) => e.name.endsWith('.js'));
        return [
          (window as unknown as { __fmr: number }).__fmr,
          o ? o.duration : Number.NaN,
          j ? j.responseEnd : Number.NaN,
          o ? o.startTime : Number.NaN,
          o ? o.responseEnd : Number.NaN,
        ];
      });
      if (process.env['BENCH_VERBOSE'])
        console.log(
          `  app chunk loaded ${js.toFixed(0)} ms, overview requested ${ovStart.toFixed(0)} → answered ${ovEnd.toFixed(0)} ms, render ${t.toFixed(0)} ms`,
        );
      // Run 0 warms the server (JIT, first aggregate merge); it is not counted.
      if (run > 0) {
        fmr.push(t);
        overviewApi.push(api);
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return { fmr, overviewApi };
}

const scored = await scoreCapture(CAPTURE);
console.log(`scored the capture: ${scored.points.length} findings (embedding dim ${scored.dim})`);

// Baseline: the capture as scored, through the normal start-up path.
const baseDir = mkdtempSync(join(tmpdir(), 'tidewatch-bench-base-'));
const baseStore = new EmbeddedStore({ dir: join(baseDir, 'vectors'), dim: scored.dim, fsync: false });
await baseStore.init();
for (let i = 0; i < scored.points.length; i += 1000) await baseStore.upsert(scored.points.slice(i, i + 1000));
const base = await startApi(baseStore, baseDir, scored.sequences, {
  scored: scored.points.length,
  malicious: 0,
});
const baseline = await measure(base.api.url, base.adminKey);
await base.stop();

// 1,000,000 stored findings.
const dir = mkdtempSync(join(tmpdir(), 'tidewatch-bench-1m-'));
const store = new EmbeddedStore({ dir: join(dir, 'vectors'), dim: scored.dim, fsync: false });
await store.init();
const first = Math.min(...scored.points.map((p) => p.payload.window_start_ms));
const last = Math.max(...scored.points.map((p) => p.payload.window_end_ms));
const span = Math.ceil((last - first + 1) / HOUR) * HOUR;
const t0 = performance.now();
const adminKey = `tw-bench-admin-${process.pid}-key`;
process.env['TIDEWATCH_TEST'] ??= '1';
const api = await createApp(
  loadConfig({
    TIDEWATCH_HTTP_PORT: '0',
    TIDEWATCH_HTTP_HOST: '127.0.0.1',
    TIDEWATCH_DATA_DIR: dir,
    TIDEWATCH_ADMIN_KEY: adminKey,
    TIDEWATCH_QUERY_CONSUMERS: 'false',
  }),
  { store, ui: uiPlugin, embeddingDim: scored.dim },
);
for (let i = 0; i < TOTAL; ) {
  const batch: StoredPoint[] = [];
  for (; batch.length < 10_000 && i < TOTAL; i++) {
    const base = scored.points[i % scored.points.length] as StoredPoint;
    const shift = Math.floor(i / scored.points.length) * span;
    const id = randomUUID();
    const payload: Finding = {
      ...base.payload,
      sequence_id: id,
      window_start_ms: base.payload.window_start_ms + shift,
      window_end_ms: base.payload.window_end_ms + shift,
      first_seen_ms: base.payload.first_seen_ms + shift,
      last_seen_ms: base.payload.last_seen_ms + shift,
    };
    batch.push({ id, vector: base.vector, payload });
  }
  await store.upsert(batch);
  for (const p of batch) api.services.aggregates.add(p.payload);
}
console.log(`stored ${TOTAL} findings in ${Math.round((performance.now() - t0) / 1000)} s`);
await api.fastify.listen({ port: 0, host: '127.0.0.1' });
api.services.state.ready = true;
const address = api.fastify.server.address();
const url = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : '';
const million = await measure(url, adminKey);
await api.fastify.close();
await store.close();
rmSync(dir, { recursive: true, force: true });

const row = (name: string, m: { fmr: number[]; overviewApi: number[] }) =>
  `${name.padEnd(34)} first meaningful render median ${median(m.fmr).toFixed(0)} ms (runs ${m.fmr.map((x) => x.toFixed(0)).join(', ')}); GET /v1/overview median ${median(m.overviewApi).toFixed(0)} ms`;
console.log(row(`baseline: ${scored.points.length} findings`, baseline));
console.log(row(`${TOTAL.toLocaleString('en-US')} findings`, million));
console.log(`ratio 1M / baseline: ${(median(million.fmr) / median(baseline.fmr)).toFixed(2)}×`);
