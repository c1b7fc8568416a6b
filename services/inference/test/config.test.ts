import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, describeConfig, loadInferenceConfig } from '../src/config.ts';

describe('loadInferenceConfig', () => {
  it('defaults to the contract topics and the documented limits', () => {
    const c = loadInferenceConfig({});
    assert.deepEqual(c.kafkaBrokers, []);
    assert.equal(c.sequencesTopic, 'sequences.v1');
    assert.equal(c.findingsTopic, 'findings.v1');
    assert.equal(c.batchSize, 512);
    assert.equal(c.maxPollRecords, 2048);
    assert.equal(c.partitionConcurrency, 2);
    assert.equal(c.sessionTimeoutMs, 30_000);
    assert.equal(c.device, 'auto');
    assert.equal(c.intraOpThreads, undefined);
    assert.equal(c.modelWorker, true);
    assert.equal(c.threadSpinning, false);
    assert.equal(c.flagThreshold, 0.8);
    assert.equal(c.subScores, 'v7');
    assert.deepEqual(c.flagSubScores, ['beacon', 'scan', 'brute_force', 'exfiltration', 'reflection']);
    assert.equal(c.neighbours, 3);
    assert.equal(c.dataDir, join(process.cwd(), '.tidewatch'));
    assert.equal(c.retentionMs, 0);
    assert.equal(c.httpPort, 8083);
    assert.equal(c.grpcPort, 50051);
  });

  it('reads the variables it names', () => {
    const c = loadInferenceConfig({
      KAFKA_BROKERS: 'a:9092, b:9092',
      TIDEWATCH_INFERENCE_DEVICE: 'cpu',
      TIDEWATCH_INFERENCE_THREADS: '2',
      TIDEWATCH_INFERENCE_WORKER: '0',
      TIDEWATCH_INFERENCE_SPIN: 'true',
      TIDEWATCH_INFERENCE_FLAG_THRESHOLD: '0.65',
      TIDEWATCH_INFERENCE_SUB_SCORES: 'v1',
      TIDEWATCH_RETENTION_DAYS: '2',
      TIDEWATCH_MODEL_VERSION: '',
    });
    assert.deepEqual(c.kafkaBrokers, ['a:9092', 'b:9092']);
    assert.equal(c.device, 'cpu');
    assert.equal(c.intraOpThreads, 2);
    assert.equal(c.modelWorker, false);
    assert.equal(c.threadSpinning, true);
    assert.equal(c.flagThreshold, 0.65);
    assert.equal(c.subScores, 'v1');
    assert.equal(c.retentionMs, 2 * 86_400_000);
    assert.deepEqual(
      loadInferenceConfig({ TIDEWATCH_INFERENCE_FLAGS: ' beacon,reflection,beacon ' }).flagSubScores,
      ['beacon', 'reflection'],
    );
    assert.deepEqual(loadInferenceConfig({ TIDEWATCH_INFERENCE_FLAGS: 'none' }).flagSubScores, []);
    assert.deepEqual(c.flagThresholds, {});
    assert.deepEqual(
      loadInferenceConfig({ TIDEWATCH_INFERENCE_FLAG_THRESHOLDS: 'beacon=0.9,reflection=0.7' })
        .flagThresholds,
      { beacon: 0.9, reflection: 0.7 },
    );
    assert.throws(
      () => loadInferenceConfig({ TIDEWATCH_INFERENCE_FLAG_THRESHOLDS: 'beacons=0.9' }),
      new ConfigError(
        'TIDEWATCH_INFERENCE_FLAG_THRESHOLDS',
        'expected comma-separated name=number pairs, names among beacon, scan, brute_force, exfiltration, reflection, numbers 0-1, got "beacons=0.9"',
      ),
    );
    assert.equal(c.modelVersion, undefined, 'an empty variable counts as unset');
  });

  it('names the variable of a bad value and what was expected', () => {
    assert.throws(
      () => loadInferenceConfig({ TIDEWATCH_INFERENCE_BATCH_SIZE: '9000' }),
      new ConfigError('TIDEWATCH_INFERENCE_BATCH_SIZE', 'expected an integer 1-8192, got "9000"'),
    );
    assert.throws(
      () => loadInferenceConfig({ TIDEWATCH_INFERENCE_DEVICE: 'gpu' }),
      new ConfigError('TIDEWATCH_INFERENCE_DEVICE', 'expected one of auto, cpu, cuda, got "gpu"'),
    );
    assert.throws(
      () => loadInferenceConfig({ TIDEWATCH_INFERENCE_WORKER: 'yes' }),
      new ConfigError('TIDEWATCH_INFERENCE_WORKER', 'expected 1, 0, true or false, got "yes"'),
    );
    assert.throws(
      () => loadInferenceConfig({ TIDEWATCH_INFERENCE_FLAG_THRESHOLD: '1.5' }),
      new ConfigError('TIDEWATCH_INFERENCE_FLAG_THRESHOLD', 'expected a number 0-1, got "1.5"'),
    );
    assert.throws(
      () => loadInferenceConfig({ TIDEWATCH_INFERENCE_SUB_SCORES: 'v8' }),
      new ConfigError(
        'TIDEWATCH_INFERENCE_SUB_SCORES',
        'expected one of v1, v2, v3, v4, v5, v6, v7, got "v8"',
      ),
    );
    const expected =
      'expected a comma-separated list of beacon, scan, brute_force, exfiltration, reflection, or none';
    for (const bad of ['scan,bogus', 'none,scan', ','])
      assert.throws(
        () => loadInferenceConfig({ TIDEWATCH_INFERENCE_FLAGS: bad }),
        new ConfigError('TIDEWATCH_INFERENCE_FLAGS', `${expected}, got "${bad}"`),
      );
  });

  it('masks secrets in the start-up description', () => {
    const described = describeConfig(
      loadInferenceConfig({
        TIDEWATCH_ADMIN_KEY: 'admin-key-0123456789',
        QDRANT_API_KEY: 'qdrant-key',
        REDIS_URL: 'redis://user:pw@redis:6379',
      }),
    );
    assert.equal(described['adminKey'], '***');
    assert.equal(described['qdrantApiKey'], '***');
    assert.equal(described['redisUrl'], 'redis://user:***@redis:6379');
    assert.equal(described['namespace'], 'tidewatch');
  });
});
