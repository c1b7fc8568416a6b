import type { SequenceFlow } from '@tidewatch/contracts';
import { OpenWindow } from '@tidewatch/sequencing';

/** A window start (5-minute windows) for the tests' sealed windows. */
export const WS = 1_700_000_100_000 - (1_700_000_100_000 % 300_000);

/** Deterministic pseudo-random integers (mulberry32). */
export function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) as number;
  };
}

/**
 * Sealed windows over three window starts (interleaved), one to 24 flows each (the port insertion
 * sort and the set path), repeated ports, byte counts past 2^31, IPv4 and IPv6, and a few scanners
 * whose responders and ports pass EXACT_DISTINCT_LIMIT (the HyperLogLog path); a quarter of the
 * windows unanswered (bwd_pkts 0: probe-shaped), some of those from port 53 (reply-shaped toward 8080
 * and scanned high ports).
 */
export function sealedWindows(count: number, seed: number): OpenWindow[] {
  const r = rng(seed);
  const out: OpenWindow[] = [];
  for (let k = 0; k < count; k++) {
    const ws = WS + r(3) * 300_000;
    const scanner = k % 7 === 0;
    const i = scanner ? r(3) : r(400);
    const initiator = i % 3 === 0 ? `fd00::${i.toString(16)}` : `10.${i >> 8}.0.${i & 255}`;
    const responder = scanner ? `172.30.${k >> 8}.${k & 255}` : `192.168.${r(4)}.${r(30)}`;
    const n = scanner || r(5) === 0 ? 1 + r(24) : 1;
    const flows: SequenceFlow[] = [];
    for (let f = 0; f < n; f++) {
      const dstPort = scanner ? 1 + r(5000) : ([22, 80, 443, 8080, 53][r(5)] as number);
      const fwdBytes = r(3) === 0 ? 3_000_000_000 + r(1000) : r(100_000);
      const fwdPkts = 1 + r(50);
      const bwdBytes = r(1_000_000);
      const bwdPkts = r(60);
      flows.push({
        start_ms: ws + f,
        end_ms: ws + f + 1,
        protocol: 6,
        src_port: k % 8 === 5 ? 53 : 40_000 + f,
        dst_port: dstPort,
        fwd_bytes: fwdBytes,
        // An unanswered window's flows are attempts of at most 7 packets (probe-shaped, isProbeFlow).
        fwd_pkts: k % 4 === 1 ? 1 + (fwdPkts % 7) : fwdPkts,
        bwd_bytes: bwdBytes,
        bwd_pkts: k % 4 === 1 ? 0 : bwdPkts,
        tcp_flags: 0,
        label: null,
        attack: null,
        origin: 'test',
      });
    }
    out.push(OpenWindow.of(initiator, responder, ws, ws + 300_000, flows));
  }
  return out;
}
