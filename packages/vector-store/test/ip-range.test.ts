import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import {
  InvalidIpFilterError,
  ipMatches,
  ipNumeric,
  ipv6ToBigInt,
  parseIpFilter,
  splitV6,
} from '../src/index.ts';

/** IPv6 text from a 128-bit value, uncompressed, with an optional zone id. */
function v6Text(n: bigint, zone = ''): string {
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  return g.join(':') + zone;
}

describe('ip-range (the store’s address numbers and CIDR filters)', () => {
  it('stores an IPv6 address as the 48/48/32-bit parts of its 128-bit value (the Qdrant payload)', () => {
    let x = 0x0123456789abcdefn;
    for (let i = 0; i < 500; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
      const n = (x << 64n) | (x ^ 0x5555aaaa5555aaaan);
      const text = v6Text(n, i % 3 === 0 ? '%eth0' : '');
      assert.equal(ipv6ToBigInt(text), n);
      assert.deepEqual(ipNumeric(text), { v4: null, v6: splitV6(n) });
      const [hi, mid, lo] = splitV6(n);
      assert.equal((BigInt(hi) << 80n) | (BigInt(mid) << 32n) | BigInt(lo), n);
    }
    assert.deepEqual(ipNumeric('10.0.0.1'), { v4: 0x0a000001, v6: null });
    assert.deepEqual(ipNumeric('::ffff:10.0.0.1'), { v4: null, v6: [0, 0xffff, 0x0a000001] });
  });

  it('takes exactly the addresses node:net takes, zone ids included', () => {
    for (const ip of [
      'fe80::1%eth0',
      'fe80::1%a.b-c:d',
      'fe80::1%Ethernet 2',
      'fe80::1%a/b',
      'fe80::1%',
      '01.2.3.4',
    ]) {
      const ok = isIP(ip) !== 0;
      assert.equal(ipNumeric(ip).v4 !== null || ipNumeric(ip).v6 !== null, ok, ip);
      if (ok) assert.deepEqual(parseIpFilter(ip), { kind: 'exact', ip });
      else assert.throws(() => parseIpFilter(ip), InvalidIpFilterError);
    }
  });

  it('matches a CIDR by value whatever the text form of the address', () => {
    const m = parseIpFilter('2001:DB8:1::/48');
    assert.ok(ipMatches(m, '2001:db8:1:ffff:ffff:ffff:ffff:ffff'));
    assert.ok(ipMatches(m, '2001:0db8:0001::1%eth0'));
    assert.ok(!ipMatches(m, '2001:db8:2::'));
    assert.ok(!ipMatches(m, '10.0.0.1'));
    assert.ok(!ipMatches(m, 'not an ip'));
    const v4 = parseIpFilter('10.1.2.3/16');
    assert.deepEqual(v4, { kind: 'v4', lo: 0x0a010000, hi: 0x0a01ffff });
    assert.ok(ipMatches(v4, '10.1.255.255'));
    assert.ok(!ipMatches(v4, '10.01.0.1'));
    assert.ok(!ipMatches(v4, '::ffff:10.1.0.1'));
    assert.throws(() => parseIpFilter('10.1.2.3/33'), InvalidIpFilterError);
    assert.throws(() => parseIpFilter('::/129'), InvalidIpFilterError);
    assert.throws(() => parseIpFilter('10.1.2/8'), InvalidIpFilterError);
    // A prefix is 1-3 decimal digits: an empty, hex, signed or spaced one is refused, not read as a number.
    for (const bad of [
      '10.0.0.0/',
      '10.0.0.0/0x18',
      '10.0.0.0/+8',
      '10.0.0.0/ 8',
      '10.0.0.0/8.0',
      '::/',
      '::/1e2',
    ])
      assert.throws(() => parseIpFilter(bad), {
        name: InvalidIpFilterError.name,
        message: new RegExp(`prefix length in '${bad.replace(/[.+]/g, '\\$&')}'`),
      });
    assert.deepEqual(parseIpFilter('10.0.0.0/08'), { kind: 'v4', lo: 0x0a000000, hi: 0x0affffff });
  });
});
