import type { FlowRecord } from '@tidewatch/contracts';
import {
  type ConversationFlow,
  flowOrigin,
  type InputPosition,
  icmpExchange,
  isIcmpQuery,
  passThrough,
  synWithoutAck,
} from './conversation-flow.ts';
import { sequenceDstPort } from './flow-columns.ts';
import { MinHeap } from './min-heap.ts';

interface PendingHalf {
  record: FlowRecord;
  position: InputPosition;
  /**
   * Which endpoint sent it: 0 for the endpoint whose `ip#port` text sorts first, 1 for the other
   * (0 for both when the two endpoints are the same). Halves of one connection have opposite sides.
   */
  side: 0 | 1;
  released: boolean;
}

/** The pending halves of one (protocol, endpoint pair), sorted. */
interface PendingGroup {
  halves: PendingHalf[];
  lowIp: string;
  highIp: string;
  key: number | string;
}

/**
 * Whether `${ipA}#${portA}` sorts before `${ipB}#${portB}` (the order the stitching rule was
 * specified with), mostly without building either string.
 */
export function endpointBefore(ipA: string, portA: number, ipB: string, portB: number): boolean {
  if (ipA === ipB) {
    if (portA === portB) return false;
    return String(portA) < String(portB);
  }
  const shorter = ipA.length < ipB.length ? ipA : ipB;
  const longer = shorter === ipA ? ipB : ipA;
  if (!longer.startsWith(shorter)) return ipA < ipB;
  return `${ipA}#${portA}` < `${ipB}#${portB}`;
}

/** A number for (protocol, low port, high port) when they fit in 40 bits, else text. */
function portsKey(protocol: number, lowPort: number, highPort: number): number | string {
  if (
    protocol >= 0 &&
    protocol < 256 &&
    lowPort >= 0 &&
    lowPort < 65536 &&
    highPort >= 0 &&
    highPort < 65536 &&
    Number.isInteger(protocol) &&
    Number.isInteger(lowPort) &&
    Number.isInteger(highPort)
  ) {
    return protocol * 2 ** 32 + lowPort * 65536 + highPort;
  }
  return `${protocol}|${lowPort}|${highPort}`;
}

/**
 * Merges the two unidirectional records of a connection into one biflow (rule 1).
 *
 * Halves of one (protocol, endpoint pair) are kept sorted; once the watermark passes a half's
 * start it is decided greedily in that order: it pairs with the earliest opposite-direction half
 * starting within the tolerance, or passes alone. Because the decision waits for the watermark
 * (not for the tolerance alone) and only looks forward in a sorted set, the result does not depend
 * on arrival order as long as input is out of order by at most allowed_lateness - tolerance, and it
 * equals the batch result. Groups are found by low address, high address, then a number for
 * (protocol, ports): no key text per record.
 */
export class BiflowStitcher {
  readonly #groups = new Map<string, Map<string, Map<number | string, PendingGroup>>>();
  readonly #byStart = new MinHeap<{ start: number; group: PendingGroup }>((a, b) => a.start < b.start);
  readonly #byOffset = new MinHeap<PendingHalf>((a, b) => a.position.offset < b.position.offset);
  #pending = 0;
  /** Groups with no pending half, kept for their 5-tuple's next record until a sweep. */
  #emptyGroups = 0;
  #groupCount = 0;

  constructor(private readonly toleranceMs: number) {}

  get pendingCount(): number {
    return this.#pending;
  }

  add(record: FlowRecord, position: InputPosition): void {
    const { src_ip: srcIp, dst_ip: dstIp } = record;
    // An ICMP query and its reply carry different types where NetFlow puts ports: they share the
    // query's type as their key, and only the addresses tell the sides apart.
    const exchange = icmpExchange(record);
    const srcPort = exchange < 0 ? record.src_port : 0;
    const dstPort = exchange < 0 ? sequenceDstPort(record) : 0;
    const srcFirst = endpointBefore(srcIp, srcPort, dstIp, dstPort);
    const same = !srcFirst && srcIp === dstIp && srcPort === dstPort;
    const lowIp = srcFirst || same ? srcIp : dstIp;
    const highIp = srcFirst || same ? dstIp : srcIp;
    const key =
      exchange < 0
        ? portsKey(record.protocol, srcFirst ? srcPort : dstPort, srcFirst ? dstPort : srcPort)
        : `${record.protocol}|icmp|${exchange}`;
    let byHigh = this.#groups.get(lowIp);
    if (!byHigh) {
      byHigh = new Map();
      this.#groups.set(lowIp, byHigh);
    }
    let byPorts = byHigh.get(highIp);
    if (!byPorts) {
      byPorts = new Map();
      byHigh.set(highIp, byPorts);
    }
    let group = byPorts.get(key);
    if (!group) {
      group = { halves: [], lowIp, highIp, key };
      byPorts.set(key, group);
      this.#groupCount++;
    } else if (group.halves.length === 0) {
      this.#emptyGroups--;
    }
    const half: PendingHalf = { record, position, side: srcFirst || same ? 0 : 1, released: false };
    const halves = group.halves;
    let lo = 0;
    let hi = halves.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareHalves(halves[mid] as PendingHalf, half) <= 0) lo = mid + 1;
      else hi = mid;
    }
    halves.splice(lo, 0, half);
    this.#byStart.push({ start: record.start_ms, group });
    this.#byOffset.push(half);
    this.#pending++;
  }

  /** Decides every half that starts before `watermark`. */
  release(watermark: number): ConversationFlow[] {
    const out: ConversationFlow[] = [];
    for (let top = this.#byStart.peek(); top && top.start < watermark; top = this.#byStart.peek()) {
      this.#byStart.pop();
      const group = top.group;
      if (group.halves.length === 0) continue;
      this.#decide(group.halves, watermark, out);
      const next = group.halves[0];
      if (next) this.#byStart.push({ start: next.record.start_ms, group });
      else this.#emptyGroups++;
    }
    if (this.#emptyGroups > 4096 && this.#emptyGroups > (2 * this.#groupCount) / 3) this.#sweep();
    return out;
  }

  releaseAll(): ConversationFlow[] {
    return this.release(Number.POSITIVE_INFINITY);
  }

  /** The earliest input position still held here (offsets behind it may be committed). */
  minPosition(): InputPosition | undefined {
    for (let top = this.#byOffset.peek(); top; top = this.#byOffset.peek()) {
      if (!top.released) return top.position;
      this.#byOffset.pop();
    }
    return undefined;
  }

  /** Latest start among pending halves (the idle flush seals their windows too). */
  maxPendingStart(): number {
    let max = Number.NEGATIVE_INFINITY;
    for (const byHigh of this.#groups.values())
      for (const byPorts of byHigh.values())
        for (const group of byPorts.values())
          for (const h of group.halves) max = Math.max(max, h.record.start_ms);
    return max;
  }

  /** Drops the groups that have no pending half (bounded memory across many 5-tuples). */
  #sweep(): void {
    for (const [lowIp, byHigh] of this.#groups) {
      for (const [highIp, byPorts] of byHigh) {
        for (const [key, group] of byPorts) if (group.halves.length === 0) byPorts.delete(key);
        if (byPorts.size === 0) byHigh.delete(highIp);
      }
      if (byHigh.size === 0) this.#groups.delete(lowIp);
    }
    this.#groupCount -= this.#emptyGroups;
    this.#emptyGroups = 0;
  }

  #decide(halves: PendingHalf[], watermark: number, out: ConversationFlow[]): void {
    while (halves.length > 0 && (halves[0] as PendingHalf).record.start_ms < watermark) {
      const first = halves.shift() as PendingHalf;
      first.released = true;
      this.#pending--;
      const limit = first.record.start_ms + this.toleranceMs;
      let partnerIndex = -1;
      for (let i = 0; i < halves.length; i++) {
        const candidate = halves[i] as PendingHalf;
        if (candidate.record.start_ms > limit) break;
        if (candidate.side !== first.side) {
          partnerIndex = i;
          break;
        }
      }
      if (partnerIndex < 0) {
        out.push(passThrough(first.record, first.position));
        continue;
      }
      const partner = halves.splice(partnerIndex, 1)[0] as PendingHalf;
      partner.released = true;
      this.#pending--;
      out.push(mergeHalves(first, partner));
    }
  }
}

/** Sorted order of halves within one endpoint pair: start first, then anything that tells them apart. */
function compareHalves(a: PendingHalf, b: PendingHalf): number {
  const x = a.record;
  const y = b.record;
  return (
    x.start_ms - y.start_ms ||
    a.side - b.side ||
    x.end_ms - y.end_ms ||
    x.fwd_bytes - y.fwd_bytes ||
    x.fwd_pkts - y.fwd_pkts ||
    x.tcp_flags - y.tcp_flags ||
    (x.label ?? -1) - (y.label ?? -1) ||
    compareText(x.attack ?? '', y.attack ?? '') ||
    compareText(flowOrigin(x), flowOrigin(y))
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The sender of an ICMP query (echo request and the like) initiated its exchange. Otherwise the
 * initiator is the half that started first. Starts in the same second are a tie (exporters
 * with 1 s resolution cannot order them, and some, softflowd among them, give both halves the
 * connection's start): then a TCP half that sent SYN and never ACK is the initiator of a handshake
 * that was answered but not completed (a scan or flood probe, whatever its source port), else the
 * side with the lower (well-known) port is the responder, and with equal ports the earlier half in
 * sorted order stays the initiator.
 */
export function chooseInitiator(
  a: FlowRecord,
  b: FlowRecord,
): [initiator: FlowRecord, responder: FlowRecord] {
  // An ICMP query's sender initiated its exchange, whatever the clocks say.
  if (icmpExchange(a) >= 0 && isIcmpQuery(a) !== isIcmpQuery(b)) return isIcmpQuery(a) ? [a, b] : [b, a];
  const tie = Math.floor(a.start_ms / 1000) === Math.floor(b.start_ms / 1000);
  if (!tie) return a.start_ms <= b.start_ms ? [a, b] : [b, a];
  if (a.protocol === 6) {
    const aProbe = synWithoutAck(a.tcp_flags);
    if (aProbe !== synWithoutAck(b.tcp_flags)) return aProbe ? [a, b] : [b, a];
  }
  if (a.src_port < b.src_port) return [b, a];
  if (b.src_port < a.src_port) return [a, b];
  return a.start_ms <= b.start_ms ? [a, b] : [b, a];
}

function mergeHalves(first: PendingHalf, second: PendingHalf): ConversationFlow {
  const [initiator, responder] = chooseInitiator(first.record, second.record);
  const a = initiator.label;
  const b = responder.label;
  const label =
    a === null || a === undefined ? (b ?? null) : b === null || b === undefined ? a : Math.max(a, b);
  const [early, late] =
    first.position.offset <= second.position.offset
      ? [first.position, second.position]
      : [second.position, first.position];
  return {
    src_ip: initiator.src_ip,
    dst_ip: initiator.dst_ip,
    flow: {
      start_ms: Math.min(initiator.start_ms, responder.start_ms),
      end_ms: Math.max(initiator.end_ms, responder.end_ms),
      protocol: initiator.protocol,
      src_port: initiator.src_port,
      dst_port: sequenceDstPort(initiator),
      fwd_bytes: initiator.fwd_bytes,
      fwd_pkts: initiator.fwd_pkts,
      bwd_bytes: responder.fwd_bytes,
      bwd_pkts: responder.fwd_pkts,
      tcp_flags: initiator.tcp_flags | responder.tcp_flags,
      label,
      attack: initiator.attack ?? responder.attack ?? null,
      origin: flowOrigin(initiator),
      sampling_rate: Math.max(initiator.sampling_rate, responder.sampling_rate),
    },
    first: early,
    lastOffset: late.offset,
    sources: [first.record, second.record],
  };
}
