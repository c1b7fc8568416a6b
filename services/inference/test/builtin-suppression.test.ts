import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Finding, Sequence } from '@tidewatch/contracts';
import { scoreThroughApp } from './in-process-app.ts';
import { oneFlowSequence } from './one-flow-sequence.ts';

/**
 * One unanswered UDP datagram from a host that, in the same window, sent to 30 destinations: the
 * scan sub-score flags it (a low-severity finding) whoever the responder is.
 */
function probe(k: number, dst_ip: string, dst_port: number): Sequence {
  return oneFlowSequence(
    k,
    { src_ip: '10.9.0.5', dst_ip },
    { protocol: 17, src_port: 5353, dst_port, fwd_bytes: 120 },
    { distinct_dsts: 30, distinct_dst_ports: 3, connections: 30 },
  );
}

const SEQUENCES = [
  probe(0, '224.0.0.251', 5353), // mDNS
  probe(1, 'ff02::fb', 5353),
  probe(2, '239.255.255.250', 1900), // SSDP
  probe(3, '255.255.255.255', 67),
  probe(4, '10.9.1.20', 5353), // a unicast responder: raised
  probe(5, '224.2.24.27', 46861), // an arbitrary group (a bot probing random addresses): raised
  probe(6, '10.9.255.255', 137), // NetBIOS to a private subnet's broadcast address
  probe(7, '198.51.100.255', 17500), // a public x.x.x.255: raised
  probe(9, '141.142.220.255', 137), // NetBIOS to a broadcast address of a LAN in public space
  probe(10, '192.0.2.123', 123), // NTP to a public server from 30 destinations: a clock retrying its pool
  probe(11, '10.9.1.123', 123), // NTP to a private host in a fan-out: an internal sweep, raised
];

/** The same fan-out over TCP toward a private x.x.x.255: a host of a /23 or larger, or a scan; raised. */
const TCP_TO_DOT_255 = oneFlowSequence(
  8,
  { src_ip: '10.9.0.5', dst_ip: '10.9.1.255' },
  { protocol: 6, src_port: 40000, dst_port: 445, fwd_bytes: 60 },
  { distinct_dsts: 30, distinct_dst_ports: 3, connections: 30 },
);

describe('inference: built-in suppression of local discovery (link-local groups, SSDP, broadcast)', () => {
  async function run(env: Record<string, string>) {
    const { stored, emitted } = await scoreThroughApp(env, [...SEQUENCES, TCP_TO_DOT_255]);
    const byDst = new Map(stored.map((f) => [f.dst_ip, f]));
    const status = (f: Finding | undefined) => (f ? [f.status, f.suppressed_by] : undefined);
    return {
      stored: SEQUENCES.map((s) => status(byDst.get(s.dst_ip))),
      tcp: status(byDst.get(TCP_TO_DOT_255.dst_ip)),
      scan: SEQUENCES.map((s) => byDst.get(s.dst_ip)?.explanation.subscores.scan),
      emitted: new Map(emitted.map((f) => [f.dst_ip, status(f)])),
    };
  }

  it('records alerts to a local group, a private subnet broadcast (UDP) or NetBIOS to any x.x.x.255 as suppressed by the rule, still stored and emitted; unicast, other groups, other public .255 and TCP stay new', async () => {
    const r = await run({});
    assert.deepEqual(
      r.scan,
      Array(SEQUENCES.length).fill(1),
      'every sequence is flagged by the scan sub-score',
    );
    const rule = ['suppressed', 'builtin:local-discovery'];
    const raised = ['new', null];
    const broadcast = ['suppressed', 'builtin:subnet-broadcast'];
    const netbios = ['suppressed', 'builtin:netbios-broadcast'];
    const clock = ['suppressed', 'builtin:clock-sync-retries'];
    assert.deepEqual(r.stored, [
      rule,
      rule,
      rule,
      rule,
      raised,
      raised,
      broadcast,
      raised,
      netbios,
      clock,
      raised,
    ]);
    assert.deepEqual(r.tcp, raised, 'TCP is never broadcast');
    assert.equal(r.emitted.size, SEQUENCES.length + 1, 'suppressed findings are emitted, not dropped');
    for (const s of SEQUENCES)
      assert.deepEqual(r.emitted.get(s.dst_ip), r.stored[SEQUENCES.indexOf(s)], s.dst_ip);
  });

  it('raises them all with TIDEWATCH_SUPPRESS_LOCAL_DISCOVERY=false', async () => {
    const r = await run({ TIDEWATCH_SUPPRESS_LOCAL_DISCOVERY: 'false' });
    assert.deepEqual(r.stored, Array(SEQUENCES.length).fill(['new', null]));
    assert.deepEqual(r.tcp, ['new', null]);
  });

  it('raises none of the scan-flagged sequences when TIDEWATCH_INFERENCE_FLAGS leaves scan out (sampled sFlow)', async () => {
    const r = await run({ TIDEWATCH_INFERENCE_FLAGS: 'beacon,brute_force,exfiltration,reflection' });
    assert.deepEqual(r.scan, Array(SEQUENCES.length).fill(1), 'the scan sub-score still explains them');
    assert.equal(r.emitted.size, 0, 'the model says benign and no sub-score may flag: nothing is emitted');
    assert.deepEqual(r.stored, Array(SEQUENCES.length).fill(['new', null]));
  });
});
