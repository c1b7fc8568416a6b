import { isIP } from 'node:net';
import type { FlowRecord, SourceFormat } from '@tidewatch/contracts';
import { RowError } from './types.ts';

const PROTOCOLS: Record<string, number> = {
  hopopt: 0,
  icmp: 1,
  igmp: 2,
  ipv4: 4,
  tcp: 6,
  egp: 8,
  igp: 9,
  udp: 17,
  ipv6: 41,
  'ipv6-route': 43,
  'ipv6-frag': 44,
  rsvp: 46,
  gre: 47,
  esp: 50,
  ah: 51,
  'ipv6-icmp': 58,
  icmp6: 58,
  icmpv6: 58,
  'ipv6-nonxt': 59,
  'ipv6-opts': 60,
  eigrp: 88,
  ospf: 89,
  ospfigp: 89,
  ipip: 94,
  pim: 103,
  vrrp: 112,
  l2tp: 115,
  sctp: 132,
  udplite: 136,
};

/** IANA protocol number from a number or a name (tcp, UDP, icmp...). ICMP over IPv6 becomes 58. */
export function protocolNumber(value: string, v6 = false): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n > 255) throw new RowError(`protocol ${v} is not an IANA protocol number (0-255)`);
    return n === 1 && v6 ? 58 : n;
  }
  const n = PROTOCOLS[v.toLowerCase()];
  if (n === undefined) throw new RowError(`unknown protocol '${v}'`);
  return n === 1 && v6 ? 58 : n;
}

export function ipField(value: string, name: string): string {
  const v = value.trim();
  if (isIP(v) === 0) throw new RowError(`${name} '${v}' is not an IPv4 or IPv6 address`);
  return v;
}

/** A non-negative integer; `unset` values ('', '-') read as 0. Accepts 0x hex (Argus ports). */
export function countField(value: string, name: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = value.trim();
  if (v === '' || v === '-') return 0;
  let n: number;
  if (/^\d+$/.test(v)) n = Number(v);
  else if (/^0x[0-9a-f]+$/i.test(v)) n = Number.parseInt(v.slice(2), 16);
  else if (/^\d+\.0*$/.test(v)) n = Number.parseInt(v, 10);
  else throw new RowError(`${name} '${v}' is not a non-negative integer`);
  if (n > max) throw new RowError(`${name} ${v} is out of range (max ${max})`);
  return n;
}

export function portField(value: string, name: string): number {
  return countField(value, name, 65535);
}

/** Seconds (decimal string, '' or '-' = 0) to whole microseconds without float drift. */
export function secondsToUs(value: string, name: string): number {
  const v = value.trim();
  if (v === '' || v === '-') return 0;
  const m = /^(\d*)(?:\.(\d*))?$/.exec(v);
  if (!m || (m[1] === '' && (m[2] ?? '') === ''))
    throw new RowError(`${name} '${v}' is not a non-negative number of seconds`);
  const frac = (m[2] ?? '').padEnd(6, '0');
  return Number(m[1] || '0') * 1_000_000 + Number(frac.slice(0, 6)) + (Number(frac[6] ?? '0') >= 5 ? 1 : 0);
}

const TS_RE =
  /^(\d{4})[-/](\d{2})[-/](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A timestamp to epoch microseconds: "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC unless an offset is
 * given), ISO 8601 with T and Z/offset, "YYYY/MM/DD ..." (Argus), or epoch seconds / milliseconds
 * (numbers of 12 or more integer digits are milliseconds). Small numbers are kept as they are:
 * some captures carry relative seconds (CTU Botnet-4), which become times in early 1970.
 */
export function timestampToUs(value: string, name = 'timestamp'): number {
  const v = value.trim();
  const num = /^(\d+)(?:\.(\d+))?$/.exec(v);
  if (num) {
    const int = num[1]!;
    const frac = num[2] ?? '';
    if (int.length >= 12) return Number(int) * 1000 + Number(frac.padEnd(3, '0').slice(0, 3));
    return Number(int) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6));
  }
  const m = TS_RE.exec(v);
  if (m) {
    const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
      throw new RowError(`${name} '${v}' is not a valid date and time`);
    let ms = Date.UTC(y, mo - 1, d, h, mi, s);
    const zone = m[8];
    if (zone && zone.toUpperCase() !== 'Z') {
      const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
      const offset = (Number(z[2]) * 60 + Number(z[3])) * 60_000;
      ms += z[1] === '+' ? -offset : offset;
    }
    return ms * 1000 + Number((m[7] ?? '').padEnd(6, '0').slice(0, 6));
  }
  throw new RowError(
    `${name} '${v}' is not "YYYY-MM-DD HH:MM:SS[.ffffff]", ISO 8601 or epoch seconds/milliseconds`,
  );
}

/** Start and end in epoch ms from a start in µs and a duration in µs (truncating to the ms). */
export function timesFromUs(startUs: number, durationUs: number): { start_ms: number; end_ms: number } {
  return { start_ms: Math.floor(startUs / 1000), end_ms: Math.floor((startUs + durationUs) / 1000) };
}

/** TCP flags from nfdump's "...AP.SF" / "CEUAPRSF" letters or a number (decimal or 0x hex). */
export function tcpFlagsFromLetters(value: string): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) & 0xff;
  if (/^0x[0-9a-f]+$/i.test(v)) return Number.parseInt(v.slice(2), 16) & 0xff;
  const bits: Record<string, number> = {
    C: 0x80,
    E: 0x40,
    U: 0x20,
    A: 0x10,
    P: 0x08,
    R: 0x04,
    S: 0x02,
    F: 0x01,
  };
  let flags = 0;
  for (const c of v.toUpperCase()) flags |= bits[c] ?? 0;
  return flags;
}

export function baseFlow(
  source_format: SourceFormat,
  exporter: string,
): Omit<FlowRecord, 'start_ms' | 'end_ms' | 'protocol' | 'src_ip' | 'dst_ip'> {
  return {
    exporter,
    observation_domain: 0,
    source_format,
    src_port: 0,
    dst_port: 0,
    fwd_bytes: 0,
    fwd_pkts: 0,
    bwd_bytes: 0,
    bwd_pkts: 0,
    tcp_flags: 0,
    sampling_rate: 1,
    label: null,
    attack: null,
  };
}

/** label column values: 0/1, true/false, benign/malicious, BENIGN/<attack name>. */
export function binaryLabel(value: string, name = 'label'): number | null {
  const v = value.trim().toLowerCase();
  if (v === '' || v === '-') return null;
  if (v === '0' || v === 'false' || v === 'benign' || v === 'normal') return 0;
  if (v === '1' || v === 'true' || v === 'malicious' || v === 'attack') return 1;
  throw new RowError(`${name} '${value.trim()}' is not 0/1, benign/malicious`);
}
