import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  boolean,
  ConfigError,
  flag,
  hostPortList,
  integer,
  list,
  isSecretName,
  loadConfig,
  maskSecrets,
  number,
  numbersFor,
  port,
  RUNTIME_VARS,
  secret,
  url,
  z,
} from '../src/index.ts';

const schema = z.object({
  TIDEWATCH_HTTP_PORT: port(8080),
  KAFKA_BROKERS: hostPortList(),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  TIDEWATCH_ADMIN_KEY: secret(16).optional(),
  TIDEWATCH_BATCH: integer(1, 10_000, 256),
  TIDEWATCH_GPU: boolean(false),
});

const base = { KAFKA_BROKERS: '127.0.0.1:9092' };

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  it('coerces values and applies defaults', () => {
    const config = loadConfig(schema, {
      KAFKA_BROKERS: ' 127.0.0.1:9092, kafka-1.internal:9093 ,[::1]:9094',
      TIDEWATCH_GPU: 'yes',
      TIDEWATCH_BATCH: '',
    });
    assert.deepEqual(config, {
      TIDEWATCH_HTTP_PORT: 8080,
      KAFKA_BROKERS: ['127.0.0.1:9092', 'kafka-1.internal:9093', '[::1]:9094'],
      TIDEWATCH_BATCH: 256,
      TIDEWATCH_GPU: true,
    });
  });

  it('names the variable, what it expected and what it got', () => {
    const e = configError(() => loadConfig(schema, { ...base, TIDEWATCH_HTTP_PORT: 'abc' }));
    assert.equal(e.variable, 'TIDEWATCH_HTTP_PORT');
    assert.equal(e.message, 'TIDEWATCH_HTTP_PORT: expected an integer 0-65535, got "abc"');
    assert.equal(
      configError(() => loadConfig(schema, { ...base, TIDEWATCH_HTTP_PORT: '70000' })).message,
      'TIDEWATCH_HTTP_PORT: expected an integer 0-65535, got "70000"',
    );
    assert.equal(
      configError(() => loadConfig(schema, { ...base, REDIS_URL: 'http://x' })).message,
      'REDIS_URL: expected a redis:// or rediss:// URL, got "http://x"',
    );
    assert.equal(
      configError(() => loadConfig(schema, { ...base, TIDEWATCH_GPU: 'maybe' })).message,
      'TIDEWATCH_GPU: expected true or false (or 1/0, yes/no), got "maybe"',
    );
    assert.equal(
      configError(() => loadConfig(schema, { KAFKA_BROKERS: 'localhost' })).message,
      'KAFKA_BROKERS: expected a comma-separated list of host:port, got "localhost"',
    );
  });

  it('reports a missing required variable', () => {
    const e = configError(() => loadConfig(schema, {}));
    assert.equal(e.variable, 'KAFKA_BROKERS');
    assert.match(e.message, /^KAFKA_BROKERS: required but not set/);
  });

  it('lists every bad variable at once', () => {
    const e = configError(() => loadConfig(schema, { TIDEWATCH_HTTP_PORT: '-1', TIDEWATCH_BATCH: '0' }));
    assert.deepEqual(e.message.split('\n'), [
      'TIDEWATCH_HTTP_PORT: expected an integer 0-65535, got "-1"',
      'KAFKA_BROKERS: required but not set (expected a comma-separated list of host:port)',
      'TIDEWATCH_BATCH: expected an integer 1-10000, got "0"',
    ]);
  });

  it('never echoes a malformed secret', () => {
    const e = configError(() => loadConfig(schema, { ...base, TIDEWATCH_ADMIN_KEY: 'short-key' }));
    assert.equal(
      e.message,
      'TIDEWATCH_ADMIN_KEY: expected a secret of at least 16 characters, got a value of 9 characters',
    );
  });

  it('reads X from the file named by X_FILE, and variables from a JSON config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-config-'));
    try {
      writeFileSync(join(dir, 'admin-key'), 'a-very-long-admin-key-0123\n');
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ TIDEWATCH_HTTP_PORT: 9000, KAFKA_BROKERS: ['a:1', 'b:2'] }),
      );
      const config = loadConfig(
        schema,
        { TIDEWATCH_ADMIN_KEY_FILE: join(dir, 'admin-key'), TIDEWATCH_HTTP_PORT: '9001' },
        { file: join(dir, 'config.json') },
      );
      assert.equal(config.TIDEWATCH_ADMIN_KEY, 'a-very-long-admin-key-0123');
      assert.equal(config.TIDEWATCH_HTTP_PORT, 9001, 'the environment wins over the file');
      assert.deepEqual(config.KAFKA_BROKERS, ['a:1', 'b:2']);
      const missing = configError(() =>
        loadConfig(schema, { ...base, TIDEWATCH_ADMIN_KEY_FILE: join(dir, 'nope') }),
      );
      assert.equal(missing.variable, 'TIDEWATCH_ADMIN_KEY_FILE');
      assert.match(missing.message, /^TIDEWATCH_ADMIN_KEY_FILE: cannot read .*nope: ENOENT/);
      writeFileSync(join(dir, 'empty'), ' \n');
      const empty = configError(() =>
        loadConfig(schema, { ...base, TIDEWATCH_ADMIN_KEY_FILE: join(dir, 'empty') }),
      );
      assert.equal(empty.message, `TIDEWATCH_ADMIN_KEY_FILE: ${join(dir, 'empty')} is empty`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts the DESIGN.md runtime names with their defaults', () => {
    const config = loadConfig(z.object(RUNTIME_VARS), {});
    assert.deepEqual(config, {
      TIDEWATCH_HTTP_PORT: 8080,
      TIDEWATCH_DATA_DIR: './data',
      TIDEWATCH_NETFLOW_PORT: 2055,
      TIDEWATCH_IPFIX_PORT: 4739,
      TIDEWATCH_SFLOW_PORT: 6343,
      LOG_LEVEL: 'info',
    });
    assert.equal(loadConfig(z.object(RUNTIME_PICK), { TIDEWATCH_SFLOW_PORT: '0' }).TIDEWATCH_SFLOW_PORT, 0);
  });
});

describe('service readers', () => {
  const readers = z.object({
    SWITCH: flag(true),
    ITEMS: list(),
    COUNT: integer(1, Number.POSITIVE_INFINITY, 5),
    RATIO: number(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 0.5),
    LEVELS: numbersFor(['beacon', 'scan'], 0, 1),
  });

  it('flag takes exactly 1, 0, true or false', () => {
    assert.equal(loadConfig(readers, {}).SWITCH, true);
    assert.equal(loadConfig(readers, { SWITCH: '0' }).SWITCH, false);
    assert.equal(loadConfig(readers, { SWITCH: 'false' }).SWITCH, false);
    assert.equal(loadConfig(readers, { SWITCH: '1' }).SWITCH, true);
    assert.equal(loadConfig(readers, { SWITCH: 'true' }).SWITCH, true);
    for (const bad of ['yes', 'TRUE', 'off']) {
      assert.equal(
        configError(() => loadConfig(readers, { SWITCH: bad })).message,
        `SWITCH: expected 1, 0, true or false, got ${JSON.stringify(bad)}`,
      );
    }
  });

  it('list trims items and drops empty ones; unset is empty', () => {
    assert.deepEqual(loadConfig(readers, {}).ITEMS, []);
    assert.deepEqual(loadConfig(readers, { ITEMS: ' a:1, ,b ,' }).ITEMS, ['a:1', 'b']);
  });

  it('numbersFor takes name=number pairs of known names within range; unset and none are none', () => {
    assert.deepEqual(loadConfig(readers, {}).LEVELS, {});
    assert.deepEqual(loadConfig(readers, { LEVELS: 'none' }).LEVELS, {});
    assert.deepEqual(loadConfig(readers, { LEVELS: ' beacon=0.9, scan = 0.85 ' }).LEVELS, {
      beacon: 0.9,
      scan: 0.85,
    });
    const expected = 'expected comma-separated name=number pairs, names among beacon, scan, numbers 0-1';
    for (const bad of ['bogus=0.5', 'beacon=2', 'beacon', 'beacon=0.9,beacon=0.8', 'beacon=x', 'none,scan=1'])
      assert.equal(
        configError(() => loadConfig(readers, { LEVELS: bad })).message,
        `LEVELS: ${expected}, got "${bad}"`,
        bad,
      );
  });

  it('integer and number take open-ended ranges', () => {
    assert.equal(loadConfig(readers, { COUNT: '123456789012' }).COUNT, 123_456_789_012);
    assert.equal(
      configError(() => loadConfig(readers, { COUNT: '0' })).message,
      'COUNT: expected an integer >= 1, got "0"',
    );
    assert.equal(loadConfig(readers, { RATIO: '-2.5e3' }).RATIO, -2500);
    assert.equal(
      configError(() => loadConfig(readers, { RATIO: 'high' })).message,
      'RATIO: expected a number, got "high"',
    );
    assert.equal(
      configError(() => loadConfig(readers, { RATIO: '1e999' })).message,
      'RATIO: expected a number, got "1e999"',
    );
  });
});

const RUNTIME_PICK = { TIDEWATCH_SFLOW_PORT: RUNTIME_VARS.TIDEWATCH_SFLOW_PORT };

describe('maskSecrets', () => {
  it('masks secret-named values and credentials inside URLs, and leaves the rest', () => {
    const masked = maskSecrets({
      TIDEWATCH_ADMIN_KEY: 'supersecretadminkey',
      TIDEWATCH_ADMIN_KEY_FILE: '/run/secrets/admin',
      REDIS_URL: 'redis://default:hunter2@redis:6379/0',
      QDRANT_URL: 'https://qdrant:6333',
      WEBHOOK: 'https://token-only@hooks.example/x?api_key=abc&q=1',
      KAFKA_BROKERS: ['a:1'],
      kafka: { sasl: { username: 'svc', password: 'pw' }, apiToken: 'tok' },
      TIDEWATCH_SECRET_UNSET: undefined,
      port: 8080,
    });
    assert.deepEqual(masked, {
      TIDEWATCH_ADMIN_KEY: '***',
      TIDEWATCH_ADMIN_KEY_FILE: '/run/secrets/admin',
      REDIS_URL: 'redis://default:***@redis:6379/0',
      QDRANT_URL: 'https://qdrant:6333',
      WEBHOOK: 'https://***@hooks.example/x?api_key=***&q=1',
      KAFKA_BROKERS: ['a:1'],
      kafka: { sasl: { username: 'svc', password: '***' }, apiToken: '***' },
      TIDEWATCH_SECRET_UNSET: undefined,
      port: 8080,
    });
  });

  it('recognises secret names without catching ordinary ones', () => {
    for (const name of [
      'TIDEWATCH_ADMIN_KEY',
      'password',
      'apiKey',
      'SASL_PASSWORD',
      'authToken',
      'secret',
    ]) {
      assert.equal(isSecretName(name), true, name);
    }
    for (const name of [
      'KAFKA_BROKERS',
      'keyspace',
      'monkey',
      'author',
      'TIDEWATCH_ADMIN_KEY_FILE',
      'port',
    ]) {
      assert.equal(isSecretName(name), false, name);
    }
  });
});

describe('a program with bad configuration', () => {
  const program = fileURLToPath(new URL('./fixtures/print-config.ts', import.meta.url));
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', program], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      encoding: 'utf8',
    });

  it('exits 1 and names the malformed variable on stderr', () => {
    const result = run({ KAFKA_BROKERS: '127.0.0.1:9092', TIDEWATCH_HTTP_PORT: 'abc' });
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /TIDEWATCH_HTTP_PORT: expected an integer 0-65535, got "abc"/);
  });

  it('exits 1 and names the missing variable on stderr', () => {
    const result = run({});
    assert.equal(result.status, 1);
    assert.match(result.stderr, /KAFKA_BROKERS: required but not set/);
  });

  it('starts with a good configuration and prints it masked', () => {
    const result = run({
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL: 'redis://:pw@127.0.0.1:6379',
      TIDEWATCH_ADMIN_KEY: '0123456789abcdef0123',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      TIDEWATCH_HTTP_PORT: 8080,
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      REDIS_URL: 'redis://:***@127.0.0.1:6379',
      TIDEWATCH_ADMIN_KEY: '***',
    });
  });
});
