const PROTOCOLS: Record<number, string> = {
  1: 'ICMP',
  6: 'TCP',
  17: 'UDP',
  47: 'GRE',
  50: 'ESP',
  58: 'ICMPv6',
};

export function protocolName(p: number): string {
  return PROTOCOLS[p] ?? String(p);
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

const integer = new Intl.NumberFormat('en-US');
export function count(n: number | undefined | null): string {
  return n === undefined || n === null || !Number.isFinite(n) ? '–' : integer.format(n);
}

export function pct(p: number): string {
  return `${(p * 100).toFixed(p < 0.1 ? 1 : 0)}%`;
}

export function time(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function shortTime(ms: number, spanMs: number): string {
  const iso = new Date(ms).toISOString();
  return spanMs > 20 * 3_600_000 ? iso.slice(5, 16).replace('T', ' ') : iso.slice(11, 16);
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
