import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { murmur2, murmur2Ascii, NOT_ASCII, partitionForKey } from '../src/index.ts';

describe('partitionForKey', () => {
  it('matches kafkajs’ Java-compatible default partitioner for keys of every length', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 12 }, (_, i) => ({
      partitionId: i,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    for (let n = 0; n < 40; n++) {
      const key = `10.0.${n}.1|192.168.${n % 7}.${n}`.slice(0, n + 1);
      const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
      assert.equal(partitionForKey(key, 12), expected, `key ${JSON.stringify(key)}`);
    }
  });

  it('reproduces the Java client’s murmur2 reference values', () => {
    // From Kafka's UtilsTest.testMurmur2.
    assert.equal(murmur2(Buffer.from('21')), -973932308);
    assert.equal(murmur2(Buffer.from('foobar')), -790332482);
    assert.equal(murmur2(Buffer.from('a-little-bit-long-string')), -985981536);
    assert.equal(murmur2(Buffer.from('a-little-bit-longer-string')), -1486304829);
    assert.equal(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')), -58897971);
    assert.equal(murmur2(Buffer.from([97, 98, 99])), 479470107);
  });
});

describe('murmur2Ascii', () => {
  it('hashes an ASCII string like murmur2 of its bytes and writes those bytes, for every length', () => {
    const out = Buffer.alloc(80);
    for (let n = 0; n <= 70; n++) {
      const text = Array.from({ length: n }, (_, i) => String.fromCharCode((i * 37 + n) % 128)).join('');
      out.fill(0xff);
      assert.equal(murmur2Ascii(text, out), murmur2(Buffer.from(text)), `length ${n}`);
      assert.deepEqual(out.subarray(0, n), Buffer.from(text, 'latin1'), `bytes of length ${n}`);
      assert.equal(out[n], 0xff, `nothing written past length ${n}`);
      assert.equal(murmur2Ascii(text), murmur2(Buffer.from(text)), `length ${n} without out`);
    }
    // Kafka's UtilsTest.testMurmur2 values, from the string.
    assert.equal(murmur2Ascii('21'), -973932308);
    assert.equal(murmur2Ascii('a-little-bit-longer-string'), -1486304829);
  });

  it('reports NOT_ASCII for any character outside ASCII, wherever it is (then the UTF-8 bytes are hashed)', () => {
    // U+0100 and U+4E41 have a low byte below 0x80: a Latin-1 write would look ASCII.
    for (const odd of ['\u0080', 'é', 'ÿ', '\u0100', '\u4e41', '€', '😀', '\ud800']) {
      for (let at = 0; at <= 9; at++) {
        const text = `${'k'.repeat(at)}${odd}${'v'.repeat(9 - at)}`;
        assert.equal(murmur2Ascii(text), NOT_ASCII, JSON.stringify(text));
        assert.equal(murmur2Ascii(text, Buffer.alloc(64)), NOT_ASCII, JSON.stringify(text));
      }
    }
  });

  it('gives partitionForKey the same partition for a string key and for its UTF-8 bytes', () => {
    for (const key of ['10.0.0.1|192.168.1.2', '', 'ü-1', '\u0100x', '😀😀', 'x'.repeat(500)]) {
      for (const partitions of [1, 5, 12]) {
        assert.equal(
          partitionForKey(key, partitions),
          (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions,
          `${JSON.stringify(key)} over ${partitions}`,
        );
        assert.equal(partitionForKey(key, partitions), partitionForKey(Buffer.from(key), partitions));
      }
    }
  });
});
