import { parseIPv4, parseIPv6Into, ipv4Mapped, type Finding } from '@tidewatch/contracts';
import spec from '../spec/builtin-rules.json' with { type: 'json' };

/**
 * A rule that ships with the product (`spec/builtin-rules.json`, whose reasons and rationale say
 * why; the Python evaluation reads the same file). It matches on the finding's own fields (no
 * example, no analyst) and is recorded like a stored rule: status `suppressed`, `suppressed_by` =
 * its id.
 */
export interface BuiltinRule {
  id: string;
  reason: string;
  matches(finding: RuleInput, raised: RaisedBy): boolean;
}

/**
 * What a built-in rule looks at: the responder, the sequence's protocols and ports and, for a rule
 * with maxFwdBytesPerPkt, what the initiator sent (a rule that needs them never matches without).
 */
export type RuleInput = Pick<Finding, 'src_ip' | 'dst_ip' | 'protocols' | 'dst_ports'> &
  Partial<Pick<Finding, 'fwd_bytes' | 'fwd_pkts'>>;

/** What the detector knows about an alert beyond its finding. */
export interface RaisedBy {
  /** A baseline sub-score raised it too (ScoredSequence.flags is not empty): not the model's verdict alone. */
  flagged: boolean;
  /**
   * Which sub-scores flagged it (ScoredSequence.flags: beacon, scan, brute_force, exfiltration,
   * reflection). Unknown when absent: then a rule with flagsWithin takes no flagged alert.
   */
  flags?: readonly string[];
  /** The model's verdict was malicious (unknown when absent: a rule with subScoresOnly takes no alert). */
  byModel?: boolean;
  /** The initiator's distinct destinations in the window (sequences.v1 context.distinct_dsts), when known. */
  initiatorDsts?: number;
  /** Every flow of the sequence is an infrastructure request (isInfrastructureRequest). */
  infrastructureOnly: boolean;
}

const INFRA = spec.infrastructure_requests;

/**
 * A flow that is a host's own infrastructure chatter (spec/builtin-rules.json
 * infrastructure_requests): a UDP request toward a name or time service (DNS, NetBIOS name
 * service, NTP), or an ICMP / ICMPv6 exchange in which every request was answered with
 * ping-sized packets.
 */
export function isInfrastructureRequest(
  protocol: number,
  dstPort: number,
  fwdBytes: number,
  fwdPkts: number,
  bwdBytes: number,
  bwdPkts: number,
): boolean {
  if (protocol === 17) return INFRA.udp_dst_ports.includes(dstPort);
  if (protocol !== 1 && protocol !== 58) return false;
  const max = INFRA.icmp_max_bytes_per_packet;
  return fwdPkts > 0 && bwdPkts >= fwdPkts && fwdBytes <= max * fwdPkts && bwdBytes <= max * bwdPkts;
}

/** Optional conditions of a rule beside its networks (spec/builtin-rules.json says what they mean). */
export interface RuleConditions {
  /** The responder's last `hostOnes` bits are all ones (IPv4: a subnet's broadcast address). */
  hostOnes?: number;
  /** Every protocol of the sequence is one of these (an empty sequence list never matches). */
  protocols?: readonly number[];
  /** Every destination port of the sequence is one of these (likewise). */
  dstPorts?: readonly number[];
  /** Every flow of the sequence is an infrastructure request (RaisedBy.infrastructureOnly). */
  infrastructureOnly?: boolean;
  /** Only an alert that rests on the model's verdict alone (no sub-score flagged it). */
  modelVerdictOnly?: boolean;
  /** Only an alert no sub-score but these flagged (the model's verdict may have raised it too). */
  flagsWithin?: readonly string[];
  /** The initiator's packets carried at most this many bytes on average (fwd_bytes / fwd_pkts). */
  maxFwdBytesPerPkt?: number;
  /** Only an alert that rests on sub-score flags alone (the model's verdict was benign). */
  subScoresOnly?: boolean;
  /** The initiator reached at least this many destinations in the window (RaisedBy.initiatorDsts). */
  minInitiatorDsts?: number;
  /** The initiator reached at most this many destinations in the window (RaisedBy.initiatorDsts). */
  maxInitiatorDsts?: number;
  /** A responder inside one of these networks never matches (CIDR, as the rule's networks). */
  exceptNetworks?: readonly string[];
}

/** Every value is one of `allowed` (and there is one): a rule's protocol / port condition. */
function allIn(values: readonly number[], allowed: readonly number[] | undefined): boolean {
  return allowed === undefined || (values.length > 0 && values.every((v) => allowed.includes(v)));
}

/** A CIDR block: IPv4 as one number, IPv6 as eight 16-bit groups. */
interface Network {
  v4: boolean;
  base: number[];
  prefix: number;
}

const groups = new Uint16Array(8);

function parseNetwork(text: string, rule: string): Network {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const addr = m?.[1] ?? '';
  const prefix = m ? Number(m[2]) : -1;
  const v4 = parseIPv4(addr);
  if (v4 >= 0 && Number.isInteger(prefix) && prefix >= 0 && prefix <= 32)
    return { v4: true, base: [v4], prefix };
  if (parseIPv6Into(addr, groups, 'ipaddress') && Number.isInteger(prefix) && prefix >= 0 && prefix <= 128)
    return { v4: false, base: Array.from(groups), prefix };
  throw new Error(`builtin rule ${rule}: "${text}" is not an IPv4 or IPv6 network (address/prefix)`);
}

/** Whether the top `prefix` bits of two values of `bits` width agree (bits <= 32). */
function samePrefix(a: number, b: number, prefix: number, bits: number): boolean {
  if (prefix <= 0) return true;
  const shift = bits - prefix;
  return Math.floor(a / 2 ** shift) === Math.floor(b / 2 ** shift);
}

function inNetwork(v4: number, g: Uint16Array | null, net: Network): boolean {
  if (net.v4) return v4 >= 0 && samePrefix(v4, net.base[0] as number, net.prefix, 32);
  if (!g) return false;
  let left = net.prefix;
  for (let i = 0; i < 8 && left > 0; i++, left -= 16)
    if (!samePrefix(g[i] as number, net.base[i] as number, Math.min(16, left), 16)) return false;
  return true;
}

export function networkRule(
  id: string,
  reason: string,
  networks: readonly string[],
  conditions: RuleConditions = {},
): BuiltinRule {
  const nets = networks.map((n) => parseNetwork(n, id));
  const {
    hostOnes,
    protocols,
    dstPorts,
    infrastructureOnly,
    modelVerdictOnly,
    flagsWithin,
    maxFwdBytesPerPkt,
    subScoresOnly,
    minInitiatorDsts,
    maxInitiatorDsts,
    exceptNetworks,
  } = conditions;
  const excepted = (exceptNetworks ?? []).map((n) => parseNetwork(n, id));
  if (minInitiatorDsts !== undefined && !(Number.isInteger(minInitiatorDsts) && minInitiatorDsts >= 1))
    throw new Error(`builtin rule ${id}: min_initiator_dsts ${minInitiatorDsts} is not a positive integer`);
  if (maxInitiatorDsts !== undefined && !(Number.isInteger(maxInitiatorDsts) && maxInitiatorDsts >= 1))
    throw new Error(`builtin rule ${id}: max_initiator_dsts ${maxInitiatorDsts} is not a positive integer`);
  if (maxFwdBytesPerPkt !== undefined && !(Number.isFinite(maxFwdBytesPerPkt) && maxFwdBytesPerPkt > 0))
    throw new Error(
      `builtin rule ${id}: max_fwd_bytes_per_pkt ${maxFwdBytesPerPkt} is not a positive number`,
    );
  if (hostOnes !== undefined && !(Number.isInteger(hostOnes) && hostOnes >= 1 && hostOnes <= 31))
    throw new Error(`builtin rule ${id}: responder_host_ones ${hostOnes} is not 1-31`);
  if (hostOnes !== undefined && nets.some((n) => !n.v4))
    throw new Error(
      `builtin rule ${id}: responder_host_ones needs IPv4 networks only (IPv6 has no broadcast)`,
    );
  const hostMask = hostOnes === undefined ? 0 : 2 ** hostOnes - 1;
  return {
    id,
    reason,
    matches(finding, raised) {
      if (modelVerdictOnly && raised.flagged) return false;
      if (flagsWithin && raised.flagged && !(raised.flags?.every((f) => flagsWithin.includes(f)) ?? false))
        return false;
      if (infrastructureOnly && !raised.infrastructureOnly) return false;
      if (subScoresOnly && (!raised.flagged || raised.byModel !== false)) return false;
      if (minInitiatorDsts !== undefined && !((raised.initiatorDsts ?? 0) >= minInitiatorDsts)) return false;
      // unknown destinations (no context) are not few enough
      if (
        maxInitiatorDsts !== undefined &&
        !((raised.initiatorDsts ?? Number.POSITIVE_INFINITY) <= maxInitiatorDsts)
      )
        return false;
      if (!allIn(finding.protocols, protocols) || !allIn(finding.dst_ports, dstPorts)) return false;
      if (maxFwdBytesPerPkt !== undefined) {
        const { fwd_bytes: bytes, fwd_pkts: pkts } = finding;
        if (bytes === undefined || pkts === undefined || !(pkts > 0) || bytes > maxFwdBytesPerPkt * pkts)
          return false;
      }
      const ip = finding.dst_ip;
      let v4 = parseIPv4(ip);
      let g: Uint16Array | null = null;
      // Python's ipaddress takes no surrounding white space; IPv4-mapped IPv6 counts as its IPv4.
      if (v4 < 0 && ip.trim() === ip && parseIPv6Into(ip, groups, 'ipaddress')) {
        v4 = ipv4Mapped(groups);
        if (v4 < 0) g = groups;
      }
      if (hostOnes !== undefined && (v4 < 0 || v4 % (hostMask + 1) !== hostMask)) return false;
      if (excepted.some((net) => inNetwork(v4, g, net))) return false;
      return nets.some((net) => inNetwork(v4, g, net));
    },
  };
}

interface RuleSpec {
  id: string;
  reason: string;
  responder_networks: string[];
  responder_host_ones?: number;
  protocols?: number[];
  dst_ports?: number[];
  infrastructure_only?: boolean;
  model_verdict_only?: boolean;
  flags_within?: string[];
  max_fwd_bytes_per_pkt?: number;
  sub_scores_only?: boolean;
  min_initiator_dsts?: number;
  max_initiator_dsts?: number;
  except_responder_networks?: string[];
}

export const BUILTIN_RULES: readonly BuiltinRule[] = (spec.rules as RuleSpec[]).map((r) =>
  networkRule(r.id, r.reason, r.responder_networks, {
    ...(r.responder_host_ones === undefined ? {} : { hostOnes: r.responder_host_ones }),
    ...(r.protocols === undefined ? {} : { protocols: r.protocols }),
    ...(r.dst_ports === undefined ? {} : { dstPorts: r.dst_ports }),
    ...(r.infrastructure_only === undefined ? {} : { infrastructureOnly: r.infrastructure_only }),
    ...(r.model_verdict_only === undefined ? {} : { modelVerdictOnly: r.model_verdict_only }),
    ...(r.flags_within === undefined ? {} : { flagsWithin: r.flags_within }),
    ...(r.max_fwd_bytes_per_pkt === undefined ? {} : { maxFwdBytesPerPkt: r.max_fwd_bytes_per_pkt }),
    ...(r.sub_scores_only === undefined ? {} : { subScoresOnly: r.sub_scores_only }),
    ...(r.min_initiator_dsts === undefined ? {} : { minInitiatorDsts: r.min_initiator_dsts }),
    ...(r.max_initiator_dsts === undefined ? {} : { maxInitiatorDsts: r.max_initiator_dsts }),
    ...(r.except_responder_networks === undefined ? {} : { exceptNetworks: r.except_responder_networks }),
  }),
);

/**
 * Link-local multicast, SSDP's group and the broadcast address (mDNS, LLMNR, neighbour discovery…);
 * builtin:subnet-broadcast and builtin:netbios-broadcast take subnets' x.x.x.255 over UDP.
 */
export const LOCAL_DISCOVERY_RULE = BUILTIN_RULES.find(
  (r) => r.id === 'builtin:local-discovery',
) as BuiltinRule;

/** The first built-in rule that matches an alert, or null. */
export function matchBuiltinRule(
  finding: RuleInput,
  raised: RaisedBy,
  rules: readonly BuiltinRule[] = BUILTIN_RULES,
): BuiltinRule | null {
  for (const rule of rules) if (rule.matches(finding, raised)) return rule;
  return null;
}
