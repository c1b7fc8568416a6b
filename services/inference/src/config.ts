import { join } from 'node:path';

export interface InferenceConfig {
  kafkaBrokers: string[];
  clientId: string;
  groupId: string;
  sequencesTopic: string;
  findingsTopic: string;
  /** Sequences per model run (micro-batch size). */
  batchSize: number;
  /** How long a partial micro-batch waits for more sequences before it runs. */
  maxWaitMs: number;
  /** Messages per consumer batch handed to the scorer. */
  maxPollRecords: number;
  /**
   * Kafka session timeout. A batch handler that runs longer than this (no heartbeat meanwhile)
   * loses its partitions and the batch is replayed, so it bounds a batch's time (max poll x
   * per-sequence cost, neighbour lookups included).
   */
  sessionTimeoutMs: number;
  /** `model/versions` (or TIDEWATCH_MODEL_DIR) and the version to start with (default: DEFAULT). */
  modelDir: string | undefined;
  modelVersion: string | undefined;
  device: 'auto' | 'cpu' | 'cuda';
  intraOpThreads: number | undefined;
  /** Run the model on a worker thread, beside the event loop (default true). */
  modelWorker: boolean;
  /**
   * Let idle intra-op threads spin (ORT's default). Off by default: spinning threads took the core
   * the event loop needs (measured: 2 spinning threads cost 1.6× the CPU per sequence of 2 quiet ones).
   */
  threadSpinning: boolean;
  /** A baseline sub-score at or above this makes a finding even when the model says benign. */
  flagThreshold: number;
  /** Nearest labelled neighbours attached to each alert (0 disables). */
  neighbours: number;
  dataDir: string;
  qdrantUrl: string | undefined;
  qdrantApiKey: string | undefined;
  redisUrl: string | undefined;
  /** Redis key namespace shared with the query API (suppression rules). */
  namespace: string;
  suppressionRefreshMs: number;
  /** Points whose window ended longer ago than this are deleted hourly (0: keep forever). */
  retentionMs: number;
  httpPort: number;
  grpcPort: number;
  adminKey: string | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function num(
  env: Env,
  name: string,
  fallback: number,
  opts: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  const { min = 0, max = Number.POSITIVE_INFINITY, integer = true } = opts;
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new ConfigError(
      `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got "${raw}"`,
    );
  }
  return n;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new ConfigError(`${name} must be 1, 0, true or false, got "${raw}"`);
}

function text(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Reads and validates the inference service's configuration; a bad value names its variable. */
export function loadInferenceConfig(env: Env = process.env): InferenceConfig {
  const device = text(env, 'TIDEWATCH_INFERENCE_DEVICE') ?? 'auto';
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') {
    throw new ConfigError(`TIDEWATCH_INFERENCE_DEVICE must be auto, cpu or cuda, got "${device}"`);
  }
  const threads = num(env, 'TIDEWATCH_INFERENCE_THREADS', 0, { min: 0, max: 256 });
  return {
    kafkaBrokers: (env['KAFKA_BROKERS'] ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    clientId: text(env, 'TIDEWATCH_INFERENCE_CLIENT_ID') ?? 'tidewatch-inference',
    groupId: text(env, 'TIDEWATCH_INFERENCE_GROUP') ?? 'tidewatch-inference',
    sequencesTopic: text(env, 'TIDEWATCH_SEQUENCES_TOPIC') ?? 'sequences.v1',
    findingsTopic: text(env, 'TIDEWATCH_FINDINGS_TOPIC') ?? 'findings.v1',
    batchSize: num(env, 'TIDEWATCH_INFERENCE_BATCH_SIZE', 512, { min: 1, max: 8192 }),
    maxWaitMs: num(env, 'TIDEWATCH_INFERENCE_MAX_WAIT_MS', 0, { min: 0, max: 60_000 }),
    maxPollRecords: num(env, 'TIDEWATCH_INFERENCE_MAX_POLL', 2048, { min: 1 }),
    sessionTimeoutMs: num(env, 'TIDEWATCH_INFERENCE_SESSION_TIMEOUT_MS', 30_000, {
      min: 6_000,
      max: 300_000,
    }),
    modelDir: text(env, 'TIDEWATCH_MODEL_DIR'),
    modelVersion: text(env, 'TIDEWATCH_MODEL_VERSION'),
    device,
    intraOpThreads: threads === 0 ? undefined : threads,
    modelWorker: flag(env, 'TIDEWATCH_INFERENCE_WORKER', true),
    threadSpinning: flag(env, 'TIDEWATCH_INFERENCE_SPIN', false),
    flagThreshold: num(env, 'TIDEWATCH_INFERENCE_FLAG_THRESHOLD', 0.8, { min: 0, max: 1, integer: false }),
    neighbours: num(env, 'TIDEWATCH_INFERENCE_NEIGHBOURS', 3, { min: 0, max: 50 }),
    dataDir: text(env, 'TIDEWATCH_DATA_DIR') ?? join(process.cwd(), '.tidewatch'),
    qdrantUrl: text(env, 'QDRANT_URL'),
    qdrantApiKey: text(env, 'QDRANT_API_KEY'),
    redisUrl: text(env, 'REDIS_URL'),
    namespace: text(env, 'TIDEWATCH_NAMESPACE') ?? 'tidewatch',
    suppressionRefreshMs: num(env, 'TIDEWATCH_SUPPRESSION_REFRESH_MS', 5_000, { min: 0 }),
    retentionMs: num(env, 'TIDEWATCH_RETENTION_DAYS', 0, { min: 0, max: 36_500 }) * 86_400_000,
    httpPort: num(env, 'TIDEWATCH_HTTP_PORT', 8083, { min: 0, max: 65535 }),
    grpcPort: num(env, 'TIDEWATCH_GRPC_PORT', 50051, { min: 0, max: 65535 }),
    adminKey: text(env, 'TIDEWATCH_ADMIN_KEY'),
  };
}

/** The effective configuration for the start-up log, secrets masked. */
export function describeConfig(c: InferenceConfig): Record<string, unknown> {
  return {
    ...c,
    adminKey: c.adminKey ? '***' : undefined,
    qdrantApiKey: c.qdrantApiKey ? '***' : undefined,
    redisUrl: c.redisUrl?.replace(/\/\/[^@/]*@/, '//***@'),
  };
}
