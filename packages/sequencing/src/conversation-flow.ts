import type { FlowRecord, SequenceFlow } from '@tidewatch/contracts';
import { sequenceDstPort, type WindowFlowFields } from './flow-columns.ts';

/** Where a flow entered the sequencer: its input offset and the partition's max event time before it. */
export interface InputPosition {
  offset: number;
  maxSeenBefore: number;
}

/** A flow oriented initiator → responder, after stitching, ready for a window. */
export interface ConversationFlow {
  src_ip: string;
  dst_ip: string;
  flow: SequenceFlow;
  /** The earliest and latest input positions of the records it was built from (two for a biflow). */
  first: InputPosition;
  lastOffset: number;
  /** The input records it was built from (a late biflow is routed as its original halves). */
  sources: FlowRecord[];
}

/**
 * Formats that export one direction per record, so two records make one connection (rule 1): the
 * wire protocols, the cloud flow logs (AWS and GCP log each direction of a connection as its own
 * record) and nfdump's CSV of them. A record of these with something counted back is already a
 * biflow (IPFIX RFC 5103, NSEL in nfdump) and is not stitched (isStitchable).
 */
export const UNIDIRECTIONAL_FORMATS: ReadonlySet<string> = new Set([
  'netflow5',
  'netflow9',
  'ipfix',
  'sflow5',
  'aws_vpc',
  'gcp_vpc',
  'nfdump_csv',
]);

export function isStitchable(flow: FlowRecord): boolean {
  return (
    flow.bwd_pkts === 0 &&
    flow.bwd_bytes === 0 &&
    UNIDIRECTIONAL_FORMATS.has(flow.source_format) &&
    (firewallEvent(flow) === undefined || flow.protocol === 1 || flow.protocol === 58)
  );
}

/** The NSEL firewall event a record reports (IANA firewallEvent 233, Cisco's older id 40005), if any. */
function firewallEvent(flow: FlowRecord): string | undefined {
  const extra = flow.extra;
  if (!extra) return undefined;
  return extra['firewallEvent'] ?? extra['ciscoAsaFwEvent'] ?? undefined;
}

/**
 * How a record counts toward its firewall connection (NSEL, rule 0b), when it is one the exporter
 * reports in several records: `total` a teardown (event 2: everything the connection carried since
 * it was created), `delta` an update (event 5: what it carried since the previous update). A
 * firewall record is a connection, its source the initiator, so it is not stitched (isStitchable)
 * whatever it counted back, except ICMP: without ICMP inspection (the ASA's default) an echo request
 * and its reply pass as two connections of their own, each counted one way, and stitching makes
 * them the one exchange they are (such one-way ICMP records are not folded by connection id).
 * Cisco ASA sends, with flow updates on, timer updates through a long connection, an "update at
 * teardown" for its last interval and then the teardown's totals; some versions send the update
 * at teardown for short connections too (the ls-nf9-cisco-asa-2 sample: every teardown follows an
 * update with the same counts). Read as flows those count the connection twice (nfdump issue #116).
 * Every record of a connection carries its creation time (NF_F_FLOW_CREATE_TIME_MSEC) as start, so
 * they meet in one window, where the window store folds them into one flow by the connection id
 * (IE 148): a teardown's totals stand, updates without one add up (an update with total counters
 * counts as a total: the latest stands).
 */
export function firewallConnectionCount(flow: FlowRecord): 'total' | 'delta' | undefined {
  const event = firewallEvent(flow);
  if (event !== '2' && event !== '5') return undefined;
  const extra = flow.extra;
  if (extra?.['flowId'] == null) return undefined;
  if (event === '2') return 'total';
  // An update that counts with IPFIX's total counters (octetTotalCount / packetTotalCount, kept in
  // extra by the collector) says how much so far, not since the previous update.
  return extra['octetTotalCount'] != null || extra['packetTotalCount'] != null ? 'total' : 'delta';
}

/**
 * NSEL firewall events (IANA firewallEvent 233, Cisco's older id 40005) that report a flow's state
 * rather than its traffic: 0 ignore, 1 flow created, 5 flow update. Denied (3) is an attempt that got
 * nothing back and deleted (2) is a flow's final count, so both stay flows.
 */
const STATE_ONLY_FIREWALL_EVENTS: ReadonlySet<string> = new Set(['0', '1', '5']);

/**
 * ICMPv6 messages that never leave their link (RFC 4861 neighbour and router discovery and redirect,
 * MLD 1 and 2, inverse ND, SEND, multicast router discovery): IPv6's ARP, which IPv4's flows never
 * show because ARP is not IP.
 */
const LINK_CONTROL_ICMP6_TYPES: ReadonlySet<number> = new Set([
  130, 131, 132, 133, 134, 135, 136, 137, 141, 142, 143, 148, 149, 151, 152, 153,
]);

/**
 * Rule 0: why a record is not a flow of any conversation (undefined when it is one). The sequencer
 * counts and skips such records (outcome 'not_a_flow'); flows.v1 keeps them as the exporter sent them.
 *  - `event`: an exporter's event record that counted no traffic in either direction: NAT event
 *    logging (RFC 8158 `natEvent`: a translation created or deleted, a pool exhausted) and an NSEL
 *    flow-created / flow-update event with nothing counted yet (the teardown carries the counts).
 *    Read as flows they are unanswered looks: a NAT gateway's log read as every client scanning.
 *  - `link_control`: an ICMPv6 link control message (LINK_CONTROL_ICMP6_TYPES). A router's
 *    neighbour solicitations go to solicited-node groups and the advertisements come back from
 *    each neighbour as records of their own, so read as flows every neighbour probed the router.
 */
export function notAConversationFlow(flow: FlowRecord): 'event' | 'link_control' | undefined {
  if (flow.protocol === 58 && LINK_CONTROL_ICMP6_TYPES.has(icmpType(flow))) return 'link_control';
  if (flow.fwd_pkts !== 0 || flow.fwd_bytes !== 0 || flow.bwd_pkts !== 0 || flow.bwd_bytes !== 0)
    return undefined;
  const extra = flow.extra;
  if (!extra) return undefined;
  if (extra['natEvent'] != null) return 'event';
  const fw = firewallEvent(flow);
  return fw !== undefined && STATE_ONLY_FIREWALL_EVENTS.has(fw) ? 'event' : undefined;
}

/** The last `format:exporter` built: consecutive flows mostly share it (one string, not one per flow). */
const lastOrigin = { format: '', exporter: '', origin: ':' };

export function flowOrigin(flow: FlowRecord): string {
  const explicit = flow.extra?.['origin'];
  if (explicit !== undefined && explicit !== null) return explicit;
  if (flow.source_format !== lastOrigin.format || flow.exporter !== lastOrigin.exporter) {
    lastOrigin.format = flow.source_format;
    lastOrigin.exporter = flow.exporter;
    lastOrigin.origin = `${flow.source_format}:${flow.exporter}`;
  }
  return lastOrigin.origin;
}

export function toSequenceFlow(flow: FlowRecord): SequenceFlow {
  return sequenceFlow(flow, flowOrigin(flow));
}

/** A SequenceFlow of a record's (or another flow's) fields, with its origin. */
export function sequenceFlow(flow: WindowFlowFields, origin: string): SequenceFlow {
  return {
    start_ms: flow.start_ms,
    end_ms: flow.end_ms,
    protocol: flow.protocol,
    src_port: flow.src_port,
    dst_port: sequenceDstPort(flow),
    fwd_bytes: flow.fwd_bytes,
    fwd_pkts: flow.fwd_pkts,
    bwd_bytes: flow.bwd_bytes,
    bwd_pkts: flow.bwd_pkts,
    tcp_flags: flow.tcp_flags,
    label: flow.label ?? null,
    attack: flow.attack ?? null,
    origin,
    sampling_rate: flow.sampling_rate ?? 1,
  };
}

/** TCP flags of a direction that sent SYN and never ACK: only a connection's initiator does. */
export function synWithoutAck(flags: number): boolean {
  return (flags & 0x12) === 0x02;
}

/** ICMP (1) and ICMPv6 (58) query types and their replies: echo, timestamp, information, address mask. */
const ICMP_PARTNER: Readonly<Record<number, ReadonlyMap<number, number>>> = {
  1: new Map([
    [8, 0],
    [0, 8],
    [13, 14],
    [14, 13],
    [15, 16],
    [16, 15],
    [17, 18],
    [18, 17],
  ]),
  58: new Map([
    [128, 129],
    [129, 128],
  ]),
};
const ICMP_QUERIES: ReadonlySet<number> = new Set([8, 13, 15, 17, 128]);

/** A record's ICMP type (its own field, else the type/code NetFlow puts in the destination port). */
export function icmpType(flow: FlowRecord): number {
  return flow.icmp_type ?? flow.dst_port >> 8;
}

/**
 * For an ICMP query or reply (echo and the like), the type both halves of the exchange share as
 * their stitching key (the query's); -1 for anything else, whose halves are keyed by their ports.
 */
export function icmpExchange(flow: FlowRecord): number {
  const partners = ICMP_PARTNER[flow.protocol];
  if (partners === undefined) return -1;
  const type = icmpType(flow);
  const partner = partners.get(type);
  if (partner === undefined) return -1;
  return ICMP_QUERIES.has(type) ? type : partner;
}

/** Whether an ICMP record is the query of an exchange (its sender initiated). */
export function isIcmpQuery(flow: FlowRecord): boolean {
  return icmpExchange(flow) >= 0 && ICMP_QUERIES.has(icmpType(flow));
}

/** Whether a record is an IPFIX biflow (RFC 5103): both directions' counters in one record. */
export function isIpfixBiflow(flow: FlowRecord): boolean {
  return flow.source_format === 'ipfix' && (flow.bwd_pkts > 0 || flow.bwd_bytes > 0);
}

/**
 * An IPFIX biflow as the initiator → responder record the sequencer keys and features read, the
 * same as a stitched pair of the same connection (rule 1). RFC 5103 leaves the source arbitrary
 * unless biflowDirection (IE 239) says 1 (initiator) or 2 (reverseInitiator: the destination
 * initiated), and some exporters (softflowd -b) order the endpoints by address: the server's
 * record came first for half the connections, some with nothing sent by the source. Without that
 * element: a record whose source sent no packet, or the replies of an ICMP exchange, is turned
 * round; a TCP side that sent SYN and never ACK initiated (as in stitching); else a TCP/UDP biflow
 * from a well-known port (< 1024) to a higher port is the responder's view and is turned round;
 * anything else keeps its order (exporters that orient by the first packet, as most do, are left
 * as they are; equal ports cannot be told).
 * reverseTcpControlBits joins tcp_flags, as a stitched pair ORs its halves' flags. A changed result
 * says biflowDirection 1 (so orienting it again changes nothing); `flow` itself when nothing changes.
 */
export function orientBiflow(flow: FlowRecord): FlowRecord {
  if (!isIpfixBiflow(flow)) return flow;
  const text = flow.extra?.['reverseTcpControlBits'];
  const parsed = text === undefined ? 0 : Number(text);
  const reverse = Number.isInteger(parsed) && parsed > 0 ? parsed & 0xffff : 0;
  const flags = flow.tcp_flags | reverse;
  const direction = flow.extra?.['biflowDirection'];
  let swap: boolean;
  if (direction === '1' || direction === '2') swap = direction === '2';
  else if (flow.fwd_pkts === 0 && flow.bwd_pkts > 0)
    swap = true; // only the destination sent
  else if (icmpExchange(flow) >= 0)
    swap = !isIcmpQuery(flow); // the source sent the replies
  else if (
    flow.protocol === 6 &&
    text !== undefined &&
    synWithoutAck(flow.tcp_flags) !== synWithoutAck(reverse)
  )
    swap = synWithoutAck(reverse);
  else
    swap =
      (flow.protocol === 6 || flow.protocol === 17) && flow.src_port < 1024 && flow.src_port < flow.dst_port;
  if (!swap && reverse === 0) return flow;
  // What the result is: its source the initiator (biflowDirection 1), both sides' flags in tcp_flags.
  const { reverseTcpControlBits: _, ...rest } = flow.extra ?? {};
  const extra = { ...rest, biflowDirection: '1' };
  if (!swap) return { ...flow, tcp_flags: flags, extra };
  return {
    ...flow,
    src_ip: flow.dst_ip,
    dst_ip: flow.src_ip,
    src_port: flow.dst_port,
    dst_port: flow.src_port,
    fwd_bytes: flow.bwd_bytes,
    fwd_pkts: flow.bwd_pkts,
    bwd_bytes: flow.fwd_bytes,
    bwd_pkts: flow.fwd_pkts,
    tcp_flags: flags,
    in_if: flow.out_if ?? null,
    out_if: flow.in_if ?? null,
    src_as: flow.dst_as ?? null,
    dst_as: flow.src_as ?? null,
    extra,
  };
}

/** A record that needs no stitching: src is the initiator. */
export function passThrough(flow: FlowRecord, position: InputPosition): ConversationFlow {
  return {
    src_ip: flow.src_ip,
    dst_ip: flow.dst_ip,
    flow: toSequenceFlow(flow),
    first: position,
    lastOffset: position.offset,
    sources: [flow],
  };
}

/** Rule 4's order inside a conversation-window (its one definition lives in @tidewatch/contracts). */
export { compareSequenceFlows } from '@tidewatch/contracts';
