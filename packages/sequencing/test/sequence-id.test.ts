import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SEQUENCING_SPEC, sequenceId } from '../src/index.ts';

describe('sequenceId (rule 5)', () => {
  it('is a lowercase UUID with version 5 and the RFC 4122 variant', () => {
    const id = sequenceId(SEQUENCING_SPEC.sequence_id_namespace, '10.0.0.1', '10.0.0.2', 300000, 0);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('is the first 16 bytes of sha256(namespace|src|dst|window|part) with version and variant bits set', () => {
    const digest = createHash('sha256')
      .update('tidewatch.sequence.v1|192.168.1.5|8.8.8.8|1500000000000|2')
      .digest('hex');
    const id = sequenceId('tidewatch.sequence.v1', '192.168.1.5', '8.8.8.8', 1500000000000, 2).replaceAll(
      '-',
      '',
    );
    assert.equal(id.slice(0, 12), digest.slice(0, 12));
    assert.equal(id[12], '5');
    assert.equal(id.slice(13, 16), digest.slice(13, 16));
    assert.equal(
      Number.parseInt(id[16] as string, 16),
      (Number.parseInt(digest[16] as string, 16) & 0x3) | 0x8,
    );
    assert.equal(id.slice(17), digest.slice(17, 32));
  });

  it('depends on direction, window and part, and on nothing else', () => {
    const ns = SEQUENCING_SPEC.sequence_id_namespace;
    const a = sequenceId(ns, '10.0.0.1', '10.0.0.2', 0, 0);
    assert.equal(a, sequenceId(ns, '10.0.0.1', '10.0.0.2', 0, 0));
    const others = [
      sequenceId(ns, '10.0.0.2', '10.0.0.1', 0, 0),
      sequenceId(ns, '10.0.0.1', '10.0.0.2', 300000, 0),
      sequenceId(ns, '10.0.0.1', '10.0.0.2', 0, 1),
      sequenceId('other', '10.0.0.1', '10.0.0.2', 0, 0),
    ];
    assert.equal(new Set([a, ...others]).size, 5);
  });

  it('equals the digest of the UTF-8 text for every kind of input (IPv6, many parts, non-ASCII, long)', () => {
    const reference = (ns: string, src: string, dst: string, ws: number, part: number): string => {
      const hex = createHash('sha256').update(`${ns}|${src}|${dst}|${ws}|${part}`, 'utf8').digest('hex');
      const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
    };
    const ns = SEQUENCING_SPEC.sequence_id_namespace;
    const cases: [string, string, string, number, number][] = [
      [ns, '2001:db8::1', 'fe80::a00:27ff:fe4e:66a1', 1700000100000, 0],
      [ns, '10.0.0.1', '10.0.0.2', 1700000100000, 9],
      [ns, '10.0.0.1', '10.0.0.2', 1700000100000, 10],
      [ns, '10.0.0.1', '10.0.0.2', 1700000400000, 123],
      [ns, '10.0.0.1', '10.0.0.2', -300000, 0],
      [ns, '10.0.0.1', '10.0.0.2', 0, 0],
      ['tidewatch·séquence', '10.0.0.1', '10.0.0.2', 300000, 1],
      [ns, 'ä', '10.0.0.2', 300000, 0],
      [ns.repeat(40), '10.0.0.1', '10.0.0.2', 300000, 0],
      ['', '', '', 0, 0],
    ];
    // The same window start twice in a row and after another one (the formatted start is kept).
    for (const c of [...cases, ...cases]) assert.equal(sequenceId(...c), reference(...c), c.join('|'));
    for (let i = 0; i < 2000; i++) {
      const c: [string, string, string, number, number] = [
        ns,
        `10.${i % 7}.${(i * 13) % 256}.${(i * 31) % 256}`,
        `172.16.${i % 50}.${(i * 7) % 250}`,
        1700000000000 + Math.floor(i / 100) * 300000,
        i % 12,
      ];
      assert.equal(sequenceId(...c), reference(...c));
    }
  });
});
