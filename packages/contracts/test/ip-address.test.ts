import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { ipFamily, ipv4Mapped, ipv6GroupsToBigInt, parseIPv4, parseIPv6 } from '../src/index.ts';

/**
 * Deterministic pseudo-random numbers, so a failure names a reproducible string. (SHA-256 of a
 * counter: @tidewatch/testing's seededRandom depends on this package, and a test cannot import it.)
 */
function rng(seed: number): () => number {
  let i = 0;
  return () => createHash('sha256').update(`${seed}:${i++}`).digest().readUInt32BE(0) / 4294967296;
}

/** Address-like strings around every edge: octets, hextets, `::`, IPv4 tails, zone ids, case, space. */
function candidates(count: number, seed: number): string[] {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)] as T;
  const odd = ['', '-1', '+1', ' 1', '1 ', '0x1', '00', '000', '1e1', '\u0661', '\uff11'];
  const octet = (): string => {
    const x = r();
    if (x < 0.6) return String(int(0, 255));
    if (x < 0.7) return `0${int(0, 99)}`;
    if (x < 0.8) return String(int(256, 999));
    return pick(odd);
  };
  const v4 = () => Array.from({ length: pick([4, 4, 4, 4, 3, 5]) }, octet).join('.');
  const hextet = (): string => {
    const x = r();
    if (x < 0.7) {
      const h = int(0, 0xffff).toString(16);
      return pick([h, h.toUpperCase(), h.padStart(4, '0')]);
    }
    if (x < 0.8) return '';
    if (x < 0.85) return '0'.repeat(int(1, 6));
    return pick(['g', '12345', '-1', ' 1', 'fffff', '0x1', '\uff21', 'f']);
  };
  const zones = [
    'eth0',
    '',
    '3',
    'a b',
    '\u00e9',
    'a%b',
    'x:y',
    'x.y',
    '-',
    '_',
    '/',
    'a/b',
    'lo0',
    'eth0\n',
    '\t',
  ];
  const v6 = (): string => {
    const parts = Array.from({ length: int(1, 9) }, hextet);
    if (r() < 0.5) {
      const i = int(0, parts.length);
      parts.splice(i, 0, '');
      if (i === 0) parts.unshift('');
      if (i === parts.length - 1) parts.push('');
    }
    if (r() < 0.25) parts[parts.length - 1] = v4();
    let s = parts.join(':');
    if (r() < 0.25) s += `%${pick(zones)}`;
    if (r() < 0.05) s = pick([' ', '\n', '[', '::']) + s;
    if (r() < 0.05) s += pick([' ', ']', ':', '/64']);
    return s;
  };
  return Array.from({ length: count }, () => (r() < 0.3 ? v4() : v6()));
}

/** IPv6 groups as WHATWG URL serializes a host (lower case, the first longest run of 2+ zero groups as `::`). */
function urlForm(g: Uint16Array): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number, b: number) => Array.from(g.subarray(a, b), (x) => x.toString(16)).join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

describe('the shared IP address parser', () => {
  it('reads dotted quads and IPv6 text into their values', () => {
    assert.equal(parseIPv4('0.0.0.0'), 0);
    assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
    assert.equal(parseIPv4('192.168.1.20'), ((192 * 256 + 168) * 256 + 1) * 256 + 20);
    assert.deepEqual([...(parseIPv6('::', 'ipaddress') ?? [])], [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...(parseIPv6('FE80::AbCd', 'ipaddress') ?? [])], [0xfe80, 0, 0, 0, 0, 0, 0, 0xabcd]);
    assert.deepEqual([...(parseIPv6('1:2:3:4:5:6:7::', 'ipaddress') ?? [])], [1, 2, 3, 4, 5, 6, 7, 0]);
    assert.deepEqual([...(parseIPv6('::2:3:4:5:6:7:8', 'ipaddress') ?? [])], [0, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(
      [...(parseIPv6('64:ff9b::8.8.4.4', 'ipaddress') ?? [])],
      [0x64, 0xff9b, 0, 0, 0, 0, 0x808, 0x404],
    );
    assert.deepEqual([...(parseIPv6('0001:02:003::', 'ipaddress') ?? [])], [1, 2, 3, 0, 0, 0, 0, 0]);
    const mapped = parseIPv6('::ffff:10.0.0.1%eth0', 'node:net');
    assert.ok(mapped);
    assert.equal(ipv4Mapped(mapped), parseIPv4('10.0.0.1'));
    assert.equal(ipv4Mapped(parseIPv6('::10.0.0.1', 'node:net') as Uint16Array), -1);
    assert.equal(
      ipv6GroupsToBigInt(parseIPv6('2001:db8::1', 'node:net') as Uint16Array),
      (0x20010db8n << 96n) | 1n,
    );
  });

  it('refuses what neither Python ipaddress nor node:net calls an address', () => {
    const not = [
      ...[
        '01.2.3.4',
        '1.2.3.256',
        '1.2.3',
        '1.2.3.4.5',
        '1.2.3.4 ',
        ' 1.2.3.4',
        '0x7f.0.0.1',
        '1.2.3.-4',
        '',
        '1..2.3',
      ],
      ...[
        '1::2::3',
        ':::',
        '1:2:3:4:5:6:7:8:9',
        '1:2:3:4:5:6:7:8::',
        '::1:2:3:4:5:6:7:8',
        '12345::1',
        'g::1',
      ],
      ...[
        ':1:2:3:4:5:6:7',
        '1:2:3:4:5:6:7:',
        '1:2',
        '::1.2.3',
        '::1.2.3.04',
        '1:2:3:4:5:6:7:1.2.3.4',
        '::1.2.3.4:5',
      ],
      ...['1:2:3:4:5:6::1.2.3.4', '::a.2.3.4', 'fe80::1%', '[::1]', '1.2.3.4%eth0', '::1/128'],
    ];
    for (const s of not) {
      assert.equal(ipFamily(s, 'ipaddress'), 0, JSON.stringify(s));
      assert.equal(ipFamily(s, 'node:net'), 0, JSON.stringify(s));
      assert.equal(isIP(s), 0, `node:net agrees: ${JSON.stringify(s)}`);
    }
  });

  it("accepts exactly node:net's set in the node:net dialect, with the values a URL host has", () => {
    let v6 = 0;
    for (const s of candidates(40_000, 1)) {
      const want = isIP(s);
      assert.equal(ipFamily(s, 'node:net'), want, JSON.stringify(s));
      if (want !== 6) continue;
      v6++;
      const g = parseIPv6(s, 'node:net') as Uint16Array;
      const pct = s.indexOf('%');
      assert.equal(`[${urlForm(g)}]`, new URL(`http://[${pct < 0 ? s : s.slice(0, pct)}]/`).hostname, s);
    }
    assert.ok(v6 > 1000, `${v6} IPv6 addresses among the candidates`);
  });

  it('differs between the dialects only in zone ids: ipaddress takes any non-empty one without % or /', () => {
    let differ = 0;
    for (const s of candidates(40_000, 2)) {
      const py = ipFamily(s, 'ipaddress');
      const node = ipFamily(s, 'node:net');
      const pct = s.indexOf('%');
      if (pct < 0) {
        assert.equal(py, node, JSON.stringify(s));
        continue;
      }
      const zone = s.slice(pct + 1);
      const bare = ipFamily(s.slice(0, pct), 'ipaddress');
      const pyZone = zone !== '' && !zone.includes('%') && !zone.includes('/');
      assert.equal(py, bare === 6 && pyZone ? 6 : 0, JSON.stringify(s));
      if (py !== node) differ++;
      if (py === 6) assert.deepEqual(parseIPv6(s, 'ipaddress'), parseIPv6(s.slice(0, pct), 'ipaddress'));
    }
    assert.ok(differ > 100, `${differ} strings the dialects disagree on`);
  });
});
