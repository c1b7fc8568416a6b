import { readFileSync } from 'node:fs';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface SinkConfig {
  splunk?: { url: string; token: string; index?: string; batchSize: number; ackTimeoutMs: number };
  elastic?: { url: string; index: string; apiKey?: string; batchSize: number };
  sentinel?: {
    endpoint: string;
    dcrId: string;
    stream: string;
    tenantId: string;
    clientId: string;
    clientSecret: string;
    tokenUrl?: string;
    batchSize: number;
  };
}

export interface QueryApiConfig {
  httpPort: number;
  host: string;
  dataDir: string;
  adminKey: string | null;
  redisUrl: string | null;
  kafkaBrokers: string[];
  /** Prefix for Redis keys, consumer groups and the webhook dead-letter topic (tests isolate by it). */
  namespace: string;
  corsOrigins: string[];
  rateLimitPerMinute: number;
  bodyLimitBytes: number;
  /** Default similarity above which a suppression rule also suppresses stored findings. */
  suppressionThreshold: number;
  /** Retry delays for webhook deliveries (ms); jitter of ±20% is added to each. */
  webhookRetryMs: number[];
  webhookTimeoutMs: number;
  llm: { url: string; model: string; apiKey: string | null } | null;
  sinks: SinkConfig;
  /** Consumers on sequences.v1/findings.v1 (evidence, aggregates, webhooks, sinks). */
  consumers: boolean;
  /** Embedding dimension of the default embedded vector store (when none is passed in). */
  embeddingDim: number;
  /** The inference service's HTTP base URL, for model activation when it runs in another process. */
  inferenceAdminUrl?: string | null;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function num(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new ConfigError(`${name} must be a number, got "${raw}"`);
  return n;
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function readAdminKey(env: Env): string | null {
  if (env['TIDEWATCH_ADMIN_KEY']) return env['TIDEWATCH_ADMIN_KEY'];
  const file = env['TIDEWATCH_ADMIN_KEY_FILE'];
  if (!file) return null;
  try {
    const key = readFileSync(file, 'utf8').trim();
    if (!key) throw new ConfigError(`TIDEWATCH_ADMIN_KEY_FILE ${file} is empty`);
    return key;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`TIDEWATCH_ADMIN_KEY_FILE ${file} cannot be read: ${(e as Error).message}`);
  }
}

export function loadConfig(env: Env = process.env): QueryApiConfig {
  const adminKey = readAdminKey(env);
  if (adminKey !== null && adminKey.length < 16)
    throw new ConfigError('TIDEWATCH_ADMIN_KEY must be at least 16 characters');
  const sinks: SinkConfig = {};
  if (env['TIDEWATCH_SPLUNK_HEC_URL']) {
    const token = env['TIDEWATCH_SPLUNK_HEC_TOKEN'];
    if (!token) throw new ConfigError('TIDEWATCH_SPLUNK_HEC_TOKEN is required with TIDEWATCH_SPLUNK_HEC_URL');
    sinks.splunk = {
      url: env['TIDEWATCH_SPLUNK_HEC_URL'],
      token,
      ...(env['TIDEWATCH_SPLUNK_INDEX'] ? { index: env['TIDEWATCH_SPLUNK_INDEX'] } : {}),
      batchSize: int(env, 'TIDEWATCH_SPLUNK_BATCH', 100, 1),
      ackTimeoutMs: int(env, 'TIDEWATCH_SPLUNK_ACK_TIMEOUT_MS', 30_000, 1),
    };
  }
  if (env['TIDEWATCH_ELASTIC_URL']) {
    sinks.elastic = {
      url: env['TIDEWATCH_ELASTIC_URL'],
      index: env['TIDEWATCH_ELASTIC_INDEX'] ?? 'tidewatch-findings',
      ...(env['TIDEWATCH_ELASTIC_API_KEY'] ? { apiKey: env['TIDEWATCH_ELASTIC_API_KEY'] } : {}),
      batchSize: int(env, 'TIDEWATCH_ELASTIC_BATCH', 500, 1),
    };
  }
  if (env['TIDEWATCH_SENTINEL_ENDPOINT']) {
    const need = [
      'TIDEWATCH_SENTINEL_DCR_ID',
      'TIDEWATCH_SENTINEL_STREAM',
      'TIDEWATCH_SENTINEL_TENANT_ID',
      'TIDEWATCH_SENTINEL_CLIENT_ID',
      'TIDEWATCH_SENTINEL_CLIENT_SECRET',
    ];
    for (const n of need)
      if (!env[n]) throw new ConfigError(`${n} is required with TIDEWATCH_SENTINEL_ENDPOINT`);
    sinks.sentinel = {
      endpoint: env['TIDEWATCH_SENTINEL_ENDPOINT'],
      dcrId: env['TIDEWATCH_SENTINEL_DCR_ID'] as string,
      stream: env['TIDEWATCH_SENTINEL_STREAM'] as string,
      tenantId: env['TIDEWATCH_SENTINEL_TENANT_ID'] as string,
      clientId: env['TIDEWATCH_SENTINEL_CLIENT_ID'] as string,
      clientSecret: env['TIDEWATCH_SENTINEL_CLIENT_SECRET'] as string,
      ...(env['TIDEWATCH_SENTINEL_TOKEN_URL'] ? { tokenUrl: env['TIDEWATCH_SENTINEL_TOKEN_URL'] } : {}),
      batchSize: int(env, 'TIDEWATCH_SENTINEL_BATCH', 500, 1),
    };
  }
  const retry = list(env, 'TIDEWATCH_WEBHOOK_RETRY_MS').map(Number);
  if (retry.some((n) => !Number.isFinite(n) || n < 0))
    throw new ConfigError('TIDEWATCH_WEBHOOK_RETRY_MS must be a comma-separated list of milliseconds');
  return {
    httpPort: int(env, 'TIDEWATCH_HTTP_PORT', 8080),
    host: env['TIDEWATCH_HTTP_HOST'] ?? '0.0.0.0',
    dataDir: env['TIDEWATCH_DATA_DIR'] ?? './data',
    adminKey,
    redisUrl: env['REDIS_URL'] || null,
    kafkaBrokers: list(env, 'KAFKA_BROKERS'),
    namespace: env['TIDEWATCH_NAMESPACE'] ?? 'tidewatch',
    corsOrigins: list(env, 'TIDEWATCH_CORS_ORIGINS'),
    rateLimitPerMinute: int(env, 'TIDEWATCH_RATE_LIMIT_PER_MINUTE', 6000, 1),
    bodyLimitBytes: int(env, 'TIDEWATCH_BODY_LIMIT_BYTES', 1_048_576, 1024),
    suppressionThreshold: num(env, 'TIDEWATCH_SUPPRESSION_THRESHOLD', 0.95),
    // 5 s, 5 min, 30 min, 2 h, 5 h, 10 h: the Standard Webhooks reference schedule, shortened.
    webhookRetryMs: retry.length ? retry : [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000],
    webhookTimeoutMs: int(env, 'TIDEWATCH_WEBHOOK_TIMEOUT_MS', 15_000, 1),
    llm: env['TIDEWATCH_LLM_URL']
      ? {
          url: env['TIDEWATCH_LLM_URL'],
          model: env['TIDEWATCH_LLM_MODEL'] ?? 'gpt-4o-mini',
          apiKey: env['TIDEWATCH_LLM_API_KEY'] ?? null,
        }
      : null,
    sinks,
    consumers: env['TIDEWATCH_QUERY_CONSUMERS'] !== 'false',
    embeddingDim: int(env, 'TIDEWATCH_EMBEDDING_DIM', 64, 1),
    inferenceAdminUrl: env['TIDEWATCH_INFERENCE_ADMIN_URL'] || null,
  };
}

/** The effective configuration for the start-up log, secrets masked. */
export function maskedConfig(config: QueryApiConfig): Record<string, unknown> {
  const mask = (s: string | null | undefined) => (s ? '***' : null);
  return {
    ...config,
    adminKey: mask(config.adminKey),
    redisUrl: config.redisUrl?.replace(/\/\/[^@]*@/, '//***@') ?? null,
    llm: config.llm ? { ...config.llm, apiKey: mask(config.llm.apiKey) } : null,
    sinks: {
      splunk: config.sinks.splunk ? { ...config.sinks.splunk, token: '***' } : undefined,
      elastic: config.sinks.elastic
        ? { ...config.sinks.elastic, apiKey: mask(config.sinks.elastic.apiKey) }
        : undefined,
      sentinel: config.sinks.sentinel ? { ...config.sinks.sentinel, clientSecret: '***' } : undefined,
    },
  };
}
