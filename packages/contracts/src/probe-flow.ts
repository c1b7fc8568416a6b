/**
 * The probe shape sequences.v1's context.distinct_probe_srcs counts (the sequencer) and
 * subscores.v4's inbound-scan term reads (the detector): defined once, here, beside the field.
 */

/** Linux sends a SYN and up to 6 retries (tcp_syn_retries), Windows 2; a scanner 1-2 per probe. */
export const PROBE_MAX_PKTS = 7;

/**
 * A probe-shaped flow: an attempt of at most PROBE_MAX_PKTS packets (a SYN and its retransmissions)
 * that nothing answered (bwd_pkts 0; a longer one-way stream is telemetry to a collector, syslog or
 * NetFlow export), not reply-shaped (a source port 1-1023 toward a port >= 1024: e.g. a flow meter's
 * inverted tail of a server's answer), and not peer-shaped (a port to the same port, outside ICMP
 * whose "ports" are type and code: NetBIOS 137 / 138 and LAN-sync broadcasts, symmetric NTP; nobody
 * answers a broadcast as its responder).
 */
export function isProbeFlow(
  protocol: number,
  srcPort: number,
  dstPort: number,
  fwdPkts: number,
  bwdPkts: number,
): boolean {
  return (
    bwdPkts === 0 &&
    fwdPkts <= PROBE_MAX_PKTS &&
    !(srcPort >= 1 && srcPort <= 1023 && dstPort >= 1024) &&
    !(srcPort >= 1 && srcPort === dstPort && protocol !== 1 && protocol !== 58)
  );
}
