// Cost per call of IP address parsing on the product's paths: features.v2's addressScopeIndex (per
// sequence in inference) and the vector store's ip-range (per stored finding and per filtered point).
// Run: node --import tsx bench/ip-address.ts [ROOT]  (ROOT: a checkout to load them from, e.g. a git
// worktree of an older commit, for an alternated before/after; default this one). Prints ns per call,
// the median of 7 rounds.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const load = async <T>(path: string): Promise<T> =>
  (await import(pathToFileURL(resolve(root, path)).href)) as T;
const { addressScopeIndex } = await load<{ addressScopeIndex: (ip: string) => number }>(
  'packages/features/src/address-scope.ts',
);
type Matcher = unknown;
const store = await load<{
  parseIpv4: (ip: string) => number;
  ipNumeric: (ip: string) => { v4: number | null; v6: number[] | null };
  parseIpFilter: (text: string) => Matcher;
  ipMatches: (m: Matcher, ip: string) => boolean;
}>('packages/vector-store/src/ip-range.ts');

/** Deterministic address mixes: IPv4 as flows carry them, IPv6 in its usual text forms. */
function addresses(kind: 'v4' | 'v6', n: number): string[] {
  let x = 12345;
  const r = (m: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % m;
  };
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (kind === 'v4') {
      const a = [10, 192, 172, 8, 52, 104, 224][r(7)] as number;
      out.push(`${a}.${r(256)}.${r(256)}.${r(256)}`);
    } else {
      const h = () => r(0x10000).toString(16);
      const forms = [
        `2001:db8:${h()}::${h()}`,
        `fe80::${h()}:${h()}:${h()}:${h()}`,
        `2a00:1450:${h()}:${h()}:${h()}:${h()}:${h()}:${h()}`,
        `::ffff:10.${r(256)}.${r(256)}.${r(256)}`,
        `ff02::${h()}`,
      ];
      out.push(forms[r(forms.length)] as string);
    }
  }
  return out;
}

function nsPerCall(ips: string[], fn: (ip: string) => number): number {
  const reps = 200;
  let sink = 0;
  for (const ip of ips) sink += fn(ip);
  const rounds: number[] = [];
  for (let k = 0; k < 7; k++) {
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < reps; r++) for (const ip of ips) sink += fn(ip);
    rounds.push(Number(process.hrtime.bigint() - t0) / (reps * ips.length));
  }
  if (sink === Number.MIN_VALUE) console.log(sink);
  return rounds.sort((a, b) => a - b)[3] as number;
}

const v4 = addresses('v4', 4096);
const v6 = addresses('v6', 4096);
const m4 = store.parseIpFilter('10.0.0.0/8');
const m6 = store.parseIpFilter('2001:db8::/32');
const rows: [string, number][] = [
  ['addressScopeIndex v4', nsPerCall(v4, addressScopeIndex)],
  ['addressScopeIndex v6', nsPerCall(v6, addressScopeIndex)],
  ['store parseIpv4 v4', nsPerCall(v4, store.parseIpv4)],
  ['store ipNumeric v4', nsPerCall(v4, (ip) => store.ipNumeric(ip).v4 ?? 0)],
  ['store ipNumeric v6', nsPerCall(v6, (ip) => store.ipNumeric(ip).v6?.[0] ?? 0)],
  ['store ipMatches v4 /8', nsPerCall(v4, (ip) => (store.ipMatches(m4, ip) ? 1 : 0))],
  ['store ipMatches v6 /32', nsPerCall(v6, (ip) => (store.ipMatches(m6, ip) ? 1 : 0))],
];
console.log(JSON.stringify(Object.fromEntries(rows.map(([k, v]) => [k, Math.round(v * 10) / 10]))));
