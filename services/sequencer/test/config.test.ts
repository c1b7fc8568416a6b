import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadSequencerConfig } from '../src/config.ts';

describe('loadSequencerConfig', () => {
  it('defaults to the contract topics and the sequencing.v1 constants', () => {
    const c = loadSequencerConfig({ KAFKA_BROKERS: 'a:9092, b:9092', REDIS_URL: 'redis://x:6379' });
    assert.deepEqual(c.kafkaBrokers, ['a:9092', 'b:9092']);
    assert.equal(c.flowsTopic, 'flows.v1');
    assert.equal(c.sequencesTopic, 'sequences.v1');
    assert.equal(c.lateTopic, 'flows.v1.late');
    assert.equal(c.spec.window_ms, 300_000);
    assert.equal(c.spec.max_flows, 64);
  });

  it('names the variable of a bad value', () => {
    assert.throws(
      () => loadSequencerConfig({ TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: 'soon' }),
      new ConfigError('TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS', 'expected an integer >= 1, got "soon"'),
    );
    assert.throws(
      () => loadSequencerConfig({ TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS: '100000' }),
      new ConfigError(
        'TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS',
        '100000 must be a multiple of the window length (300000)',
      ),
    );
    assert.throws(
      () => loadSequencerConfig({ TIDEWATCH_SEQUENCER_BIFLOW_TOLERANCE_MS: '70000' }),
      /^ConfigError: TIDEWATCH_SEQUENCER_\*: biflow_tolerance_ms \(70000\) must not exceed/,
    );
  });
});
