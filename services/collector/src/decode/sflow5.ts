import type { FlowRecord } from '@tidewatch/contracts';
import { newFlowRecord, setExtra } from './flow-record.ts';
import {
  emptySampledHeader,
  parseEthernet,
  parseIPv4,
  parseIPv6,
  type SampledHeader,
} from './packet-header.ts';
import { recordGap, type SequenceTracker } from './sequence-tracker.ts';
import type { DecoderStats, DomainStats } from './stats.ts';
import { ipv4, ipv6, u32 } from './wire.ts';

const MAX_SAMPLES = 1024;
const MAX_RECORDS = 1024;

/**
 * sFlow v5 (sflow.org sflow_version_5.txt): flow samples (formats 1 and 3) become one FlowRecord
 * per sampled packet; counter samples (2 and 4) are counted.
 */
export class SflowDecoder {
  readonly #h: SampledHeader = emptySampledHeader();

  constructor(
    private readonly stats: DecoderStats,
    private readonly sequences: SequenceTracker,
    private readonly extras: boolean,
  ) {}

  decode(b: Buffer, exporter: string, receivedAtMs: number, out: FlowRecord[]): void {
    const end = b.length;
    if (end < 28) {
      this.#fail(exporter, 0, receivedAtMs, 'truncated_header');
      return;
    }
    const addrType = u32(b, 4);
    let o = 8;
    let agent: string;
    if (addrType === 1) {
      agent = ipv4(b, o);
      o += 4;
    } else if (addrType === 2) {
      if (end < 40) {
        this.#fail(exporter, 0, receivedAtMs, 'truncated_header');
        return;
      }
      agent = ipv6(b, o);
      o += 16;
    } else {
      this.#fail(exporter, 0, receivedAtMs, 'truncated_header');
      return;
    }
    const subAgent = u32(b, o);
    const seq = u32(b, o + 4);
    const uptime = u32(b, o + 8);
    const numSamples = u32(b, o + 12);
    o += 16;
    const st = this.stats.domain(exporter, subAgent, 'sflow5', receivedAtMs);
    st.datagrams++;
    recordGap(st, this.sequences.observe(`${exporter}|${agent}|${subAgent}|sflow`, seq, 1), 'datagrams');
    void uptime;
    const n = Math.min(numSamples, MAX_SAMPLES);
    for (let i = 0; i < n; i++) {
      if (end - o < 8) {
        this.stats.error(st, 'bad_sample');
        return;
      }
      const tag = u32(b, o);
      const len = u32(b, o + 4);
      const body = o + 8;
      if (len > end - body) {
        this.stats.error(st, 'bad_sample');
        return;
      }
      const enterprise = tag >>> 12;
      const format = tag & 0xfff;
      if (enterprise === 0) {
        if (format === 1 || format === 3)
          this.#flowSample(
            b,
            body,
            body + len,
            format === 3,
            exporter,
            subAgent,
            agent,
            receivedAtMs,
            st,
            out,
          );
        else if (format === 2 || format === 4) st.counterSamples++;
      }
      o = body + len;
    }
  }

  #fail(exporter: string, domain: number, now: number, reason: 'truncated_header'): void {
    const st = this.stats.domain(exporter, domain, 'sflow5', now);
    st.datagrams++;
    this.stats.error(st, reason);
  }

  #flowSample(
    b: Buffer,
    o: number,
    end: number,
    expanded: boolean,
    exporter: string,
    subAgent: number,
    agent: string,
    now: number,
    st: DomainStats,
    out: FlowRecord[],
  ): void {
    const fixed = expanded ? 44 : 32;
    if (end - o < fixed) {
      this.stats.error(st, 'bad_sample');
      return;
    }
    let rate: number;
    let input: number;
    let output: number;
    let numRecords: number;
    if (expanded) {
      rate = u32(b, o + 12);
      // interface format 0 = ifIndex; 1 = discarded, 2 = several interfaces
      input = u32(b, o + 24) === 0 ? u32(b, o + 28) : 0;
      output = u32(b, o + 32) === 0 ? u32(b, o + 36) : 0;
      numRecords = u32(b, o + 40);
    } else {
      rate = u32(b, o + 8);
      // format (2 bits) + value (30 bits); format 0 = ifIndex
      const inRaw = u32(b, o + 20);
      const outRaw = u32(b, o + 24);
      input = inRaw >>> 30 === 0 ? inRaw & 0x3fffffff : 0;
      output = outRaw >>> 30 === 0 ? outRaw & 0x3fffffff : 0;
      numRecords = u32(b, o + 28);
    }
    o += fixed;
    const r = newFlowRecord(exporter, subAgent, 'sflow5');
    r.start_ms = now;
    r.end_ms = now;
    r.fwd_pkts = 1;
    r.sampling_rate = rate > 0 ? rate : 1;
    // 0x3fffffff is the agent itself (a locally originated or terminated packet)
    r.in_if = input === 0x3fffffff ? 0 : input;
    r.out_if = output === 0x3fffffff ? 0 : output;
    let haveAddr = false;
    const n = Math.min(numRecords, MAX_RECORDS);
    const h = this.#h;
    for (let i = 0; i < n; i++) {
      if (end - o < 8) {
        this.stats.error(st, 'bad_sample');
        return;
      }
      const tag = u32(b, o);
      const len = u32(b, o + 4);
      const rb = o + 8;
      if (len > end - rb) {
        this.stats.error(st, 'bad_sample');
        return;
      }
      const re = rb + len;
      if (tag >>> 12 === 0) {
        switch (tag & 0xfff) {
          case 1: // sampled header
            if (len >= 16 && !haveAddr) {
              const headerProtocol = u32(b, rb);
              const frameLength = u32(b, rb + 4);
              const headerSize = u32(b, rb + 12);
              const hs = rb + 16;
              const he = Math.min(re, hs + headerSize);
              resetHeader(h);
              if (headerProtocol === 1) parseEthernet(b, hs, he, h);
              else if (headerProtocol === 11) parseIPv4(b, hs, he, h);
              else if (headerProtocol === 12) parseIPv6(b, hs, he, h);
              r.fwd_bytes = frameLength;
              if (h.found) {
                haveAddr = true;
                applyHeader(r, h);
                if (this.extras) setExtra(r, 'ipTotalLength', String(h.ipTotalLength));
              }
            }
            break;
          case 3: // sampled IPv4
            if (len >= 32 && !haveAddr) {
              r.fwd_bytes = u32(b, rb);
              r.protocol = u32(b, rb + 4);
              r.src_ip = ipv4(b, rb + 8);
              r.dst_ip = ipv4(b, rb + 12);
              r.src_port = u32(b, rb + 16);
              r.dst_port = u32(b, rb + 20);
              r.tcp_flags = u32(b, rb + 24);
              haveAddr = true;
            }
            break;
          case 4: // sampled IPv6
            if (len >= 56 && !haveAddr) {
              r.fwd_bytes = u32(b, rb);
              r.protocol = u32(b, rb + 4);
              r.src_ip = ipv6(b, rb + 8);
              r.dst_ip = ipv6(b, rb + 24);
              r.src_port = u32(b, rb + 40);
              r.dst_port = u32(b, rb + 44);
              r.tcp_flags = u32(b, rb + 48);
              haveAddr = true;
            }
            break;
          case 1001: // extended switch
            if (len >= 16) {
              const srcVlan = u32(b, rb);
              const dstVlan = u32(b, rb + 8);
              if (r.vlan == null && srcVlan > 0 && srcVlan < 4096) r.vlan = srcVlan;
              if (this.extras) {
                setExtra(r, 'vlanId', String(srcVlan));
                setExtra(r, 'postVlanId', String(dstVlan));
              }
            }
            break;
          case 1002: // extended router
            if (len >= 4 && this.extras) {
              const nh = readAddress(b, rb, re);
              if (nh !== undefined) {
                setExtra(r, 'ipNextHop', nh.addr);
                if (re - nh.next >= 8) {
                  setExtra(r, 'sourceIPPrefixLength', String(u32(b, nh.next)));
                  setExtra(r, 'destinationIPPrefixLength', String(u32(b, nh.next + 4)));
                }
              }
            }
            break;
          case 1003: // extended gateway
            this.#gateway(b, rb, re, r);
            break;
        }
      }
      o = re;
    }
    if (!haveAddr) {
      // a sample without any decodable packet information is not a flow
      this.stats.error(st, 'bad_sample');
      return;
    }
    if ((r.protocol === 1 || r.protocol === 58) && r.icmp_type == null) {
      r.icmp_type = 0;
      r.icmp_code = 0;
    }
    if (this.extras) setExtra(r, 'agentAddress', agent);
    out.push(r);
    st.records++;
    this.stats.records++;
  }

  #gateway(b: Buffer, o: number, end: number, r: FlowRecord): void {
    const nh = readAddress(b, o, end);
    if (nh === undefined) return;
    o = nh.next;
    if (end - o < 16) return;
    const routerAs = u32(b, o);
    const srcAs = u32(b, o + 4);
    const srcPeerAs = u32(b, o + 8);
    const segments = u32(b, o + 12);
    o += 16;
    let lastAs = -1;
    const path: number[] = [];
    for (let i = 0; i < segments && i < 64; i++) {
      if (end - o < 8) return;
      const count = u32(b, o + 4);
      o += 8;
      if (count > (end - o) / 4) return;
      for (let j = 0; j < count; j++) {
        lastAs = u32(b, o);
        if (path.length < 64) path.push(lastAs);
        o += 4;
      }
    }
    // src_as 0 means the source is in the router's own AS
    r.src_as = srcAs !== 0 ? srcAs : routerAs;
    r.dst_as = lastAs >= 0 ? lastAs : routerAs;
    if (this.extras) {
      setExtra(r, 'bgpNextHop', nh.addr);
      setExtra(r, 'bgpPrevAdjacentAsNumber', String(srcPeerAs));
      if (path.length > 0) setExtra(r, 'bgpAsPath', path.join(' '));
      if (end - o >= 4) {
        const nComm = u32(b, o);
        o += 4;
        const comms: string[] = [];
        for (let i = 0; i < nComm && end - o >= 4 && i < 64; i++, o += 4) {
          const c = u32(b, o);
          comms.push(`${c >>> 16}:${c & 0xffff}`);
        }
        if (comms.length > 0) setExtra(r, 'bgpCommunities', comms.join(' '));
      }
    }
  }
}

function readAddress(b: Buffer, o: number, end: number): { addr: string; next: number } | undefined {
  if (end - o < 4) return undefined;
  const type = u32(b, o);
  if (type === 1 && end - o >= 8) return { addr: ipv4(b, o + 4), next: o + 8 };
  if (type === 2 && end - o >= 20) return { addr: ipv6(b, o + 4), next: o + 20 };
  return undefined;
}

function resetHeader(h: SampledHeader): void {
  h.srcIp = '';
  h.dstIp = '';
  h.protocol = 0;
  h.srcPort = 0;
  h.dstPort = 0;
  h.tcpFlags = 0;
  h.vlan = -1;
  h.icmpType = -1;
  h.icmpCode = -1;
  h.ipTotalLength = 0;
  h.found = false;
}

function applyHeader(r: FlowRecord, h: SampledHeader): void {
  r.src_ip = h.srcIp;
  r.dst_ip = h.dstIp;
  r.protocol = h.protocol;
  r.src_port = h.srcPort;
  r.dst_port = h.dstPort;
  r.tcp_flags = h.tcpFlags;
  if (h.vlan >= 0) r.vlan = h.vlan;
  if (h.icmpType >= 0) {
    r.icmp_type = h.icmpType;
    r.icmp_code = h.icmpCode;
  }
}
