import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OverviewAggregates, PairSketch, TopCounter } from '../src/overview-aggregates.ts';
import { makeFinding, T0 } from './harness.ts';

const HOUR = 3_600_000;

describe('OverviewAggregates', () => {
  // 3 days of findings, 10 per hour (makeFinding spaces them an hour apart per 10).
  const findings = Array.from({ length: 720 }, (_, n) => makeFinding(n));
  const agg = new OverviewAggregates();
  for (const f of findings) agg.add(f);

  it('matches a brute-force count for ranges that mix whole days and edge hours', () => {
    for (const [from, to] of [
      [T0, T0 + 72 * HOUR],
      [T0 + 5 * HOUR, T0 + 53 * HOUR],
      [T0 + 13 * HOUR, T0 + 14 * HOUR],
      [T0 - 100 * HOUR, T0 + 1000 * HOUR],
    ] as const) {
      const inRange = findings.filter((f) => f.window_start_ms >= from && f.window_start_ms < to);
      const o = agg.overview(from, to);
      assert.equal(o.total_sequences, inRange.length, `${from}-${to}`);
      assert.equal(
        o.total_flows,
        inRange.reduce((a, f) => a + f.connections, 0),
      );
      assert.equal(
        o.fwd_bytes,
        inRange.reduce((a, f) => a + f.fwd_bytes, 0),
      );
      assert.equal(o.suspicious, inRange.filter((f) => f.verdict === 'malicious').length);
      assert.equal(
        o.over_time.reduce((a, b) => a + b.sequences, 0),
        inRange.length,
      );
      const src = new Map<string, number>();
      for (const f of inRange) src.set(f.src_ip, (src.get(f.src_ip) ?? 0) + 1);
      const expected = [...src].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
      assert.deepEqual(
        o.top_src_ips.map((x) => [x.ip, x.count]),
        expected,
      );
    }
  });

  it('counts a replayed finding once', () => {
    const before = agg.overview(T0, T0 + 72 * HOUR).total_sequences;
    agg.add(findings[5] as (typeof findings)[number]);
    assert.equal(agg.overview(T0, T0 + 72 * HOUR).total_sequences, before);
  });

  it('serves repeated ranges from its cache and sees new findings once the entry may be stale', () => {
    const fresh = new OverviewAggregates(0);
    fresh.add(makeFinding(0));
    assert.equal(fresh.overview(T0, T0 + HOUR).total_sequences, 1);
    fresh.add(makeFinding(1));
    assert.equal(fresh.overview(T0 + 1, T0 + HOUR).total_sequences, 2);
    const lagging = new OverviewAggregates(60_000);
    lagging.add(makeFinding(0));
    const first = lagging.overview(T0, T0 + HOUR);
    lagging.add(makeFinding(1));
    const second = lagging.overview(T0 + 5, T0 + HOUR);
    assert.equal(second.total_sequences, first.total_sequences);
    assert.equal(second.from_ms, T0 + 5);
  });

  it('estimates unique pairs within a few percent', () => {
    const s = new PairSketch();
    for (let i = 0; i < 50_000; i++) s.add(`10.0.${i >> 8}.${i & 255}|192.168.0.1`);
    const est = PairSketch.estimate([s]);
    assert.ok(Math.abs(est - 50_000) / 50_000 < 0.05, `estimate ${est}`);
    const small = new PairSketch();
    for (let i = 0; i < 10; i++) small.add(`a${i}`);
    assert.equal(PairSketch.estimate([small]), 10);
  });

  it('keeps the heavy hitters of a counter past its cap', () => {
    const c = new TopCounter(100);
    for (let i = 0; i < 5_000; i++) c.add(`noise-${i}`);
    for (let i = 0; i < 1_000; i++) c.add('heavy');
    assert.ok(c.counts.size <= 100);
    assert.ok((c.counts.get('heavy') ?? 0) >= 1_000);
  });
});
