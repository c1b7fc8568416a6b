import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { buildSequences, orientBiflow } from '../src/index.ts';

/** softflowd -b's record of an HTTPS connection: the server's side first (endpoints by address). */
const serverFirst: FlowRecord = {
  exporter: '127.0.0.1',
  observation_domain: 0,
  source_format: 'ipfix',
  start_ms: 1_707_405_399_842,
  end_ms: 1_707_405_400_013,
  protocol: 6,
  src_ip: '141.193.213.21',
  dst_ip: '147.32.80.37',
  src_port: 443,
  dst_port: 39210,
  fwd_bytes: 4483,
  fwd_pkts: 11,
  bwd_bytes: 1577,
  bwd_pkts: 14,
  tcp_flags: 0x12,
  sampling_rate: 1,
  in_if: 3,
  out_if: 7,
  extra: { reverseTcpControlBits: '11' },
};

describe('orientBiflow: an IPFIX biflow as its initiator sent it', () => {
  it('turns a well-known-port source round: endpoints, ports, counters, interfaces; flags of both sides', () => {
    assert.deepEqual(orientBiflow(serverFirst), {
      ...serverFirst,
      src_ip: '147.32.80.37',
      dst_ip: '141.193.213.21',
      src_port: 39210,
      dst_port: 443,
      fwd_bytes: 1577,
      fwd_pkts: 14,
      bwd_bytes: 4483,
      bwd_pkts: 11,
      tcp_flags: 0x12 | 11,
      in_if: 7,
      out_if: 3,
      src_as: null,
      dst_as: null,
      extra: { biflowDirection: '1' },
    });
  });

  it('orients once: the result is left as it is', () => {
    const clientFirst = orientBiflow(serverFirst);
    assert.equal(orientBiflow(clientFirst), clientFirst, 'nothing left to change: the same object');
  });

  it('follows biflowDirection over the flags and ports', () => {
    // 1: the source is the initiator, whatever the flags and ports say
    const initiator = { ...serverFirst, extra: { biflowDirection: '1' } };
    assert.equal(orientBiflow(initiator), initiator);
    // 2: the destination is the initiator
    const client = orientBiflow(serverFirst);
    const reverse = orientBiflow({ ...client, extra: { biflowDirection: '2' } });
    assert.deepEqual([reverse.src_ip, reverse.src_port, reverse.fwd_bytes], ['141.193.213.21', 443, 4483]);
  });

  it('a side that sent SYN and never ACK initiated, whatever its ports (a probe from a spoofed port 53)', () => {
    const victimFirst: FlowRecord = {
      ...serverFirst,
      src_ip: '10.10.10.10',
      dst_ip: '203.0.113.7',
      src_port: 8080,
      dst_port: 53,
      tcp_flags: 0x14, // RST|ACK
      extra: { reverseTcpControlBits: '2' }, // SYN
    };
    const probe = orientBiflow(victimFirst);
    assert.deepEqual(
      [probe.src_ip, probe.src_port, probe.dst_port, probe.tcp_flags],
      ['203.0.113.7', 53, 8080, 0x16],
    );
    // the same from the scanner's side stays
    const scannerFirst = { ...victimFirst, ...probe, extra: { reverseTcpControlBits: '20' } };
    assert.equal(orientBiflow({ ...scannerFirst, tcp_flags: 2 }).src_ip, '203.0.113.7');
  });

  it('a source that sent nothing did not initiate; a well-known source port to a higher one is the reply', () => {
    const silent = orientBiflow({
      ...serverFirst,
      protocol: 17,
      src_port: 60366,
      dst_port: 11694,
      fwd_bytes: 0,
      fwd_pkts: 0,
      bwd_bytes: 46,
      bwd_pkts: 1,
      tcp_flags: 0,
      extra: {},
    });
    assert.deepEqual(
      [silent.src_ip, silent.src_port, silent.fwd_pkts, silent.bwd_pkts],
      ['147.32.80.37', 11694, 1, 0],
    );
    const echo = orientBiflow({
      ...serverFirst,
      protocol: 1,
      src_port: 0,
      dst_port: 0,
      tcp_flags: 0,
      extra: {},
    });
    assert.equal(echo.src_ip, '147.32.80.37', 'the source sent the echo replies: the destination pinged');
    const dhcp = orientBiflow({
      ...serverFirst,
      protocol: 17,
      src_port: 67,
      dst_port: 68,
      tcp_flags: 0,
      extra: {},
    });
    assert.deepEqual([dhcp.src_port, dhcp.dst_port], [68, 67]);
  });

  it('leaves alone what the port rule cannot tell or the format already orients', () => {
    const cases: FlowRecord[] = [
      { ...serverFirst, protocol: 1, src_port: 0, dst_port: 2048, extra: {} }, // ICMP: type/code, not ports
      { ...serverFirst, src_port: 53, dst_port: 22, extra: {} }, // the lower port is the destination
      { ...serverFirst, protocol: 17, src_port: 123, dst_port: 123, extra: {} }, // equal ports
      { ...serverFirst, src_port: 50000, dst_port: 8080, extra: {} }, // neither
      { ...serverFirst, source_format: 'netflow9', extra: {} }, // NSEL: initiator/responder counters
      { ...serverFirst, source_format: 'zeek_conn', extra: {} }, // orig is the initiator
      { ...serverFirst, bwd_bytes: 0, bwd_pkts: 0, extra: {} }, // one direction: stitching's job
    ];
    for (const flow of cases) assert.equal(orientBiflow(flow), flow, JSON.stringify(flow));
  });

  it('a server-first biflow makes the same sequence as the client-first one', () => {
    const a = buildSequences([serverFirst]);
    const b = buildSequences([orientBiflow(serverFirst)]);
    assert.equal(a.length, 1);
    assert.deepEqual(a, b);
    assert.equal(a[0]?.src_ip, '147.32.80.37', 'the client is the initiator');
  });
});
