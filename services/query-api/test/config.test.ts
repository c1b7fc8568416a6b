import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, maskedConfig } from '../src/config.ts';

const KEY = 'admin-key-0123456789';

describe('query-api loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({});
    assert.equal(c.httpPort, 8080);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.dataDir, './data');
    assert.equal(c.adminKey, null);
    assert.equal(c.redisUrl, null);
    assert.deepEqual(c.kafkaBrokers, []);
    assert.equal(c.namespace, 'tidewatch');
    assert.equal(c.rateLimitPerMinute, 6000);
    assert.equal(c.bodyLimitBytes, 1_048_576);
    assert.equal(c.suppressionThreshold, 0.95);
    assert.deepEqual(c.webhookRetryMs, [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000]);
    assert.equal(c.webhookTimeoutMs, 15_000);
    assert.equal(c.llm, null);
    assert.deepEqual(c.sinks, {});
    assert.equal(c.consumers, true);
    assert.equal(c.embeddingDim, 64);
    assert.equal(c.inferenceAdminUrl, null);
  });

  it('reads lists, sinks and the consumers switch', () => {
    const c = loadConfig({
      KAFKA_BROKERS: 'a:9092, b:9092',
      TIDEWATCH_CORS_ORIGINS: 'https://a.example,https://b.example',
      TIDEWATCH_WEBHOOK_RETRY_MS: '10, 20.5',
      TIDEWATCH_SPLUNK_HEC_URL: 'https://splunk:8088',
      TIDEWATCH_SPLUNK_HEC_TOKEN: 'hec-token',
      TIDEWATCH_ELASTIC_URL: 'https://es:9200',
      TIDEWATCH_LLM_URL: 'http://llm',
      TIDEWATCH_QUERY_CONSUMERS: 'false',
    });
    assert.deepEqual(c.kafkaBrokers, ['a:9092', 'b:9092']);
    assert.deepEqual(c.corsOrigins, ['https://a.example', 'https://b.example']);
    assert.deepEqual(c.webhookRetryMs, [10, 20.5]);
    assert.deepEqual(c.sinks.splunk, {
      url: 'https://splunk:8088',
      token: 'hec-token',
      batchSize: 100,
      ackTimeoutMs: 30_000,
    });
    assert.deepEqual(c.sinks.elastic, {
      url: 'https://es:9200',
      index: 'tidewatch-findings',
      batchSize: 500,
    });
    assert.deepEqual(c.llm, { url: 'http://llm', model: 'gpt-4o-mini', apiKey: null });
    assert.equal(c.consumers, false);
  });

  it('names the variable of a bad value and what was wrong', () => {
    assert.throws(
      () => loadConfig({ TIDEWATCH_BODY_LIMIT_BYTES: '10' }),
      new ConfigError('TIDEWATCH_BODY_LIMIT_BYTES', 'expected an integer >= 1024, got "10"'),
    );
    assert.throws(
      () => loadConfig({ TIDEWATCH_ADMIN_KEY: 'short' }),
      new ConfigError(
        'TIDEWATCH_ADMIN_KEY',
        'expected a secret of at least 16 characters, got a value of 5 characters',
      ),
    );
    assert.throws(
      () => loadConfig({ TIDEWATCH_WEBHOOK_RETRY_MS: '5,soon' }),
      new ConfigError(
        'TIDEWATCH_WEBHOOK_RETRY_MS',
        'expected a comma-separated list of milliseconds, got "5,soon"',
      ),
    );
    assert.throws(
      () => loadConfig({ TIDEWATCH_SPLUNK_HEC_URL: 'https://splunk:8088' }),
      new ConfigError('TIDEWATCH_SPLUNK_HEC_TOKEN', 'required with TIDEWATCH_SPLUNK_HEC_URL'),
    );
    assert.throws(
      () =>
        loadConfig({
          TIDEWATCH_SENTINEL_ENDPOINT: 'https://dce',
          TIDEWATCH_SENTINEL_DCR_ID: 'dcr',
          TIDEWATCH_SENTINEL_STREAM: 'Custom-Tidewatch',
          TIDEWATCH_SENTINEL_TENANT_ID: 'tenant',
        }),
      /^ConfigError: TIDEWATCH_SENTINEL_CLIENT_ID: required with TIDEWATCH_SENTINEL_ENDPOINT\nTIDEWATCH_SENTINEL_CLIENT_SECRET: required with TIDEWATCH_SENTINEL_ENDPOINT$/,
    );
  });

  it('reads the admin key from TIDEWATCH_ADMIN_KEY_FILE; the variable wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-query-config-'));
    try {
      writeFileSync(join(dir, 'key'), `${KEY}-from-file\n`);
      writeFileSync(join(dir, 'empty'), '\n');
      assert.equal(loadConfig({ TIDEWATCH_ADMIN_KEY_FILE: join(dir, 'key') }).adminKey, `${KEY}-from-file`);
      assert.equal(
        loadConfig({ TIDEWATCH_ADMIN_KEY: KEY, TIDEWATCH_ADMIN_KEY_FILE: join(dir, 'key') }).adminKey,
        KEY,
      );
      assert.throws(
        () => loadConfig({ TIDEWATCH_ADMIN_KEY_FILE: join(dir, 'empty') }),
        new ConfigError('TIDEWATCH_ADMIN_KEY_FILE', `${join(dir, 'empty')} is empty`),
      );
      assert.throws(
        () => loadConfig({ TIDEWATCH_ADMIN_KEY_FILE: join(dir, 'nope') }),
        /^ConfigError: TIDEWATCH_ADMIN_KEY_FILE: cannot read .*nope: ENOENT/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('masks secrets for the start-up log', () => {
    const masked = maskedConfig(
      loadConfig({
        TIDEWATCH_ADMIN_KEY: KEY,
        REDIS_URL: 'redis://user:pw@redis:6379',
        TIDEWATCH_SPLUNK_HEC_URL: 'https://splunk:8088',
        TIDEWATCH_SPLUNK_HEC_TOKEN: 'hec-token',
        TIDEWATCH_LLM_URL: 'http://llm',
        TIDEWATCH_LLM_API_KEY: 'llm-key',
      }),
    );
    assert.equal(masked['adminKey'], '***');
    assert.equal(masked['redisUrl'], 'redis://user:***@redis:6379');
    assert.deepEqual(masked['llm'], { url: 'http://llm', model: 'gpt-4o-mini', apiKey: '***' });
    assert.equal((masked['sinks'] as { splunk: { token: string } }).splunk.token, '***');
    assert.equal(masked['namespace'], 'tidewatch');
  });
});
