import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import {
  buildSequences,
  InMemoryEntityStats,
  notAConversationFlow,
  PartitionSequencer,
  SEQUENCING_SPEC,
  sequenceId,
  sequencingSpec,
} from '../src/index.ts';
import { flow, rng, stream } from './helpers.ts';

const spec = sequencingSpec();
const W = spec.window_ms;

/** Scanner k's one-way record of a SYN nothing answered, toward `server` port 445 unless told otherwise. */
function unansweredSyn(k: number, server: string, over: Partial<FlowRecord>): FlowRecord {
  return flow({
    src_ip: `192.0.2.${k + 1}`,
    dst_ip: server,
    src_port: 50_000 + k,
    dst_port: 445,
    start_ms: 1_000 + k,
    end_ms: 1_000 + k,
    fwd_bytes: 60,
    fwd_pkts: 1,
    bwd_bytes: 0,
    bwd_pkts: 0,
    tcp_flags: 2,
    ...over,
  });
}

describe('windows (rules 2-4)', () => {
  it('cuts a conversation-window into ordered parts of at most max_flows with ids per part', () => {
    const n = 2 * spec.max_flows + 2;
    const flows = Array.from({ length: n }, (_, i) => flow({ start_ms: W + (n - i) * 100, fwd_bytes: i }));
    const seqs = buildSequences(flows);
    assert.deepEqual(
      seqs.map((s) => [s.part, s.flows.length, s.window_start_ms, s.window_end_ms]),
      [
        [0, spec.max_flows, W, 2 * W],
        [1, spec.max_flows, W, 2 * W],
        [2, 2, W, 2 * W],
      ],
    );
    const starts = seqs.flatMap((s) => s.flows.map((f) => f.start_ms));
    assert.deepEqual(
      starts,
      [...starts].sort((a, b) => a - b),
    );
    assert.deepEqual(
      seqs.map((s) => s.sequence_id),
      [0, 1, 2].map((p) => sequenceId(SEQUENCING_SPEC.sequence_id_namespace, '10.0.0.1', '10.0.0.2', W, p)),
    );
  });

  it('orders equal starts by end, protocol, ports, bytes and packets', () => {
    const a = flow({ start_ms: 5, end_ms: 9, protocol: 17 });
    const b = flow({ start_ms: 5, end_ms: 9, protocol: 6, dst_port: 80 });
    const c = flow({ start_ms: 5, end_ms: 9, protocol: 6, dst_port: 22 });
    const d = flow({ start_ms: 5, end_ms: 8, protocol: 17 });
    const [s] = buildSequences([a, b, c, d]);
    assert.deepEqual(
      s?.flows.map((f) => [f.end_ms, f.protocol, f.dst_port]),
      [
        [8, 17, 443],
        [9, 6, 22],
        [9, 6, 80],
        [9, 17, 443],
      ],
    );
  });

  it("computes entity context per initiator and window across its conversations (rule 6), and the responder's distinct initiators", () => {
    const flows = [
      flow({ dst_ip: '10.0.0.2', dst_port: 22, start_ms: 1 }),
      flow({ dst_ip: '10.0.0.2', dst_port: 23, start_ms: 2 }),
      flow({ dst_ip: '10.0.0.3', dst_port: 22, start_ms: 3 }),
      flow({ dst_ip: '10.0.0.4', dst_port: 80, start_ms: W + 1 }),
      flow({ src_ip: '10.0.0.7', dst_ip: '10.0.0.2', start_ms: 4 }),
    ];
    const seqs = buildSequences(flows);
    const ctx = Object.fromEntries(
      seqs.map((s) => [`${s.src_ip}>${s.dst_ip}@${s.window_start_ms}`, s.context]),
    );
    const first = { distinct_dsts: 2, distinct_dst_ports: 2, connections: 3 };
    assert.deepEqual(ctx, {
      // 10.0.0.2 has two initiators in window 0 (10.0.0.1 and 10.0.0.7), 10.0.0.3 one.
      '10.0.0.1>10.0.0.2@0': { ...first, distinct_srcs: 2, distinct_probe_srcs: 0 },
      '10.0.0.1>10.0.0.3@0': { ...first, distinct_srcs: 1, distinct_probe_srcs: 0 },
      '10.0.0.7>10.0.0.2@0': {
        distinct_dsts: 1,
        distinct_dst_ports: 1,
        connections: 1,
        distinct_srcs: 2,
        distinct_probe_srcs: 0,
      },
      [`10.0.0.1>10.0.0.4@${W}`]: {
        distinct_dsts: 1,
        distinct_dst_ports: 1,
        connections: 1,
        distinct_srcs: 1,
        distinct_probe_srcs: 0,
      },
    });
  });

  it("shows a reflection flood as the victim's fan-in: each reflector initiates a one-flow sequence carrying distinct_srcs", () => {
    const victim = '203.0.113.9';
    // Unanswered UDP halves from port 161 (an exporter's one-way records), the same second.
    const flood = Array.from({ length: 50 }, (_, k) =>
      flow({
        source_format: 'netflow5',
        src_ip: `198.51.100.${k + 1}`,
        dst_ip: victim,
        protocol: 17,
        src_port: 161,
        dst_port: 40_000 + k,
        start_ms: 1_000 + k,
        end_ms: 1_000 + k,
        fwd_bytes: 1_400,
        fwd_pkts: 1,
        bwd_bytes: 0,
        bwd_pkts: 0,
      }),
    );
    const client = flow({ src_ip: '192.0.2.7', dst_ip: victim, start_ms: 2_000 });
    const seqs = buildSequences([...flood, client, flow({ src_ip: '192.0.2.7', start_ms: 3_000 })]);
    const toVictim = seqs.filter((s) => s.dst_ip === victim);
    assert.equal(toVictim.length, 51);
    assert.ok(toVictim.every((s) => s.context.distinct_srcs === 51 && s.flows.length === 1));
    // The reflectors' packets are reply-shaped (from 161 toward high ports): no probing initiator.
    assert.ok(toVictim.every((s) => s.context.distinct_probe_srcs === 0));
    assert.deepEqual(
      toVictim.filter((s) => s.flows[0]?.src_port === 161).map((s) => s.src_ip),
      flood.map((f) => f.src_ip).sort(),
    );
    // The client's other conversation: its own responder's fan-in, the client's own fan-out.
    const other = seqs.find((s) => s.dst_ip === '10.0.0.2');
    assert.deepEqual(other?.context, {
      distinct_dsts: 2,
      distinct_dst_ports: 1,
      connections: 2,
      distinct_srcs: 1,
      distinct_probe_srcs: 0,
    });
  });

  it("shows an inbound scan as the server's probing fan-in: each scanner's unanswered SYN a one-flow sequence carrying distinct_probe_srcs", () => {
    const server = '203.0.113.80';
    // One-way records of SYNs nothing answered, from 40 scanners toward commonly attacked ports.
    const syns = Array.from({ length: 40 }, (_, k) =>
      unansweredSyn(k, server, { source_format: 'netflow5', dst_port: [23, 445, 3389, 22][k % 4] as number }),
    );
    const client = flow({ src_ip: '10.0.0.9', dst_ip: server, start_ms: 2_000 });
    const seqs = buildSequences([...syns, client]);
    const toServer = seqs.filter((s) => s.dst_ip === server);
    assert.equal(toServer.length, 41);
    assert.deepEqual(
      toServer.map((s) => [s.context.distinct_srcs, s.context.distinct_probe_srcs]),
      toServer.map(() => [41, 40]),
    );
  });

  it('never counts a flow from sampled packets as a probe (sFlow, sampled NetFlow): its reply may just be unsampled', () => {
    const server = '203.0.113.80';
    // 40 unanswered-looking SYNs: even k from a 1-in-512 sFlow agent (the stitcher's path), k % 4
    // === 1 as sampled records of a bidirectional format (placed directly), the rest unsampled NetFlow v9.
    const syns = Array.from({ length: 40 }, (_, k) =>
      unansweredSyn(k, server, {
        source_format: k % 2 === 0 ? 'sflow5' : k % 4 === 1 ? 'tempo_csv' : 'netflow9',
        sampling_rate: k % 2 === 0 ? 512 : k % 4 === 1 ? 100 : 1,
      }),
    );
    const toServer = buildSequences(syns).filter((s) => s.dst_ip === server);
    assert.equal(toServer.length, 40);
    assert.deepEqual(
      toServer.map((s) => [s.context.distinct_srcs, s.context.distinct_probe_srcs]),
      toServer.map(() => [40, 10]),
      'only the 10 unsampled NetFlow v9 scanners count',
    );
  });

  it('closes a window when the watermark reaches its end and routes later flows for it as late', () => {
    const seq = new PartitionSequencer(spec);
    const stats = new InMemoryEntityStats();
    assert.equal(seq.push(flow({ start_ms: 1000 }), 0), 'accepted');
    assert.equal(seq.push(flow({ start_ms: W + spec.allowed_lateness_ms - 1 }), 1), 'accepted');
    stats.applySync([]);
    assert.equal(seq.seal().length, 0);
    assert.equal(seq.push(flow({ start_ms: W + spec.allowed_lateness_ms }), 2), 'accepted');
    const sealed = seq.seal();
    assert.deepEqual(
      sealed.map((w) => [w.window_start_ms, w.flowCount]),
      [[0, 1]],
    );
    assert.equal(seq.openWindows, 2);
    assert.equal(seq.takeEmittable().length, 1);
    assert.equal(seq.openWindows, 1);
    const late = flow({ start_ms: W - 1, fwd_bytes: 7 });
    assert.equal(seq.push(late, 3), 'late');
    assert.equal(seq.push(flow({ start_ms: W }), 4), 'accepted');
  });

  it('skips what is not a flow of a conversation (rule 0) without moving the watermark', () => {
    const none = { fwd_bytes: 0, fwd_pkts: 0, bwd_bytes: 0, bwd_pkts: 0, source_format: 'netflow9' } as const;
    const event = (extra: Record<string, string>, over: Partial<FlowRecord> = {}) =>
      flow({ ...none, start_ms: 10 * W, extra, ...over });
    const icmp6 = (type: number, over: Partial<FlowRecord> = {}) =>
      flow({
        protocol: 58,
        src_port: 0,
        dst_port: type * 256,
        fwd_pkts: 1,
        fwd_bytes: 72,
        bwd_pkts: 0,
        bwd_bytes: 0,
        ...over,
      });
    const cases: [FlowRecord, 'event' | 'link_control' | undefined][] = [
      [event({ natEvent: '1' }), 'event'],
      [event({ natEvent: '4' }), 'event'],
      [event({ natEvent: '3' }), 'event'], // addresses exhausted: a NAT box's state, not a flow either
      [event({ firewallEvent: '1' }), 'event'],
      [event({ ciscoAsaFwEvent: '5' }), 'event'],
      [event({ firewallEvent: '0' }), 'event'],
      [event({ firewallEvent: '3' }), undefined], // denied: an attempt nothing answered
      [event({ firewallEvent: '2' }), undefined], // deleted: the flow's final (empty) count
      [event({ firewallEvent: '4' }), undefined],
      [event({}), undefined], // a record with nothing counted and no event: a silent look
      [event({ natEvent: '4' }, { fwd_bytes: 60 }), undefined], // a NAT record that counted traffic
      [event({ firewallEvent: '1' }, { bwd_pkts: 1 }), undefined],
      [icmp6(135), 'link_control'], // neighbour solicitation, type in the port as NetFlow puts it
      [icmp6(0, { icmp_type: 136, dst_port: 0 }), 'link_control'], // advertisement, its own field
      [icmp6(0, { icmp_type: 143, dst_port: 0 }), 'link_control'], // MLDv2 report
      [icmp6(133, { fwd_pkts: 0, fwd_bytes: 0 }), 'link_control'],
      [icmp6(128), undefined], // echo request: a conversation
      [icmp6(1), undefined], // destination unreachable
      [icmp6(135, { protocol: 1 }), undefined], // ICMPv4 has no type 135 to mean this
      [flow({ protocol: 17, dst_port: 135 * 256 }), undefined],
    ];
    for (const [f, why] of cases)
      assert.equal(notAConversationFlow(f), why, `${f.protocol} ${f.dst_port} ${JSON.stringify(f.extra)}`);

    const seq = new PartitionSequencer(spec);
    assert.equal(seq.push(flow({ start_ms: 1_000 }), 0), 'accepted');
    assert.equal(seq.push(event({ natEvent: '4' }), 1), 'not_a_flow');
    assert.equal(seq.nextOffset, 2);
    assert.equal(seq.maxSeen, 1_000); // its time moved nothing: the window at 0 is still open
    // Re-read after a restart below the checkpoint's processedThrough, it was handled already.
    const restored = new PartitionSequencer(spec, {
      offset: 2,
      maxSeenAtOffset: 1_000,
      processedThrough: 5,
      emittedThrough: Number.NEGATIVE_INFINITY,
      bumps: [],
    });
    assert.equal(restored.push(event({ natEvent: '4' }), 3), 'replayed');
    assert.equal(restored.push(event({ natEvent: '4' }), 6), 'not_a_flow');
    assert.equal(restored.replayed, 1);
    assert.equal(seq.push(flow({ start_ms: 2_000 }), 2), 'accepted');
    assert.equal(seq.openWindows, 1);
    const seqs = buildSequences([
      flow({ start_ms: 1_000 }),
      event({ natEvent: '4' }, { start_ms: 1_500 }),
      event({ firewallEvent: '1' }, { start_ms: 1_600, src_ip: '10.0.0.9' }),
      icmp6(135, { start_ms: 1_700, dst_ip: 'ff02::1:ff00:2' }),
      icmp6(136, { start_ms: 1_701, src_ip: '10.0.0.2', dst_ip: '10.0.0.1', source_format: 'netflow9' }),
    ]);
    assert.deepEqual(
      seqs.map((s) => [s.src_ip, s.flows.length]),
      [['10.0.0.1', 1]],
    );
  });

  it("folds a firewall connection's updates and teardown into one flow, in any order (rule 0b)", () => {
    // Cisco ASA NSEL: every record carries the connection's creation time as start; updates (5)
    // count since the previous update, the teardown (2) counts everything.
    const created = 3 * W + 1_000;
    const nsel = (id: string, event: string, over: Partial<FlowRecord>) =>
      flow({
        source_format: 'netflow9',
        start_ms: created,
        end_ms: created,
        fwd_pkts: 0,
        bwd_pkts: 0,
        extra: { flowId: id, firewallEvent: event },
        ...over,
      });
    const records = [
      // connection 7: two timer updates, the update at teardown, then the totals
      nsel('7', '5', { end_ms: created + 60_000, fwd_bytes: 1_000, bwd_bytes: 20_000 }),
      nsel('7', '5', { end_ms: created + 120_000, fwd_bytes: 500, bwd_bytes: 9_000 }),
      nsel('7', '5', { end_ms: created + 130_000, fwd_bytes: 20, bwd_bytes: 40 }),
      nsel('7', '2', { end_ms: created + 130_000, fwd_bytes: 1_520, bwd_bytes: 29_040 }),
      // connection 8 (another client port): updates only so far
      nsel('8', '5', { src_port: 40_001, end_ms: created + 60_000, fwd_bytes: 300, bwd_bytes: 4_000 }),
      nsel('8', '5', { src_port: 40_001, end_ms: created + 120_000, fwd_bytes: 100, bwd_bytes: 1_000 }),
      // connection 9: a teardown alone (short-lived), nothing answered: not a half to stitch
      nsel('9', '2', {
        src_port: 40_002,
        dst_port: 8443,
        end_ms: created + 3_000,
        fwd_bytes: 180,
        bwd_bytes: 0,
      }),
      // the id again on other ports (a wrapped connection id): another connection
      nsel('7', '2', { src_port: 40_003, end_ms: created + 2_000, fwd_bytes: 60, bwd_bytes: 60 }),
      // another exporter's connection 7 is its own
      nsel('7', '2', { exporter: '192.0.2.9', end_ms: created + 2_000, fwd_bytes: 70, bwd_bytes: 70 }),
      // an exporter whose updates carry IPFIX total counters: each says how much so far
      nsel('5', '5', {
        src_port: 40_004,
        end_ms: created + 60_000,
        fwd_bytes: 100,
        bwd_bytes: 1_000,
        extra: { flowId: '5', firewallEvent: '5', octetTotalCount: '1100' },
      }),
      nsel('5', '5', {
        src_port: 40_004,
        end_ms: created + 120_000,
        fwd_bytes: 150,
        bwd_bytes: 1_500,
        extra: { flowId: '5', firewallEvent: '5', octetTotalCount: '1650' },
      }),
    ];
    const summary = (flows: FlowRecord[]) =>
      buildSequences(flows).flatMap((x) =>
        x.flows.map((f) => [f.origin, f.src_port, f.start_ms, f.end_ms, f.fwd_bytes, f.bwd_bytes]),
      );
    const expected = [
      ['netflow9:192.0.2.1', 40_000, created, created + 130_000, 1_520, 29_040],
      ['netflow9:192.0.2.1', 40_001, created, created + 120_000, 400, 5_000],
      ['netflow9:192.0.2.1', 40_002, created, created + 3_000, 180, 0],
      ['netflow9:192.0.2.1', 40_003, created, created + 2_000, 60, 60],
      ['netflow9:192.0.2.1', 40_004, created, created + 120_000, 150, 1_500],
      ['netflow9:192.0.2.9', 40_000, created, created + 2_000, 70, 70],
    ];
    const byEnd = (rows: unknown[][]) =>
      [...rows].sort(
        (a, b) => String(a[0]).localeCompare(String(b[0])) || (a[1] as number) - (b[1] as number),
      );
    assert.deepEqual(byEnd(summary(records)), expected);
    assert.deepEqual(byEnd(summary([...records].reverse())), expected);
    const shuffled = [...records];
    const random = rng(11);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as FlowRecord, shuffled[i] as FlowRecord];
    }
    assert.deepEqual(byEnd(summary(shuffled)), expected);
    // Every record is accounted for: six got a row, five were folded into one.
    const { outcomes } = stream(records, spec);
    assert.deepEqual([outcomes['accepted'], outcomes['merged']], [6, 5]);
    // Without a connection id nothing can be matched: each record is a flow of its own.
    const anonymous = records.map((r) => ({
      ...r,
      extra: { firewallEvent: r.extra?.['firewallEvent'] ?? '' },
    }));
    assert.equal(summary(anonymous).length, records.length);
  });

  it('rule 0b on random firewall exports: every connection once, its teardown or its updates, in any order', () => {
    const random = rng(2026);
    for (let trial = 0; trial < 20; trial++) {
      const records: FlowRecord[] = [];
      /** Per connection: what it must count (the teardown's totals, else its updates summed). */
      const want = new Map<string, [number, number, number]>();
      const connections = 1 + Math.floor(random() * 30);
      for (let c = 0; c < connections; c++) {
        const created = 7 * W + Math.floor(random() * (W - 1_000));
        const srcPort = 30_000 + c;
        const updates = Math.floor(random() * 4);
        const teardown = random() < 0.7;
        let fwd = 0;
        let bwd = 0;
        let end = created;
        const base = {
          source_format: 'netflow9' as const,
          src_port: srcPort,
          start_ms: created,
          fwd_pkts: 0,
          bwd_pkts: 0,
        };
        for (let u = 0; u < updates; u++) {
          const delta = [1 + Math.floor(random() * 5_000), Math.floor(random() * 50_000)] as const;
          fwd += delta[0];
          bwd += delta[1];
          end += 1 + Math.floor(random() * 60_000);
          records.push(
            flow({
              ...base,
              end_ms: end,
              fwd_bytes: delta[0],
              bwd_bytes: delta[1],
              extra: { flowId: String(c), firewallEvent: '5' },
            }),
          );
        }
        if (teardown) {
          end += Math.floor(random() * 1_000);
          // the totals include traffic after the last update
          fwd += Math.floor(random() * 100);
          records.push(
            flow({
              ...base,
              end_ms: end,
              fwd_bytes: fwd,
              bwd_bytes: bwd,
              extra: { flowId: String(c), firewallEvent: '2' },
            }),
          );
        }
        if (updates > 0 || teardown) want.set(String(srcPort), [end, fwd, bwd]);
      }
      for (let i = records.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [records[i], records[j]] = [records[j] as FlowRecord, records[i] as FlowRecord];
      }
      const got = new Map<string, [number, number, number]>();
      for (const x of buildSequences(records))
        for (const f of x.flows) {
          assert.ok(!got.has(String(f.src_port)), `connection ${f.src_port} twice`);
          got.set(String(f.src_port), [f.end_ms, f.fwd_bytes, f.bwd_bytes]);
        }
      assert.deepEqual(got, want, `trial ${trial}`);
    }
  });

  it("an ICMP record's own type and code fields read as NetFlow's destination port, from every exporter", () => {
    // The same traffic as four exporters send it: a host pinged (echo request 8 and reply 0 as
    // two one-way records) and a router's port unreachable (type 3, code 3) back to it.
    const icmp = (format: FlowRecord['source_format'], over: Partial<FlowRecord>) =>
      flow({
        source_format: format,
        protocol: 1,
        src_port: 0,
        dst_port: 0,
        fwd_pkts: 1,
        fwd_bytes: 84,
        bwd_pkts: 0,
        bwd_bytes: 0,
        ...over,
      });
    const ping = { start_ms: 1_000, end_ms: 1_000, src_ip: '10.0.0.1', dst_ip: '10.0.0.2' };
    const pong = { start_ms: 1_001, end_ms: 1_001, src_ip: '10.0.0.2', dst_ip: '10.0.0.1' };
    const error = { start_ms: 2_000, end_ms: 2_000, src_ip: '10.0.0.254', dst_ip: '10.0.0.1', fwd_bytes: 56 };
    const ports = (records: FlowRecord[]) =>
      buildSequences(records).map((s) => [
        s.src_ip,
        s.dst_ip,
        s.flows.map((f) => [f.src_port, f.dst_port, f.bwd_pkts]),
      ]);
    const want = [
      ['10.0.0.1', '10.0.0.2', [[0, 8 * 256, 1]]], // one exchange, its query's type
      ['10.0.0.254', '10.0.0.1', [[0, 3 * 256 + 3, 0]]],
    ];
    // NetFlow v9: type and code in the destination port (and in flows.v1's icmp_type as the collector fills it).
    const netflow = [
      icmp('netflow9', { ...ping, dst_port: 8 * 256, icmp_type: 8, icmp_code: 0 }),
      icmp('netflow9', { ...pong, dst_port: 0, icmp_type: 0, icmp_code: 0 }),
      icmp('netflow9', { ...error, dst_port: 3 * 256 + 3, icmp_type: 3, icmp_code: 3 }),
    ];
    assert.deepEqual(ports(netflow), want);
    // sFlow (the sampled header's ICMP fields) and IPFIX with icmpTypeIPv4 / icmpCodeIPv4: ports 0.
    for (const format of ['sflow5', 'ipfix'] as const) {
      const own = [
        icmp(format, { ...ping, icmp_type: 8, icmp_code: 0 }),
        icmp(format, { ...pong, icmp_type: 0, icmp_code: 0 }),
        icmp(format, { ...error, icmp_type: 3, icmp_code: 3 }),
      ];
      assert.deepEqual(ports(own), want, format);
    }
    // Cisco ASA NSEL (ls-nf9-cisco-asa-1): the ICMP identifier in a port, the type in NF_F_ICMP_TYPE;
    // without ICMP inspection each direction is a firewall connection of its own, stitched into
    // the one exchange; a lone request stays a request.
    const asa = (id: string, over: Partial<FlowRecord>) =>
      icmp('netflow9', { fwd_bytes: 56, extra: { flowId: id, firewallEvent: '2' }, ...over });
    const asaPing = asa('8501', { ...ping, src_port: 17_549, dst_port: 0, icmp_type: 8, icmp_code: 0 });
    assert.deepEqual(
      ports([asaPing, asa('8502', { ...pong, src_port: 0, dst_port: 17_549, icmp_type: 0, icmp_code: 0 })]),
      [['10.0.0.1', '10.0.0.2', [[17_549, 8 * 256, 1]]]],
    );
    assert.deepEqual(ports([asaPing]), [['10.0.0.1', '10.0.0.2', [[17_549, 8 * 256, 0]]]]);
    // Zeek's conn.log keeps the type as the originator's port and the code as the responder's: as it was.
    assert.deepEqual(
      ports([icmp('zeek_conn', { ...error, src_port: 3, dst_port: 3, icmp_type: 3, icmp_code: 3 })]),
      [['10.0.0.254', '10.0.0.1', [[3, 3, 0]]]],
    );
    // Without a type there is nothing to place, and TCP / UDP ports are never touched.
    assert.deepEqual(ports([icmp('sflow5', error)]), [['10.0.0.254', '10.0.0.1', [[0, 0, 0]]]]);
    assert.deepEqual(ports([icmp('sflow5', { ...error, protocol: 17, icmp_type: 3 })]), [
      ['10.0.0.254', '10.0.0.1', [[0, 0, 0]]],
    ]);
  });

  it('routes a stitched biflow whose window was already emitted as its two original halves', () => {
    const seq = new PartitionSequencer(spec);
    const a = flow({ source_format: 'netflow5', bwd_bytes: 0, bwd_pkts: 0, start_ms: 2 * W - 1 });
    assert.equal(seq.push(a, 0), 'accepted');
    assert.equal(seq.pendingHalves, 1);
    // A late half (its own window long closed) is late on arrival.
    seq.push(flow({ start_ms: 10 * W }), 1);
    seq.seal();
    assert.equal(seq.pendingHalves, 0);
    const b = flow({
      source_format: 'netflow5',
      src_ip: '10.0.0.2',
      dst_ip: '10.0.0.1',
      start_ms: 2 * W - 2,
      bwd_bytes: 0,
      bwd_pkts: 0,
    });
    assert.equal(seq.push(b, 2), 'late');
  });

  it('keeps every flow exactly once and gives the batch result for input shuffled within the lateness bound', () => {
    const random = rng(42);
    const hosts = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '192.168.5.5', '172.16.0.9'];
    const base: FlowRecord[] = [];
    for (let i = 0; i < 3000; i++) {
      const t = Math.floor(i * 700 + random() * 500);
      const src = hosts[Math.floor(random() * hosts.length)] as string;
      let dst = hosts[Math.floor(random() * hosts.length)] as string;
      if (dst === src) dst = '8.8.8.8';
      const sport = 30000 + Math.floor(random() * 5);
      const dport = [22, 53, 80, 443][Math.floor(random() * 4)] as number;
      if (random() < 0.5) {
        base.push(
          flow({
            src_ip: src,
            dst_ip: dst,
            src_port: sport,
            dst_port: dport,
            start_ms: t,
            end_ms: t + 50,
            fwd_bytes: i,
          }),
        );
      } else {
        const fmt = 'netflow9' as const;
        base.push(
          flow({
            source_format: fmt,
            src_ip: src,
            dst_ip: dst,
            src_port: sport,
            dst_port: dport,
            start_ms: t,
            end_ms: t + 40,
            fwd_bytes: i,
            bwd_bytes: 0,
            bwd_pkts: 0,
          }),
        );
        if (random() < 0.8) {
          const rt = t + Math.floor(random() * 1500);
          base.push(
            flow({
              source_format: fmt,
              src_ip: dst,
              dst_ip: src,
              src_port: dport,
              dst_port: sport,
              start_ms: rt,
              end_ms: rt + 30,
              fwd_bytes: i + 1e6,
              bwd_bytes: 0,
              bwd_pkts: 0,
            }),
          );
        }
      }
    }
    const expected = buildSequences(base);
    const bound = spec.allowed_lateness_ms - spec.biflow_tolerance_ms;
    for (const seed of [1, 2, 3]) {
      const r = rng(seed);
      const shuffled = base
        .map((f) => ({ f, k: f.start_ms + r() * bound }))
        .sort((a, b) => a.k - b.k)
        .map((x) => x.f);
      assert.notDeepEqual(shuffled, base);
      const got = stream(shuffled, spec, { batch: 1 + Math.floor(r() * 50) });
      assert.equal(got.late.length, 0);
      assert.deepEqual(got.sequences, expected);
    }
    const flowsOut = expected.reduce((n, s) => n + s.flows.length, 0);
    const bytesIn = base.reduce((n, f) => n + f.fwd_bytes + f.bwd_bytes, 0);
    const bytesOut = expected.reduce(
      (n, s) => n + s.flows.reduce((m, f) => m + f.fwd_bytes + f.bwd_bytes, 0),
      0,
    );
    assert.ok(flowsOut < base.length, 'some halves were stitched');
    assert.equal(bytesOut, bytesIn);
  });

  it('replays from a checkpoint after a crash to the same output, without re-emitting or re-routing', () => {
    const random = rng(7);
    const flows: FlowRecord[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = i * 900 + Math.floor(random() * 20_000);
      flows.push(
        flow({
          src_ip: `10.2.0.${i % 7}`,
          dst_ip: `10.3.0.${i % 5}`,
          start_ms: t,
          end_ms: t + 10,
          fwd_bytes: i,
        }),
      );
      if (i % 97 === 0)
        flows.push(flow({ src_ip: '10.9.9.9', start_ms: Math.max(0, t - 200_000), fwd_bytes: -i }));
      if (i % 50 === 0)
        // NAT event records (rule 0), some far ahead in time: they must not move the watermark
        flows.push(
          flow({
            src_ip: '10.2.0.1',
            start_ms: t + (i % 100 === 0 ? 3_600_000 : 0),
            fwd_bytes: 0,
            fwd_pkts: 0,
            bwd_bytes: 0,
            bwd_pkts: 0,
            extra: { natEvent: '4' },
          }),
        );
    }
    const whole = stream(flows, spec, { batch: 13 });
    assert.deepEqual(
      whole.sequences,
      stream(
        flows.filter((f) => f.extra?.['natEvent'] === undefined),
        spec,
        { batch: 13 },
      ).sequences,
    );
    assert.ok(whole.late.length > 0, 'the input has late flows');
    for (const cut of [300, 1111, 1700]) {
      const stats = new InMemoryEntityStats();
      const first = stream(flows, spec, { batch: 13, stats, stopAfter: cut });
      const ckpt = JSON.parse(JSON.stringify(first.sequencer.checkpoint()));
      assert.ok(ckpt.offset <= cut);
      // The crash lost everything after the checkpoint except what was already emitted / routed late.
      const restored = new PartitionSequencer(spec, ckpt);
      const second = stream(flows, spec, { batch: 5, stats, sequencer: restored, fromOffset: ckpt.offset });
      const byId = new Map([...first.sequences, ...second.sequences].map((s) => [s.sequence_id, s]));
      assert.deepEqual(
        [...byId.values()].sort((a, b) => (a.sequence_id < b.sequence_id ? -1 : 1)),
        [...whole.sequences].sort((a, b) => (a.sequence_id < b.sequence_id ? -1 : 1)),
      );
      assert.equal(first.late.length + second.late.length, whole.late.length);
      const firstIds = new Set(first.sequences.map((s) => s.sequence_id));
      assert.ok(
        second.sequences.every((s) => !firstIds.has(s.sequence_id)),
        'emitted windows are not emitted again',
      );
    }
  });
});
