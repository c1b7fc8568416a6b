import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, KAFKA_VARS, loadConfig, RUNTIME_VARS, z } from '@tidewatch/config';
import { createMessageBus, InProcessBus, KafkaBus, kafkaSettings } from '../src/index.ts';

const schema = z.object({
  KAFKA_BROKERS: RUNTIME_VARS.KAFKA_BROKERS,
  TIDEWATCH_DATA_DIR: RUNTIME_VARS.TIDEWATCH_DATA_DIR,
  ...KAFKA_VARS,
});

describe('createMessageBus', () => {
  it('is a KafkaBus when KAFKA_BROKERS is set and a persisted InProcessBus otherwise', async () => {
    const kafka = createMessageBus(loadConfig(schema, { KAFKA_BROKERS: '127.0.0.1:9' }), { clientId: 'svc' });
    assert.ok(kafka instanceof KafkaBus);
    const dir = mkdtempSync(join(tmpdir(), 'tw-bus-data-'));
    try {
      const local = createMessageBus(loadConfig(schema, { TIDEWATCH_DATA_DIR: dir }), { clientId: 'svc' });
      assert.ok(local instanceof InProcessBus);
      await local.ensureTopics([{ topic: 'flows.v1' }]);
      assert.ok(existsSync(join(dir, 'bus', 'topics.json')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps TLS and SASL variables to the client settings', () => {
    const config = loadConfig(schema, {
      KAFKA_BROKERS: 'b1:9093,b2:9093',
      KAFKA_TLS: 'true',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'tidewatch',
      KAFKA_SASL_PASSWORD: 'pw',
      KAFKA_CLIENT_ID: 'sequencer-1',
    });
    const { logger: _l, ...settings } = kafkaSettings(
      { ...config, KAFKA_BROKERS: config.KAFKA_BROKERS! },
      {
        clientId: 'sequencer',
      },
    );
    assert.deepEqual(settings, {
      brokers: ['b1:9093', 'b2:9093'],
      clientId: 'sequencer-1',
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'tidewatch', password: 'pw' },
    });
  });

  it('names the missing variable of an incomplete SASL or TLS setup', () => {
    const attempt = (env: Record<string, string>) => () =>
      createMessageBus(loadConfig(schema, { KAFKA_BROKERS: 'b:1', ...env }), { clientId: 'svc' });
    assert.throws(attempt({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'pw' }), {
      name: 'ConfigError',
      message: 'KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is plain',
    });
    assert.throws(attempt({ KAFKA_SASL_USERNAME: 'u' }), {
      message: 'KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME/PASSWORD are set',
    });
    assert.throws(attempt({ KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: '/nonexistent/ca.pem' }), (e: unknown) => {
      return (
        e instanceof ConfigError &&
        /^KAFKA_TLS_CA_FILE: cannot read \/nonexistent\/ca.pem: ENOENT/.test(e.message)
      );
    });
    assert.throws(() => loadConfig(schema, { KAFKA_SASL_MECHANISM: 'gssapi' }), {
      message: 'KAFKA_SASL_MECHANISM: expected one of plain, scram-sha-256, scram-sha-512, got "gssapi"',
    });
  });
});
