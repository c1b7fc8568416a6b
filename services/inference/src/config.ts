import { join } from 'node:path';
import { SUB_SCORE_NAMES } from '@tidewatch/contracts';
import type { DetectorOptions } from '@tidewatch/detector';
import {
  ConfigError,
  type Env,
  flag,
  integer,
  list,
  loadConfig,
  maskSecrets,
  number,
  numbersFor,
  oneOf,
  subsetOf,
  text,
  z,
} from '@tidewatch/config';

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
  /** Partitions of sequences.v1 handled at once (scoring one while another is stored). */
  partitionConcurrency: number;
  /** Decode and score a partition's next batch while the one before it is stored. */
  prepareAhead: boolean;
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
  /**
   * Which baseline sub-scores flag and explain findings (v4: v3's with inbound scans, many
   * initiators probing one responder; v3: v2's plus reflection floods toward a responder of high
   * fan-in; v2: ICMP sweeps and repeated logins; v1: as before).
   */
  subScores: NonNullable<DetectorOptions['subScores']>;
  /**
   * Whether the product's built-in suppression rules apply (alerts whose responder is a link-local
   * multicast group, SSDP's group or the broadcast address, or, over UDP only, a private subnet's
   * broadcast address x.x.x.255 or NetBIOS toward any x.x.x.255, and alerts that rest on the model's
   * verdict alone for sequences made only of DNS / NetBIOS-name / NTP requests and answered pings, are
   * recorded as suppressed).
   */
  builtinSuppressions: boolean;
  /** The sub-scores that may raise a finding on their own (Detector flagSubScores). */
  flagSubScores: string[];
  /** Per sub-score flag thresholds that replace flagThreshold for those (Detector flagThresholds). */
  flagThresholds: Partial<Record<string, number>>;
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

export { ConfigError };

const UNBOUNDED = Number.POSITIVE_INFINITY;
const PORT_MAX = 65_535;

function schema() {
  return z.object({
    KAFKA_BROKERS: list(),
    TIDEWATCH_INFERENCE_CLIENT_ID: text('tidewatch-inference'),
    TIDEWATCH_INFERENCE_GROUP: text('tidewatch-inference'),
    TIDEWATCH_SEQUENCES_TOPIC: text('sequences.v1'),
    TIDEWATCH_FINDINGS_TOPIC: text('findings.v1'),
    TIDEWATCH_INFERENCE_BATCH_SIZE: integer(1, 8192, 512),
    TIDEWATCH_INFERENCE_MAX_WAIT_MS: integer(0, 60_000, 0),
    TIDEWATCH_INFERENCE_MAX_POLL: integer(1, UNBOUNDED, 2048),
    TIDEWATCH_INFERENCE_PARTITION_CONCURRENCY: integer(1, 64, 2),
    TIDEWATCH_INFERENCE_PREPARE_AHEAD: flag(true),
    TIDEWATCH_INFERENCE_SESSION_TIMEOUT_MS: integer(6_000, 300_000, 30_000),
    TIDEWATCH_MODEL_DIR: text().optional(),
    TIDEWATCH_MODEL_VERSION: text().optional(),
    TIDEWATCH_INFERENCE_DEVICE: oneOf(['auto', 'cpu', 'cuda'], 'auto'),
    TIDEWATCH_INFERENCE_THREADS: integer(0, 256, 0),
    TIDEWATCH_INFERENCE_WORKER: flag(true),
    TIDEWATCH_INFERENCE_SPIN: flag(false),
    TIDEWATCH_INFERENCE_FLAG_THRESHOLD: number(0, 1, 0.8),
    TIDEWATCH_INFERENCE_SUB_SCORES: oneOf(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7'], 'v7'),
    TIDEWATCH_INFERENCE_FLAGS: subsetOf(SUB_SCORE_NAMES, SUB_SCORE_NAMES),
    TIDEWATCH_INFERENCE_FLAG_THRESHOLDS: numbersFor(SUB_SCORE_NAMES, 0, 1),
    TIDEWATCH_INFERENCE_NEIGHBOURS: integer(0, 50, 3),
    TIDEWATCH_DATA_DIR: text(join(process.cwd(), '.tidewatch')),
    QDRANT_URL: text().optional(),
    QDRANT_API_KEY: text().optional(),
    REDIS_URL: text().optional(),
    TIDEWATCH_NAMESPACE: text('tidewatch'),
    TIDEWATCH_SUPPRESSION_REFRESH_MS: integer(0, UNBOUNDED, 5_000),
    TIDEWATCH_SUPPRESS_LOCAL_DISCOVERY: flag(true),
    TIDEWATCH_RETENTION_DAYS: integer(0, 36_500, 0),
    TIDEWATCH_HTTP_PORT: integer(0, PORT_MAX, 8083),
    TIDEWATCH_GRPC_PORT: integer(0, PORT_MAX, 50051),
    TIDEWATCH_ADMIN_KEY: text().optional(),
  });
}

/** Reads and validates the inference service's configuration; a bad value names its variable. */
export function loadInferenceConfig(env: Env = process.env): InferenceConfig {
  const v = loadConfig(schema(), env);
  const threads = v.TIDEWATCH_INFERENCE_THREADS;
  return {
    kafkaBrokers: v.KAFKA_BROKERS,
    clientId: v.TIDEWATCH_INFERENCE_CLIENT_ID,
    groupId: v.TIDEWATCH_INFERENCE_GROUP,
    sequencesTopic: v.TIDEWATCH_SEQUENCES_TOPIC,
    findingsTopic: v.TIDEWATCH_FINDINGS_TOPIC,
    batchSize: v.TIDEWATCH_INFERENCE_BATCH_SIZE,
    maxWaitMs: v.TIDEWATCH_INFERENCE_MAX_WAIT_MS,
    maxPollRecords: v.TIDEWATCH_INFERENCE_MAX_POLL,
    partitionConcurrency: v.TIDEWATCH_INFERENCE_PARTITION_CONCURRENCY,
    prepareAhead: v.TIDEWATCH_INFERENCE_PREPARE_AHEAD,
    sessionTimeoutMs: v.TIDEWATCH_INFERENCE_SESSION_TIMEOUT_MS,
    modelDir: v.TIDEWATCH_MODEL_DIR,
    modelVersion: v.TIDEWATCH_MODEL_VERSION,
    device: v.TIDEWATCH_INFERENCE_DEVICE,
    intraOpThreads: threads === 0 ? undefined : threads,
    modelWorker: v.TIDEWATCH_INFERENCE_WORKER,
    threadSpinning: v.TIDEWATCH_INFERENCE_SPIN,
    flagThreshold: v.TIDEWATCH_INFERENCE_FLAG_THRESHOLD,
    subScores: v.TIDEWATCH_INFERENCE_SUB_SCORES,
    flagSubScores: v.TIDEWATCH_INFERENCE_FLAGS,
    flagThresholds: v.TIDEWATCH_INFERENCE_FLAG_THRESHOLDS,
    neighbours: v.TIDEWATCH_INFERENCE_NEIGHBOURS,
    dataDir: v.TIDEWATCH_DATA_DIR,
    qdrantUrl: v.QDRANT_URL,
    qdrantApiKey: v.QDRANT_API_KEY,
    redisUrl: v.REDIS_URL,
    namespace: v.TIDEWATCH_NAMESPACE,
    suppressionRefreshMs: v.TIDEWATCH_SUPPRESSION_REFRESH_MS,
    builtinSuppressions: v.TIDEWATCH_SUPPRESS_LOCAL_DISCOVERY,
    retentionMs: v.TIDEWATCH_RETENTION_DAYS * 86_400_000,
    httpPort: v.TIDEWATCH_HTTP_PORT,
    grpcPort: v.TIDEWATCH_GRPC_PORT,
    adminKey: v.TIDEWATCH_ADMIN_KEY,
  };
}

/** The effective configuration for the start-up log, secrets masked. */
export function describeConfig(c: InferenceConfig): Record<string, unknown> {
  return maskSecrets({ ...c });
}
