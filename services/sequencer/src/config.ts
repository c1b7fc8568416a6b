import { type SequencingSpec, sequencingSpec } from '@tidewatch/sequencing';

export interface SequencerConfig {
  kafkaBrokers: string[];
  /** Absent: the caller passes entity stats (one-process mode) or the app refuses to start. */
  redisUrl: string | undefined;
  groupId: string;
  clientId: string;
  flowsTopic: string;
  sequencesTopic: string;
  /** Late flows go here (`<flowsTopic>.late` by default). */
  lateTopic: string;
  /** Partitions of the flows topic: every one must pass a window's end before it is emitted. */
  flowsPartitions: number;
  sequencesPartitions: number;
  spec: SequencingSpec;
  /** A partition with no input for this long flushes its open windows. */
  idleFlushMs: number;
  /** How often the sequencer checks idle partitions and the low watermark without input. */
  tickMs: number;
  maxBatchSize: number;
  /** How soon a crashed instance's partitions move to another. */
  sessionTimeoutMs: number;
  redisKeyPrefix: string;
  statsTtlSeconds: number;
  /** Time bucket of the per-pair counters (a multiple of the window length). */
  pairBucketMs: number;
  httpPort: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
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

function text(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

/** Reads and validates the sequencer's configuration; a bad value names its variable. */
export function loadSequencerConfig(env: Env = process.env): SequencerConfig {
  const flowsTopic = text(env, 'TIDEWATCH_FLOWS_TOPIC', 'flows.v1');
  let spec: SequencingSpec;
  try {
    spec = sequencingSpec({
      window_ms: int(env, 'TIDEWATCH_SEQUENCER_WINDOW_MS', 300_000, 1),
      max_flows: int(env, 'TIDEWATCH_SEQUENCER_MAX_FLOWS', 64, 1),
      allowed_lateness_ms: int(env, 'TIDEWATCH_SEQUENCER_ALLOWED_LATENESS_MS', 60_000),
      biflow_tolerance_ms: int(env, 'TIDEWATCH_SEQUENCER_BIFLOW_TOLERANCE_MS', 5_000),
    });
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`TIDEWATCH_SEQUENCER_*: ${(error as Error).message}`);
  }
  const pairBucketMs = int(env, 'TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS', 3_600_000, 1);
  if (pairBucketMs % spec.window_ms !== 0) {
    throw new ConfigError(
      `TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS (${pairBucketMs}) must be a multiple of the window length (${spec.window_ms})`,
    );
  }
  const brokers = (env['KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  return {
    kafkaBrokers: brokers,
    redisUrl: env['REDIS_URL'] || undefined,
    groupId: text(env, 'TIDEWATCH_SEQUENCER_GROUP', 'tidewatch-sequencer'),
    clientId: text(env, 'TIDEWATCH_SEQUENCER_CLIENT_ID', 'tidewatch-sequencer'),
    flowsTopic,
    sequencesTopic: text(env, 'TIDEWATCH_SEQUENCES_TOPIC', 'sequences.v1'),
    lateTopic: text(env, 'TIDEWATCH_SEQUENCER_LATE_TOPIC', `${flowsTopic}.late`),
    flowsPartitions: int(env, 'TIDEWATCH_FLOWS_PARTITIONS', 6, 1),
    sequencesPartitions: int(env, 'TIDEWATCH_SEQUENCES_PARTITIONS', 6, 1),
    spec,
    idleFlushMs: int(env, 'TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS', 30_000, 1),
    tickMs: int(env, 'TIDEWATCH_SEQUENCER_TICK_MS', 1_000, 10),
    maxBatchSize: int(env, 'TIDEWATCH_SEQUENCER_MAX_BATCH', 2_000, 1),
    sessionTimeoutMs: int(env, 'TIDEWATCH_SEQUENCER_SESSION_TIMEOUT_MS', 10_000, 1),
    redisKeyPrefix: text(env, 'TIDEWATCH_SEQUENCER_REDIS_PREFIX', 'tw:seq'),
    statsTtlSeconds: int(env, 'TIDEWATCH_SEQUENCER_STATS_TTL_S', 7 * 24 * 3600, 1),
    pairBucketMs,
    httpPort: int(env, 'TIDEWATCH_HTTP_PORT', 8082),
  };
}
