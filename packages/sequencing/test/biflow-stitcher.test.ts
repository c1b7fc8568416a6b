import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSequences, chooseInitiator, SEQUENCING_SPEC } from '../src/index.ts';
import { endpointBefore } from '../src/biflow-stitcher.ts';
import { flow, rng } from './helpers.ts';

const half = (over: Parameters<typeof flow>[0]) =>
  flow({ source_format: 'netflow9', bwd_bytes: 0, bwd_pkts: 0, ...over });
/** The two halves of one HTTP connection, 10.0.0.1:51000 -> 10.0.0.2:80, within the tolerance. */
const webRequest = (over: Parameters<typeof flow>[0] = {}) =>
  half({
    start_ms: 10_000,
    end_ms: 12_000,
    src_port: 51000,
    dst_port: 80,
    fwd_bytes: 300,
    fwd_pkts: 4,
    ...over,
  });
const webReply = (over: Parameters<typeof flow>[0] = {}) =>
  half({
    src_ip: '10.0.0.2',
    dst_ip: '10.0.0.1',
    src_port: 80,
    dst_port: 51000,
    start_ms: 11_200,
    end_ms: 12_500,
    fwd_bytes: 5000,
    fwd_pkts: 6,
    ...over,
  });

describe('BiflowStitcher (rule 1)', () => {
  it('merges a record with its reverse record within the tolerance; the earlier side initiates', () => {
    const request = webRequest({ tcp_flags: 0x02 });
    const reply = webReply({ tcp_flags: 0x10 });
    for (const input of [
      [request, reply],
      [reply, request],
    ]) {
      const seqs = buildSequences(input);
      assert.equal(seqs.length, 1);
      const s = seqs[0];
      assert.ok(s);
      assert.equal(s.src_ip, '10.0.0.1');
      assert.equal(s.dst_ip, '10.0.0.2');
      assert.deepEqual(s.flows, [
        {
          start_ms: 10_000,
          end_ms: 12_500,
          protocol: 6,
          src_port: 51000,
          dst_port: 80,
          fwd_bytes: 300,
          fwd_pkts: 4,
          bwd_bytes: 5000,
          bwd_pkts: 6,
          tcp_flags: 0x12,
          label: null,
          attack: null,
          origin: 'netflow9:192.0.2.1',
          sampling_rate: 1,
        },
      ]);
    }
  });

  it('a stitched pair carries the larger sampling_rate of its halves (a reply may be unsampled)', () => {
    const request = webRequest({ sampling_rate: 1_000 });
    const reply = webReply();
    for (const input of [
      [request, reply],
      [reply, request],
      [
        { ...request, sampling_rate: 1 },
        { ...reply, sampling_rate: 64 },
      ],
    ]) {
      const seqs = buildSequences(input);
      assert.equal(seqs.length, 1);
      const s = seqs[0];
      assert.equal(s?.src_ip, '10.0.0.1');
      assert.equal(s?.flows.length, 1);
      assert.equal(s?.flows[0]?.sampling_rate, Math.max(...input.map((r) => r.sampling_rate)));
    }
    assert.deepEqual(
      buildSequences([half({})]).map((s) => s.flows[0]?.sampling_rate),
      [1],
    );
  });

  it('the reply starting first still makes its sender the initiator when not in the same second', () => {
    const a = half({ start_ms: 20_500, src_port: 443, dst_port: 50000 });
    const b = half({
      src_ip: '10.0.0.2',
      dst_ip: '10.0.0.1',
      src_port: 50000,
      dst_port: 443,
      start_ms: 22_100,
    });
    const [s] = buildSequences([b, a]);
    assert.equal(s?.src_ip, '10.0.0.1');
    assert.equal(s?.flows[0]?.src_port, 443);
  });

  it('on a tie within one second, the side with the lower (well-known) port is the responder', () => {
    const server = half({
      src_ip: '10.0.0.9',
      dst_ip: '10.0.0.3',
      src_port: 22,
      dst_port: 60000,
      start_ms: 30_100,
      fwd_bytes: 900,
    });
    const client = half({
      src_ip: '10.0.0.3',
      dst_ip: '10.0.0.9',
      src_port: 60000,
      dst_port: 22,
      start_ms: 30_700,
      fwd_bytes: 50,
    });
    assert.deepEqual(chooseInitiator(server, client), [client, server]);
    const [s] = buildSequences([server, client]);
    assert.equal(s?.src_ip, '10.0.0.3');
    assert.equal(s?.dst_ip, '10.0.0.9');
    assert.equal(s?.flows[0]?.dst_port, 22);
    assert.equal(s?.flows[0]?.fwd_bytes, 50);
    assert.equal(s?.flows[0]?.bwd_bytes, 900);
    assert.equal(s?.flows[0]?.start_ms, 30_100);
  });

  it('on a tie, a TCP half that sent SYN and never ACK is the initiator, whatever its port', () => {
    // nmap -g 53: the probe leaves from port 53, the victim answers RST|ACK from 8080
    const probe = half({
      src_ip: '203.0.113.7',
      dst_ip: '10.0.0.5',
      src_port: 53,
      dst_port: 8080,
      start_ms: 40_100,
      tcp_flags: 0x02,
    });
    const answer = half({
      src_ip: '10.0.0.5',
      dst_ip: '203.0.113.7',
      src_port: 8080,
      dst_port: 53,
      start_ms: 40_100,
      tcp_flags: 0x14,
    });
    assert.deepEqual(chooseInitiator(answer, probe), [probe, answer]);
    assert.deepEqual(chooseInitiator(probe, answer), [probe, answer]);
    const [s] = buildSequences([answer, probe]);
    assert.equal(s?.src_ip, '203.0.113.7');
    assert.equal(s?.flows[0]?.dst_port, 8080);
    assert.equal(s?.flows[0]?.tcp_flags, 0x16);
    // completed handshakes (ACK on both sides) still go by the port rule
    const client = { ...probe, tcp_flags: 0x1b };
    const server = { ...answer, tcp_flags: 0x1b };
    assert.deepEqual(chooseInitiator(client, server), [server, client]);
  });

  it('an ICMP echo request and its reply are one exchange, initiated by the requester', () => {
    // NetFlow puts type << 8 | code in the destination port: 8 << 8 request, 0 reply
    const request = half({
      protocol: 1,
      src_ip: '192.168.1.109',
      dst_ip: '192.168.1.7',
      src_port: 0,
      dst_port: 8 << 8,
      start_ms: 50_400,
      fwd_bytes: 84,
      fwd_pkts: 1,
    });
    const reply = half({
      protocol: 1,
      src_ip: '192.168.1.7',
      dst_ip: '192.168.1.109',
      src_port: 0,
      dst_port: 0,
      start_ms: 50_399, // a reply stamped before its request (clock skew) is still the reply
      fwd_bytes: 84,
      fwd_pkts: 1,
    });
    const seqs = buildSequences([reply, request]);
    assert.equal(seqs.length, 1);
    const [s] = seqs;
    assert.deepEqual([s?.src_ip, s?.dst_ip], ['192.168.1.109', '192.168.1.7']);
    assert.deepEqual(
      [s?.flows[0]?.dst_port, s?.flows[0]?.fwd_pkts, s?.flows[0]?.bwd_pkts, s?.flows[0]?.start_ms],
      [8 << 8, 1, 1, 50_399],
    );
    // a destination-unreachable from the target is no reply to the request: it stays apart
    const unreachable = { ...reply, dst_port: (3 << 8) | 3 };
    assert.equal(buildSequences([request, unreachable]).length, 2);
  });

  it('halves further apart than the tolerance pass through alone', () => {
    const a = half({ start_ms: 0 });
    const b = half({
      src_ip: '10.0.0.2',
      dst_ip: '10.0.0.1',
      src_port: 443,
      dst_port: 40000,
      start_ms: SEQUENCING_SPEC.biflow_tolerance_ms + 1,
    });
    const seqs = buildSequences([a, b]);
    assert.deepEqual(
      seqs.map((s) => [s.src_ip, s.flows.length, s.flows[0]?.bwd_bytes]),
      [
        ['10.0.0.1', 1, 0],
        ['10.0.0.2', 1, 0],
      ],
    );
  });

  it('pairs repeated halves of one 5-tuple in start order, whatever the arrival order', () => {
    const out = (t: number) =>
      half({ start_ms: t, src_port: 123, dst_port: 123, protocol: 17, fwd_bytes: t });
    const back = (t: number) =>
      half({
        src_ip: '10.0.0.2',
        dst_ip: '10.0.0.1',
        start_ms: t,
        src_port: 123,
        dst_port: 123,
        protocol: 17,
        fwd_bytes: t,
      });
    const input = [out(1000), back(2500), out(4000), back(4100), out(60_000)];
    const expected = buildSequences(input);
    assert.deepEqual(
      expected.flatMap((s) => s.flows.map((f) => [s.src_ip, f.start_ms, f.fwd_bytes, f.bwd_bytes])),
      [
        ['10.0.0.1', 1000, 1000, 2500],
        ['10.0.0.1', 4000, 4000, 4100],
        ['10.0.0.1', 60_000, 60_000, 0],
      ],
    );
    assert.deepEqual(buildSequences([...input].reverse()), expected);
    assert.deepEqual(
      buildSequences([input[3], input[0], input[4], input[2], input[1]].filter((f) => f !== undefined)),
      expected,
    );
  });

  it('leaves bidirectional records (Zeek, CSV, IPFIX biflow) unchanged, src as initiator', () => {
    const zeek = flow({
      src_ip: '10.0.0.2',
      dst_ip: '10.0.0.1',
      src_port: 443,
      dst_port: 40000,
      start_ms: 5,
    });
    const biflowIpfix = flow({ source_format: 'ipfix', start_ms: 6 });
    const reverseZeek = flow({ start_ms: 7 });
    const seqs = buildSequences([zeek, biflowIpfix, reverseZeek]);
    assert.deepEqual(
      seqs.map((s) => [s.src_ip, s.flows.length]),
      [
        ['10.0.0.1', 2],
        ['10.0.0.2', 1],
      ],
    );
    assert.equal(seqs[0]?.flows[0]?.bwd_bytes, 200);
  });

  it('orders endpoints as their `ip#port` text sorts, without building it (prefixes, equal hosts, IPv6)', () => {
    const random = rng(5);
    const ips = [
      '10.0.0.1',
      '10.0.0.10',
      '10.0.0.100',
      '10.0.0.2',
      '2001:db8::1',
      '2001:db8::10',
      '::1',
      '',
      '10.0.0.1#8',
    ];
    const ports = [0, 1, 8, 80, 443, 8080, 9, 65535, 100];
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)] as T;
    for (let i = 0; i < 5000; i++) {
      const [ipA, ipB, portA, portB] = [pick(ips), pick(ips), pick(ports), pick(ports)];
      assert.equal(
        endpointBefore(ipA, portA, ipB, portB),
        `${ipA}#${portA}` < `${ipB}#${portB}`,
        `${ipA}#${portA} vs ${ipB}#${portB}`,
      );
    }
  });
});
