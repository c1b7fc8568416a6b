import {
  ConfigError,
  ConfigErrors,
  type Env,
  integer,
  list,
  maskSecrets,
  number,
  secret,
  text,
  loadConfig as readVariables,
  z,
} from '@tidewatch/config';

export { ConfigError };

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

const UNBOUNDED = Number.POSITIVE_INFINITY;

const RETRY_EXPECTED = 'expected a comma-separated list of milliseconds';

const SENTINEL_REQUIRED = [
  'TIDEWATCH_SENTINEL_DCR_ID',
  'TIDEWATCH_SENTINEL_STREAM',
  'TIDEWATCH_SENTINEL_TENANT_ID',
  'TIDEWATCH_SENTINEL_CLIENT_ID',
  'TIDEWATCH_SENTINEL_CLIENT_SECRET',
] as const;

function schema() {
  return z.object({
    TIDEWATCH_HTTP_PORT: integer(0, UNBOUNDED, 8080),
    TIDEWATCH_HTTP_HOST: text('0.0.0.0'),
    TIDEWATCH_DATA_DIR: text('./data'),
    /** Also read from TIDEWATCH_ADMIN_KEY_FILE (loadConfig's `_FILE` rule). */
    TIDEWATCH_ADMIN_KEY: secret(16).optional(),
    REDIS_URL: text().optional(),
    KAFKA_BROKERS: list(),
    TIDEWATCH_NAMESPACE: text('tidewatch'),
    TIDEWATCH_CORS_ORIGINS: list(),
    TIDEWATCH_RATE_LIMIT_PER_MINUTE: integer(1, UNBOUNDED, 6000),
    TIDEWATCH_BODY_LIMIT_BYTES: integer(1024, UNBOUNDED, 1_048_576),
    TIDEWATCH_SUPPRESSION_THRESHOLD: number(Number.NEGATIVE_INFINITY, UNBOUNDED, 0.95),
    TIDEWATCH_WEBHOOK_RETRY_MS: list()
      .transform((items) => items.map(Number))
      .refine((delays) => delays.every((n) => Number.isFinite(n) && n >= 0), { error: RETRY_EXPECTED }),
    TIDEWATCH_WEBHOOK_TIMEOUT_MS: integer(1, UNBOUNDED, 15_000),
    TIDEWATCH_LLM_URL: text().optional(),
    TIDEWATCH_LLM_MODEL: text('gpt-4o-mini'),
    TIDEWATCH_LLM_API_KEY: text().optional(),
    /** Anything but `false` keeps the consumers on. */
    TIDEWATCH_QUERY_CONSUMERS: text().optional(),
    TIDEWATCH_EMBEDDING_DIM: integer(1, UNBOUNDED, 64),
    TIDEWATCH_INFERENCE_ADMIN_URL: text().optional(),
    TIDEWATCH_SPLUNK_HEC_URL: text().optional(),
    TIDEWATCH_SPLUNK_HEC_TOKEN: text().optional(),
    TIDEWATCH_SPLUNK_INDEX: text().optional(),
    TIDEWATCH_SPLUNK_BATCH: integer(1, UNBOUNDED, 100),
    TIDEWATCH_SPLUNK_ACK_TIMEOUT_MS: integer(1, UNBOUNDED, 30_000),
    TIDEWATCH_ELASTIC_URL: text().optional(),
    TIDEWATCH_ELASTIC_INDEX: text('tidewatch-findings'),
    TIDEWATCH_ELASTIC_API_KEY: text().optional(),
    TIDEWATCH_ELASTIC_BATCH: integer(1, UNBOUNDED, 500),
    TIDEWATCH_SENTINEL_ENDPOINT: text().optional(),
    TIDEWATCH_SENTINEL_DCR_ID: text().optional(),
    TIDEWATCH_SENTINEL_STREAM: text().optional(),
    TIDEWATCH_SENTINEL_TENANT_ID: text().optional(),
    TIDEWATCH_SENTINEL_CLIENT_ID: text().optional(),
    TIDEWATCH_SENTINEL_CLIENT_SECRET: text().optional(),
    TIDEWATCH_SENTINEL_TOKEN_URL: text().optional(),
    TIDEWATCH_SENTINEL_BATCH: integer(1, UNBOUNDED, 500),
  });
}

type Variables = z.infer<ReturnType<typeof schema>>;

function sinkConfig(v: Variables): SinkConfig {
  const sinks: SinkConfig = {};
  if (v.TIDEWATCH_SPLUNK_HEC_URL) {
    const token = v.TIDEWATCH_SPLUNK_HEC_TOKEN;
    if (!token) throw new ConfigError('TIDEWATCH_SPLUNK_HEC_TOKEN', 'required with TIDEWATCH_SPLUNK_HEC_URL');
    sinks.splunk = {
      url: v.TIDEWATCH_SPLUNK_HEC_URL,
      token,
      ...(v.TIDEWATCH_SPLUNK_INDEX ? { index: v.TIDEWATCH_SPLUNK_INDEX } : {}),
      batchSize: v.TIDEWATCH_SPLUNK_BATCH,
      ackTimeoutMs: v.TIDEWATCH_SPLUNK_ACK_TIMEOUT_MS,
    };
  }
  if (v.TIDEWATCH_ELASTIC_URL) {
    sinks.elastic = {
      url: v.TIDEWATCH_ELASTIC_URL,
      index: v.TIDEWATCH_ELASTIC_INDEX,
      ...(v.TIDEWATCH_ELASTIC_API_KEY ? { apiKey: v.TIDEWATCH_ELASTIC_API_KEY } : {}),
      batchSize: v.TIDEWATCH_ELASTIC_BATCH,
    };
  }
  if (v.TIDEWATCH_SENTINEL_ENDPOINT) {
    const missing = SENTINEL_REQUIRED.filter((name) => !v[name]).map(
      (name) => new ConfigError(name, 'required with TIDEWATCH_SENTINEL_ENDPOINT'),
    );
    if (missing.length === 1) throw missing[0];
    if (missing.length > 1) throw new ConfigErrors(missing);
    sinks.sentinel = {
      endpoint: v.TIDEWATCH_SENTINEL_ENDPOINT,
      dcrId: v.TIDEWATCH_SENTINEL_DCR_ID as string,
      stream: v.TIDEWATCH_SENTINEL_STREAM as string,
      tenantId: v.TIDEWATCH_SENTINEL_TENANT_ID as string,
      clientId: v.TIDEWATCH_SENTINEL_CLIENT_ID as string,
      clientSecret: v.TIDEWATCH_SENTINEL_CLIENT_SECRET as string,
      ...(v.TIDEWATCH_SENTINEL_TOKEN_URL ? { tokenUrl: v.TIDEWATCH_SENTINEL_TOKEN_URL } : {}),
      batchSize: v.TIDEWATCH_SENTINEL_BATCH,
    };
  }
  return sinks;
}

/** Reads and validates the query API's configuration; a bad value throws ConfigError naming it. */
export function loadConfig(env: Env = process.env): QueryApiConfig {
  const v = readVariables(schema(), env);
  const retry = v.TIDEWATCH_WEBHOOK_RETRY_MS;
  return {
    httpPort: v.TIDEWATCH_HTTP_PORT,
    host: v.TIDEWATCH_HTTP_HOST,
    dataDir: v.TIDEWATCH_DATA_DIR,
    adminKey: v.TIDEWATCH_ADMIN_KEY ?? null,
    redisUrl: v.REDIS_URL ?? null,
    kafkaBrokers: v.KAFKA_BROKERS,
    namespace: v.TIDEWATCH_NAMESPACE,
    corsOrigins: v.TIDEWATCH_CORS_ORIGINS,
    rateLimitPerMinute: v.TIDEWATCH_RATE_LIMIT_PER_MINUTE,
    bodyLimitBytes: v.TIDEWATCH_BODY_LIMIT_BYTES,
    suppressionThreshold: v.TIDEWATCH_SUPPRESSION_THRESHOLD,
    // 5 s, 5 min, 30 min, 2 h, 5 h, 10 h: the Standard Webhooks reference schedule, shortened.
    webhookRetryMs: retry.length ? retry : [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000],
    webhookTimeoutMs: v.TIDEWATCH_WEBHOOK_TIMEOUT_MS,
    llm: v.TIDEWATCH_LLM_URL
      ? { url: v.TIDEWATCH_LLM_URL, model: v.TIDEWATCH_LLM_MODEL, apiKey: v.TIDEWATCH_LLM_API_KEY ?? null }
      : null,
    sinks: sinkConfig(v),
    consumers: v.TIDEWATCH_QUERY_CONSUMERS !== 'false',
    embeddingDim: v.TIDEWATCH_EMBEDDING_DIM,
    inferenceAdminUrl: v.TIDEWATCH_INFERENCE_ADMIN_URL ?? null,
  };
}

/** The effective configuration for the start-up log, secrets masked. */
export function maskedConfig(config: QueryApiConfig): Record<string, unknown> {
  return maskSecrets({ ...config });
}
