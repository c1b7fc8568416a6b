import { ConfigError, type Env, integer, list, loadConfig, text, z } from '@tidewatch/config';
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

export { ConfigError };

const UNBOUNDED = Number.POSITIVE_INFINITY;

function schema() {
  return z.object({
    KAFKA_BROKERS: list(),
    REDIS_URL: text().optional(),
    TIDEWATCH_SEQUENCER_GROUP: text('tidewatch-sequencer'),
    TIDEWATCH_SEQUENCER_CLIENT_ID: text('tidewatch-sequencer'),
    TIDEWATCH_FLOWS_TOPIC: text('flows.v1'),
    TIDEWATCH_SEQUENCES_TOPIC: text('sequences.v1'),
    TIDEWATCH_SEQUENCER_LATE_TOPIC: text().optional(),
    TIDEWATCH_SEQUENCER_WINDOW_MS: integer(1, UNBOUNDED, 300_000),
    TIDEWATCH_SEQUENCER_MAX_FLOWS: integer(1, UNBOUNDED, 64),
    TIDEWATCH_SEQUENCER_ALLOWED_LATENESS_MS: integer(0, UNBOUNDED, 60_000),
    TIDEWATCH_SEQUENCER_BIFLOW_TOLERANCE_MS: integer(0, UNBOUNDED, 5_000),
    TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS: integer(1, UNBOUNDED, 3_600_000),
    TIDEWATCH_FLOWS_PARTITIONS: integer(1, UNBOUNDED, 6),
    TIDEWATCH_SEQUENCES_PARTITIONS: integer(1, UNBOUNDED, 6),
    TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: integer(1, UNBOUNDED, 30_000),
    TIDEWATCH_SEQUENCER_TICK_MS: integer(10, UNBOUNDED, 1_000),
    TIDEWATCH_SEQUENCER_MAX_BATCH: integer(1, UNBOUNDED, 2_000),
    TIDEWATCH_SEQUENCER_SESSION_TIMEOUT_MS: integer(1, UNBOUNDED, 10_000),
    TIDEWATCH_SEQUENCER_REDIS_PREFIX: text('tw:seq'),
    TIDEWATCH_SEQUENCER_STATS_TTL_S: integer(1, UNBOUNDED, 7 * 24 * 3600),
    TIDEWATCH_HTTP_PORT: integer(0, UNBOUNDED, 8082),
  });
}

/** Reads and validates the sequencer's configuration; a bad value names its variable. */
export function loadSequencerConfig(env: Env = process.env): SequencerConfig {
  const v = loadConfig(schema(), env);
  let spec: SequencingSpec;
  try {
    spec = sequencingSpec({
      window_ms: v.TIDEWATCH_SEQUENCER_WINDOW_MS,
      max_flows: v.TIDEWATCH_SEQUENCER_MAX_FLOWS,
      allowed_lateness_ms: v.TIDEWATCH_SEQUENCER_ALLOWED_LATENESS_MS,
      biflow_tolerance_ms: v.TIDEWATCH_SEQUENCER_BIFLOW_TOLERANCE_MS,
    });
  } catch (error) {
    throw new ConfigError('TIDEWATCH_SEQUENCER_*', (error as Error).message);
  }
  const pairBucketMs = v.TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS;
  if (pairBucketMs % spec.window_ms !== 0) {
    throw new ConfigError(
      'TIDEWATCH_SEQUENCER_PAIR_BUCKET_MS',
      `${pairBucketMs} must be a multiple of the window length (${spec.window_ms})`,
    );
  }
  const flowsTopic = v.TIDEWATCH_FLOWS_TOPIC;
  return {
    kafkaBrokers: v.KAFKA_BROKERS,
    redisUrl: v.REDIS_URL,
    groupId: v.TIDEWATCH_SEQUENCER_GROUP,
    clientId: v.TIDEWATCH_SEQUENCER_CLIENT_ID,
    flowsTopic,
    sequencesTopic: v.TIDEWATCH_SEQUENCES_TOPIC,
    lateTopic: v.TIDEWATCH_SEQUENCER_LATE_TOPIC ?? `${flowsTopic}.late`,
    flowsPartitions: v.TIDEWATCH_FLOWS_PARTITIONS,
    sequencesPartitions: v.TIDEWATCH_SEQUENCES_PARTITIONS,
    spec,
    idleFlushMs: v.TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS,
    tickMs: v.TIDEWATCH_SEQUENCER_TICK_MS,
    maxBatchSize: v.TIDEWATCH_SEQUENCER_MAX_BATCH,
    sessionTimeoutMs: v.TIDEWATCH_SEQUENCER_SESSION_TIMEOUT_MS,
    redisKeyPrefix: v.TIDEWATCH_SEQUENCER_REDIS_PREFIX,
    statsTtlSeconds: v.TIDEWATCH_SEQUENCER_STATS_TTL_S,
    pairBucketMs,
    httpPort: v.TIDEWATCH_HTTP_PORT,
  };
}
