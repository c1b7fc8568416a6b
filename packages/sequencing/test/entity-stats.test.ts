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
    assert.deepEqual(stats.contextSync({ initiator: '10.0.0.1', windowStartMs: 0 }), {
      distinct_dsts: 2,
      distinct_dst_ports: 3,
      connections: 4,
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
          ports.map((p) => toSequenceFlow(flow({ src_ip: src, dst_ip: dst, dst_port: p }))),
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
    for (let s = 0; s < 6; s++) {
      for (const ws of [0, 300_000, 600_000]) {
        const key = { initiator: `10.0.0.${s}`, windowStartMs: ws };
        const expected = viaContributions.contextSync(key);
        if (expected.distinct_dst_ports > 1 && expected.distinct_dsts > 1) multi++;
        assert.deepEqual(sealed.contextSync(key), expected);
      }
    }
    assert.ok(multi > 5, 'the mix has initiators with several responders and ports');
  });

  it('forgets initiator-windows before a bound', () => {
    const stats = new InMemoryEntityStats();
    stats.applySync([
      windowContribution(window('10.0.0.2', [22], 0)),
      windowContribution(window('10.0.0.2', [22], 300_000)),
    ]);
    stats.evictBefore(300_000);
    assert.equal(stats.contextSync({ initiator: '10.0.0.1', windowStartMs: 0 }).connections, 0);
    assert.equal(stats.contextSync({ initiator: '10.0.0.1', windowStartMs: 300_000 }).connections, 1);
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
