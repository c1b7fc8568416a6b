import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InMemoryEntityStats,
  OpenWindow,
  SpecError,
  sequencingSpec,
  windowContribution,
} from '../src/index.ts';
import { flow } from './helpers.ts';
import { toSequenceFlow } from '../src/conversation-flow.ts';

describe('InMemoryEntityStats', () => {
  const window = (dst: string, ports: number[], ws = 0) =>
    OpenWindow.of(
      '10.0.0.1',
      dst,
      ws,
      ws + 300_000,
      ports.map((p) => toSequenceFlow(flow({ dst_ip: dst, dst_port: p }))),
    );

  it('applies a conversation-window once, however often it is replayed', () => {
    const stats = new InMemoryEntityStats();
    const a = windowContribution(window('10.0.0.2', [22, 22, 80]));
    const b = windowContribution(window('10.0.0.3', [443]));
    stats.applySync([a, b]);
    stats.applySync([a]);
    assert.deepEqual(stats.contextSync({ initiator: '10.0.0.1', responder: '10.0.0.2', windowStartMs: 0 }), {
      distinct_dsts: 2,
      distinct_dst_ports: 3,
      connections: 4,
      distinct_srcs: 1,
      distinct_probe_srcs: 0,
    });
    assert.deepEqual(a, {
      initiator: '10.0.0.1',
      responder: '10.0.0.2',
      windowStartMs: 0,
      dstPorts: [22, 80],
      connections: 3,
      fwdBytes: 300,
      bwdBytes: 600,
      fwdPkts: 6,
      bwdPkts: 9,
      probe: false,
    });
  });

  it('applySealedSync gives the contexts applySync of the contributions gives, replays included', () => {
    let seed = 11;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const windows: OpenWindow[] = [];
    for (let i = 0; i < 400; i++) {
      const src = `10.0.0.${rand(6)}`;
      const dst = `10.0.1.${rand(5)}`;
      const ws = rand(3) * 300_000;
      const ports = Array.from(
        { length: 1 + (rand(3) === 0 ? rand(6) : 0) },
        () => [22, 80, 443, 53][rand(4)] as number,
      );
      windows.push(
        OpenWindow.of(
          src,
          dst,
          ws,
          ws + 300_000,
          ports.map((p, f) =>
            toSequenceFlow(
              flow({
                src_ip: src,
                dst_ip: dst,
                dst_port: p,
                // A third of the windows unanswered (probe-shaped), some of them from port 53 (reply-shaped).
                src_port: i % 9 === 4 ? 53 : 40_000,
                bwd_pkts: i % 3 === 1 && f === 0 ? 0 : 3,
              }),
            ),
          ),
        ),
      );
    }
    const viaContributions = new InMemoryEntityStats();
    const sealed = new InMemoryEntityStats();
    // In batches, each window applied again later (a replay changes nothing).
    for (let from = 0; from < windows.length; from += 37) {
      const batch = windows.slice(from, from + 37);
      const again = windows.slice(Math.max(0, from - 50), from);
      viaContributions.applySync([...batch, ...again].map(windowContribution));
      sealed.applySealedSync([...batch, ...again]);
    }
    let multi = 0;
    let fanIn = 0;
    let probing = 0;
    for (let s = 0; s < 6; s++) {
      for (const ws of [0, 300_000, 600_000]) {
        for (let d = 0; d < 5; d++) {
          const key = { initiator: `10.0.0.${s}`, responder: `10.0.1.${d}`, windowStartMs: ws };
          const expected = viaContributions.contextSync(key);
          if (expected.distinct_dst_ports > 1 && expected.distinct_dsts > 1) multi++;
          if ((expected.distinct_srcs ?? 0) > 1) fanIn++;
          if ((expected.distinct_probe_srcs ?? 0) > 1) probing++;
          assert.deepEqual(sealed.contextSync(key), expected);
        }
      }
    }
    assert.ok(multi > 5, 'the mix has initiators with several responders and ports');
    assert.ok(fanIn > 5, 'the mix has responders with several initiators');
    assert.ok(probing > 5, 'the mix has responders with several probing initiators');
  });

  it('forgets initiator-windows before a bound', () => {
    const stats = new InMemoryEntityStats();
    stats.applySync([
      windowContribution(window('10.0.0.2', [22], 0)),
      windowContribution(window('10.0.0.2', [22], 300_000)),
    ]);
    stats.evictBefore(300_000);
    assert.deepEqual(stats.contextOf('10.0.0.1', '10.0.0.2', 0), {
      distinct_dsts: 0,
      distinct_dst_ports: 0,
      connections: 0,
      distinct_srcs: 0,
      distinct_probe_srcs: 0,
    });
    assert.equal(stats.contextOf('10.0.0.1', '10.0.0.2', 300_000).connections, 1);
    assert.equal(stats.contextOf('10.0.0.1', '10.0.0.2', 300_000).distinct_srcs, 1);
  });

  it("counts a responder's distinct initiators per window (distinct_srcs), each conversation-window once", () => {
    const victim = '203.0.113.9';
    const reflector = (k: number, ws = 0) =>
      OpenWindow.of(`198.51.100.${k}`, victim, ws, ws + 300_000, [
        toSequenceFlow(
          flow({ src_ip: `198.51.100.${k}`, dst_ip: victim, src_port: 161, dst_port: 40_000 + k }),
        ),
      ]);
    const flood = Array.from({ length: 200 }, (_, k) => reflector(k));
    for (const apply of [
      (s: InMemoryEntityStats, w: OpenWindow[]) => s.applySync(w.map(windowContribution)),
      (s: InMemoryEntityStats, w: OpenWindow[]) => s.applySealedSync(w),
    ]) {
      const stats = new InMemoryEntityStats();
      apply(stats, flood.slice(0, 120));
      apply(stats, [...flood.slice(100), reflector(1, 300_000), reflector(2, 300_000)]);
      apply(stats, flood); // a replay
      // The victim answers one of them: its own context, and that reflector's fan-in, apart.
      apply(stats, [
        OpenWindow.of(victim, '198.51.100.3', 0, 300_000, [
          toSequenceFlow(flow({ src_ip: victim, dst_ip: '198.51.100.3' })),
        ]),
      ]);
      assert.deepEqual(stats.contextOf('198.51.100.7', victim, 0), {
        distinct_dsts: 1,
        distinct_dst_ports: 1,
        connections: 1,
        distinct_srcs: 200,
        // From port 161 toward high ports, unanswered: reply-shaped, no probe.
        distinct_probe_srcs: 0,
      });
      assert.equal(stats.contextOf('198.51.100.1', victim, 300_000).distinct_srcs, 2);
      assert.equal(stats.contextOf(victim, '198.51.100.3', 0).distinct_srcs, 1);
      assert.equal(stats.contextOf(victim, '198.51.100.3', 0).distinct_dsts, 1);
      assert.equal(stats.contextOf('192.0.2.1', victim, 0).distinct_srcs, 200, 'fan-in whoever asks');
    }
  });

  it("counts a responder's probing initiators per window (distinct_probe_srcs), each conversation-window once", () => {
    const server = '203.0.113.80';
    const one = (src: string, over: Parameters<typeof flow>[0], ws = 0) =>
      OpenWindow.of(src, server, ws, ws + 300_000, [
        toSequenceFlow(flow({ src_ip: src, dst_ip: server, start_ms: ws, ...over })),
      ]);
    const syn = { src_port: 50_000, dst_port: 23, bwd_bytes: 0, bwd_pkts: 0 };
    const scanners = Array.from({ length: 150 }, (_, k) => one(`192.0.2.${k}`, syn));
    // A scanner that also got an answer on another port in the same conversation-window.
    const mixed = OpenWindow.of('198.51.100.50', server, 0, 300_000, [
      toSequenceFlow(flow({ src_ip: '198.51.100.50', dst_ip: server, dst_port: 443 })),
      toSequenceFlow(flow({ src_ip: '198.51.100.50', dst_ip: server, start_ms: 5, ...syn })),
    ]);
    const others = [
      one('10.0.0.7', {}), // answered
      one('198.51.100.53', { src_port: 53, dst_port: 33_333, bwd_pkts: 0, protocol: 17 }), // reply-shaped
      one('198.51.100.54', { src_port: 0, dst_port: 0, bwd_pkts: 0, protocol: 1 }), // unanswered ICMP
    ];
    for (const apply of [
      (s: InMemoryEntityStats, w: OpenWindow[]) => s.applySync(w.map(windowContribution)),
      (s: InMemoryEntityStats, w: OpenWindow[]) => s.applySealedSync(w),
    ]) {
      const stats = new InMemoryEntityStats();
      apply(stats, scanners.slice(0, 100));
      apply(stats, [...scanners.slice(80), mixed, ...others, one('192.0.2.1', syn, 300_000)]);
      apply(stats, [...scanners, mixed, ...others].reverse()); // a replay
      const at = (src: string, ws = 0) => stats.contextOf(src, server, ws);
      assert.equal(at('10.0.0.7').distinct_srcs, 154);
      assert.equal(at('10.0.0.7').distinct_probe_srcs, 152, '150 scanners, the mixed one, the ICMP one');
      assert.equal(at('192.0.2.1', 300_000).distinct_probe_srcs, 1);
      assert.equal(stats.contextOf(server, '192.0.2.1', 0).distinct_probe_srcs, 0);
    }
  });
});

describe('sequencingSpec', () => {
  it('rejects overrides that break the rules, naming the constant', () => {
    assert.throws(
      () => sequencingSpec({ window_ms: 0 }),
      new SpecError('window_ms must be a positive integer, got 0'),
    );
    assert.throws(
      () => sequencingSpec({ biflow_tolerance_ms: 90_000 }),
      new SpecError('biflow_tolerance_ms (90000) must not exceed allowed_lateness_ms (60000)'),
    );
  });
});
