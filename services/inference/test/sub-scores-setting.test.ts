import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sequence } from '@tidewatch/contracts';
import { scoreThroughApp } from './in-process-app.ts';
import { oneFlowSequence } from './one-flow-sequence.ts';

const SWEEP_HOSTS = 12;

/** One pinger's sweep: an answered echo to each of 12 hosts, one sequence per host, as the sequencer emits it. */
function sweep(k: number): Sequence {
  const t0 = 1_700_000_000_000 + k * 150;
  return {
    sequence_id: `33333333-4444-5555-8666-${k.toString(16).padStart(12, '0')}`,
    src_ip: '10.9.0.5',
    dst_ip: `10.9.1.${k + 1}`,
    window_start_ms: 1_700_000_000_000,
    window_end_ms: 1_700_000_300_000,
    part: 0,
    flows: [
      {
        start_ms: t0,
        end_ms: t0 + 1,
        protocol: 1,
        src_port: 0,
        dst_port: 2048, // echo request (type 8 << 8)
        fwd_bytes: 84,
        fwd_pkts: 1,
        bwd_bytes: 84,
        bwd_pkts: 1,
        tcp_flags: 0,
        label: null,
        attack: null,
        origin: `sweep:${k}`,
      },
    ],
    context: { distinct_dsts: SWEEP_HOSTS, distinct_dst_ports: 1, connections: 1 },
  };
}

/**
 * TIDEWATCH_INFERENCE_SUB_SCORES picks the formulas the service flags with: subscores.v2 (the
 * default) raises a ping sweep whose echoes were answered; v1 counted only unanswered probes.
 */
describe('inference: the sub-score version setting', () => {
  async function run(subScores: 'v1' | 'v2' | undefined) {
    const seqs = Array.from({ length: SWEEP_HOSTS }, (_, k) => sweep(k));
    const { stored, emitted } = await scoreThroughApp(
      subScores ? { TIDEWATCH_INFERENCE_SUB_SCORES: subScores } : {},
      seqs,
    );
    return {
      scan: stored.map((f) => f.explanation.subscores.scan),
      verdicts: stored.map((f) => f.verdict),
      severities: stored.map((f) => f.severity),
      emitted: emitted.length,
    };
  }

  it('raises an answered ping sweep with v2 (the default) and not with v1', async () => {
    const byDefault = await run(undefined);
    const v1 = await run('v1');
    assert.deepEqual(byDefault.verdicts, Array(SWEEP_HOSTS).fill('benign'), 'the model alone says benign');
    assert.deepEqual(byDefault.scan, Array(SWEEP_HOSTS).fill(1));
    assert.deepEqual(byDefault.severities, Array(SWEEP_HOSTS).fill('low'));
    assert.equal(byDefault.emitted, SWEEP_HOSTS, 'every sequence of the sweep is a finding on findings.v1');
    assert.deepEqual(v1.scan, Array(SWEEP_HOSTS).fill(0));
    assert.deepEqual(v1.severities, Array(SWEEP_HOSTS).fill('info'));
    assert.equal(v1.emitted, 0);
  });

  it('raises an inbound scan by default (v4) as Reconnaissance / Active Scanning, and not with v3', async () => {
    const SCANNERS = 40;
    // Each scanner's one dropped SYN to port 23 of one host: its own sequence, the responder's probing fan-in 40.
    const seqs: Sequence[] = Array.from({ length: SCANNERS }, (_, k) =>
      oneFlowSequence(
        k,
        { src_ip: `203.0.113.${k + 1}`, dst_ip: '10.9.2.10' },
        { tcp_flags: 0x02, origin: `scan:${k}` },
        {
          distinct_dsts: 1,
          distinct_dst_ports: 1,
          connections: 1,
          distinct_srcs: SCANNERS,
          distinct_probe_srcs: SCANNERS,
        },
      ),
    );
    const byDefault = await scoreThroughApp({}, seqs);
    const v3 = await scoreThroughApp({ TIDEWATCH_INFERENCE_SUB_SCORES: 'v3' }, seqs);
    assert.equal(byDefault.emitted.length, SCANNERS, 'every scanner is a finding on findings.v1');
    for (const f of byDefault.stored) {
      assert.equal(f.explanation.subscores.scan, 1);
      assert.ok(
        f.tactics.some((t) => t.id === 'TA0043' && t.probability === 1),
        f.sequence_id,
      );
      assert.ok(
        f.techniques.some((t) => t.id === 'T1595' && t.probability === 1),
        f.sequence_id,
      );
    }
    assert.deepEqual(
      v3.stored.map((f) => f.explanation.subscores.scan),
      Array(SCANNERS).fill(0),
    );
    assert.equal(
      v3.emitted.length,
      v3.stored.filter((f) => f.verdict === 'malicious').length,
      'v3 raises only what the model says',
    );
  });
});
