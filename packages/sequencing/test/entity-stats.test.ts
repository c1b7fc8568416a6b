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
