import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { murmur2, partitionForKey } from '../src/index.ts';

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
