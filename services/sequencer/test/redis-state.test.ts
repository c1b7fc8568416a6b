import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryEntityStats, OpenWindow, type WindowContribution } from '@tidewatch/sequencing';
import { needsServices, serviceEndpoints, uniqueName } from '@tidewatch/testing';
import { Redis } from 'ioredis';
import { EXACT_DISTINCT_LIMIT, initiatorShard, RedisSequencerState } from '../src/redis-state.ts';

const WS = 1_700_000_100_000 - (1_700_000_100_000 % 300_000);
const BUCKET_MS = 3_600_000;

function window(
  initiator: string,
  responder: string,
  ws: number,
  ports: number[],
  n = 2,
  probe = false,
): WindowContribution {
  return {
    initiator,
    responder,
    windowStartMs: ws,
    dstPorts: ports,
    connections: n,
    fwdBytes: 1000 * n + 7,
    bwdBytes: 3_000_000_000 * n,
    fwdPkts: 3 * n,
    bwdPkts: 5 * n,
    probe,
  };
}

/** A busy network: several initiators, several windows, ports shared and not. */
function traffic(): WindowContribution[] {
  const out: WindowContribution[] = [];
  for (let w = 0; w < 3; w++) {
    for (let s = 0; s < 40; s++) {
      const initiator = s % 2 ? `10.0.0.${s}` : `fd00::${s.toString(16)}`;
      for (let d = 0; d <= s % 5; d++) {
        out.push(
          window(
            initiator,
            `192.168.1.${d + s}`,
            WS + w * 300_000,
            [443, 80 + d].slice(0, 1 + (d % 2)),
            1 + d,
            (s + d + w) % 3 === 0,
          ),
        );
      }
    }
  }
  return out;
}

describe('Redis entity statistics (real Redis)', needsServices(), () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(serviceEndpoints()?.redisUrl as string);
  });
  after(async () => {
    await redis?.quit();
  });

  const state = () =>
    new RedisSequencerState(redis, {
      keyPrefix: uniqueName('seqstate'),
      ttlSeconds: 600,
      pairBucketMs: BUCKET_MS,
    });

  async function assertSameAsExact(s: RedisSequencerState, windows: WindowContribution[]): Promise<void> {
    const exact = new InMemoryEntityStats();
    exact.applySync(windows);
    const keys = windows.map((c) => ({
      initiator: c.initiator,
      responder: c.responder,
      windowStartMs: c.windowStartMs,
    }));
    const expected = keys.map((k) => exact.contextSync(k));
    assert.ok(
      expected.some((c) => (c.distinct_srcs ?? 0) > 1),
      'responders with several initiators',
    );
    assert.ok(
      expected.some((c) => (c.distinct_probe_srcs ?? 0) > 1) &&
        expected.some((c) => (c.distinct_srcs ?? 0) > (c.distinct_probe_srcs ?? 0)),
      'responders with several probing initiators, and with non-probing ones',
    );
    assert.deepEqual(await s.contexts(keys), expected);
    const pairs = new Map<string, number[]>();
    for (const c of windows) {
      const k = `${c.initiator}|${c.responder}`;
      const t = pairs.get(k) ?? [0, 0, 0, 0, 0];
      [c.connections, c.fwdBytes, c.bwdBytes, c.fwdPkts, c.bwdPkts].forEach((v, i) => {
        t[i] = (t[i] ?? 0) + v;
      });
      pairs.set(k, t);
    }
    const bucket = Math.floor(WS / BUCKET_MS) * BUCKET_MS;
    for (const [k, [connections, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts]] of pairs) {
      const [src, dst] = k.split('|') as [string, string];
      assert.deepEqual(await s.pairCounters(src, dst, bucket), {
        connections,
        fwd_bytes,
        bwd_bytes,
        fwd_pkts,
        bwd_pkts,
      });
    }
  }

  it('windowContexts gives each window its initiator-window context, as contexts() of the keys does', async () => {
    const s = state();
    const contributions = traffic();
    // Enough windows (and repeated initiators) to span several script calls.
    for (let k = 0; k < 2500; k++) {
      const i = k % 700;
      contributions.push(
        window(`10.1.${i >> 8}.${i & 255}`, `172.16.${k % 7}.${k % 250}`, WS + (k % 2) * 300_000, [k % 9], 1),
      );
    }
    await s.applyWindows(contributions);
    const exact = new InMemoryEntityStats();
    exact.applySync(contributions);
    const windows = contributions.map((c) =>
      OpenWindow.of(c.initiator, c.responder, c.windowStartMs, c.windowStartMs + 300_000, [
        {
          start_ms: c.windowStartMs,
          end_ms: c.windowStartMs + 1,
          protocol: 6,
          src_port: 40_000,
          dst_port: c.dstPorts[0] as number,
          fwd_bytes: c.fwdBytes,
          fwd_pkts: c.fwdPkts,
          bwd_bytes: c.bwdBytes,
          bwd_pkts: c.bwdPkts,
          tcp_flags: 0,
          label: null,
          attack: null,
          origin: 'test',
        },
      ]),
    );
    windows.push(OpenWindow.of('10.250.0.1', '10.250.0.2', WS, WS + 300_000, windows[0]?.flows() ?? []));
    const expected = windows.map((w) => exact.contextOf(w.src_ip, w.dst_ip, w.window_start_ms));
    assert.equal(expected.at(-1)?.connections, 0, 'an initiator without statistics reads zeros');
    const got = await s.windowContexts(windows);
    assert.deepEqual(got, expected);
    assert.deepEqual(
      got,
      await s.contexts(
        windows.map((w) => ({ initiator: w.src_ip, responder: w.dst_ip, windowStartMs: w.window_start_ms })),
      ),
    );
    assert.deepEqual(await s.windowContexts([]), []);
  });

  it('applies each conversation-window once: the same window twice in one call counts once', async () => {
    const s = state();
    const windows = traffic();
    const doubled = windows.flatMap((w, i) => (i % 3 === 0 ? [w, { ...w }] : [w]));
    await s.applyWindows(doubled);
    await assertSameAsExact(s, windows);
    const ttl = await redis.ttl(
      s.keys.pairs(Math.floor(WS / BUCKET_MS) * BUCKET_MS, initiatorShard('10.0.0.1')),
    );
    assert.ok(ttl > 0 && ttl <= 600, `pair hashes expire (ttl ${ttl})`);
    const entTtl = await redis.ttl(s.keys.entities(WS, initiatorShard('10.0.0.1')));
    assert.ok(entTtl > 0 && entTtl <= 600, `entity hashes expire (ttl ${entTtl})`);
  });

  it('a replay after a crash between script and commit changes nothing (applied, then applied again with new windows)', async () => {
    const s = state();
    const windows = traffic();
    const half = Math.floor(windows.length / 2);
    await s.applyWindows(windows.slice(0, half + 10));
    // Restart: the batch since the last commit is re-read and applied again, followed by new input.
    await s.applyWindows(windows.slice(half - 30));
    await assertSameAsExact(s, windows);
    await s.applyWindows(windows);
    await assertSameAsExact(s, windows);
  });

  it('keeps distinct responders and ports exactly up to the limit, then in a HyperLogLog; replays still count once', async () => {
    const s = state();
    const small: WindowContribution[] = [];
    for (let d = 0; d < EXACT_DISTINCT_LIMIT; d++)
      small.push(window('10.9.9.9', `172.20.0.${d}`, WS, [1000 + d], 1));
    await s.applyWindows(small.slice(0, 10));
    await s.applyWindows(small);
    assert.deepEqual(
      await s.contexts([{ initiator: '10.9.9.9', responder: '172.20.0.0', windowStartMs: WS }]),
      [
        {
          distinct_dsts: EXACT_DISTINCT_LIMIT,
          distinct_dst_ports: EXACT_DISTINCT_LIMIT,
          connections: EXACT_DISTINCT_LIMIT,
          distinct_srcs: 1,
          distinct_probe_srcs: 0,
        },
      ],
    );
    // A scanner: 300 responders over two calls, one window with 2,000 ports.
    const scan: WindowContribution[] = [];
    for (let d = 0; d < 300; d++) scan.push(window('10.9.9.9', `172.21.${d >> 8}.${d & 255}`, WS, [22], 1));
    const ports = Array.from({ length: 2000 }, (_, p) => p + 1);
    scan.push(window('10.9.9.9', '172.22.0.1', WS, ports, 2000));
    await s.applyWindows(scan.slice(0, 100));
    await s.applyWindows(scan);
    await s.applyWindows([...small, ...scan]);
    const [context] = await s.contexts([
      { initiator: '10.9.9.9', responder: '172.22.0.1', windowStartMs: WS },
    ]);
    assert.equal(context?.distinct_srcs, 1);
    const dsts = EXACT_DISTINCT_LIMIT + 301;
    const distinctPorts = 2000; // the other ports (22, 1000..1031) are among 1..2000
    assert.equal(context?.connections, EXACT_DISTINCT_LIMIT + 300 + 2000);
    assert.ok(
      Math.abs((context?.distinct_dsts ?? 0) - dsts) <= dsts * 0.02,
      `distinct_dsts ${context?.distinct_dsts} ~ ${dsts}`,
    );
    assert.ok(
      Math.abs((context?.distinct_dst_ports ?? 0) - distinctPorts) <= distinctPorts * 0.02,
      `distinct_dst_ports ${context?.distinct_dst_ports} ~ ${distinctPorts}`,
    );
    assert.equal(await redis.exists(s.keys.distinct('dsts', WS, '10.9.9.9')), 1);
    assert.ok((await redis.ttl(s.keys.distinct('ports', WS, '10.9.9.9'))) > 0);
  });

  it('reads zero context for an initiator-window with nothing applied', async () => {
    const s = state();
    assert.deepEqual(
      await s.contexts([{ initiator: '10.1.1.1', responder: '10.1.1.2', windowStartMs: WS }]),
      [{ distinct_dsts: 0, distinct_dst_ports: 0, connections: 0, distinct_srcs: 0, distinct_probe_srcs: 0 }],
    );
  });

  it("counts a responder's distinct initiators exactly at a reflection flood's fan-in, replays and other windows apart", async () => {
    const s = state();
    const victim = '203.0.113.9';
    // 4,276 reflectors (an SNMP reflection capture's count), one one-flow window each, over five
    // calls of the script; a second window start with 3 of them; the victim's own conversations.
    const reflectors = Array.from({ length: 4276 }, (_, k) => `198.51.${k >> 8}.${k & 255}`);
    const flood = reflectors.map((r) => window(r, victim, WS, [40_000 + (r.length % 7)], 1));
    const later = reflectors.slice(0, 3).map((r) => window(r, victim, WS + 300_000, [161], 1));
    const own = [window(victim, '192.0.2.1', WS, [53], 1), window(victim, '192.0.2.2', WS, [53], 1)];
    await s.applyWindows(flood.slice(0, 2000));
    // A restart: an overlapping replay, then everything again.
    await s.applyWindows([...flood.slice(1500), ...later, ...own]);
    await s.applyWindows([...flood, ...later, ...own].reverse());
    const read = await s.contexts([
      { initiator: reflectors[7] as string, responder: victim, windowStartMs: WS },
      { initiator: reflectors[1] as string, responder: victim, windowStartMs: WS + 300_000 },
      { initiator: victim, responder: '192.0.2.1', windowStartMs: WS },
      { initiator: '192.0.2.1', responder: victim, windowStartMs: WS },
    ]);
    assert.deepEqual(
      read.map((c) => [c.distinct_dsts, c.connections, c.distinct_srcs]),
      [
        [1, 1, 4276],
        [1, 1, 3],
        [2, 2, 1],
        [0, 0, 4276],
      ],
    );
    const exact = new InMemoryEntityStats();
    exact.applySync([...flood, ...later, ...own]);
    assert.equal(exact.contextOf('x', victim, WS).distinct_srcs, 4276);
    const fanInTtl = await redis.ttl(s.keys.fanIn(WS, initiatorShard(victim)));
    assert.ok(fanInTtl > 0 && fanInTtl <= 600, `fan-in hashes expire (ttl ${fanInTtl})`);
    assert.equal(await redis.hget(s.keys.fanIn(WS, initiatorShard(victim)), victim), '4276');
    assert.equal(await redis.hget(s.keys.fanIn(WS, initiatorShard(victim)), `${victim}:p`), null);
  });

  it("counts a responder's probing initiators (distinct_probe_srcs) exactly at an inbound scan's fan-in, replays and other windows apart", async () => {
    const s = state();
    const server = '203.0.113.80';
    // 3,700 scanners send the server one unanswered probe each (one window with a probe-shaped
    // flow), 436 clients talk to it (no probe) over five script calls; in the next window 3 of
    // the scanners again; the server's own (probing) conversation counts for its responder only.
    const scanners = Array.from({ length: 3700 }, (_, k) => `192.0.${k >> 8}.${k & 255}`);
    const clients = Array.from({ length: 436 }, (_, k) => `10.20.${k >> 8}.${k & 255}`);
    const scan = scanners.map((r) =>
      window(r, server, WS, [[23, 445, 3389][r.length % 3] as number], 1, true),
    );
    const talk = clients.map((c) => window(c, server, WS, [443], 3));
    const later = scanners.slice(0, 3).map((r) => window(r, server, WS + 300_000, [23], 1, true));
    const own = [window(server, '192.0.2.200', WS, [53], 1, true)];
    const all = [...scan, ...talk, ...later, ...own];
    await s.applyWindows([...scan.slice(0, 2000), ...talk.slice(0, 200)]);
    await s.applyWindows([...scan.slice(1500), ...talk.slice(100), ...later, ...own]);
    await s.applyWindows([...all].reverse());
    const keys = [
      { initiator: scanners[7] as string, responder: server, windowStartMs: WS },
      { initiator: clients[7] as string, responder: server, windowStartMs: WS },
      { initiator: scanners[1] as string, responder: server, windowStartMs: WS + 300_000 },
      { initiator: server, responder: '192.0.2.200', windowStartMs: WS },
    ];
    const read = await s.contexts(keys);
    assert.deepEqual(
      read.map((c) => [c.distinct_srcs, c.distinct_probe_srcs]),
      [
        [4136, 3700],
        [4136, 3700],
        [3, 3],
        [1, 1],
      ],
    );
    const exact = new InMemoryEntityStats();
    exact.applySync(all);
    assert.deepEqual(
      read,
      keys.map((k) => exact.contextSync(k)),
    );
    assert.equal(await redis.hget(s.keys.fanIn(WS, initiatorShard(server)), `${server}:p`), '3700');
  });
});
