import { ConfigError, type Env, flag, integer, list, loadConfig, text, z } from '@tidewatch/config';
import { ExporterAllowList } from './exporter-allow-list.ts';
import type { FlowPublisherOptions } from './flow-publisher.ts';

export interface CollectorConfig {
  /** UDP ports; null disables a listener, 0 picks a free port (tests). */
  netflowPort: number | null;
  ipfixPort: number | null;
  sflowPort: number | null;
  /** Also accept IPFIX over TCP on the IPFIX port. */
  ipfixTcp: boolean;
  host: string;
  /** HTTP port of /metrics, /livez, /readyz; null: no HTTP server (the one-process mode has its own). */
  httpPort: number | null;
  socketsPerPort: number;
  /**
   * Decode worker threads for the UDP listeners (0: decode on the main thread). Each has its own
   * SO_REUSEPORT socket per port and decodes and encodes there; the main thread only publishes.
   */
  decodeWorkers: number;
  /**
   * NetFlow v5 written as Avro straight from the datagram, without FlowRecord objects (same
   * bytes; default true). False keeps every protocol on the object path.
   */
  directEncode?: boolean;
  recvBufferBytes: number;
  /** CIDRs of exporters allowed to send; empty allows all. */
  allowedExporters: string[];
  maxExporterLabels: number;
  kafkaBrokers: string[];
  /** Partitions of flows.v1 when the collector creates it. */
  topicPartitions: number;
  publisher: FlowPublisherOptions;
  /** How long stop() may take to flush what was accepted. */
  stopDeadlineMs: number;
}

export { ConfigError };

export const DEFAULT_CONFIG: CollectorConfig = {
  netflowPort: 2055,
  ipfixPort: 4739,
  sflowPort: 6343,
  ipfixTcp: true,
  host: '0.0.0.0',
  httpPort: 9102,
  socketsPerPort: 2,
  decodeWorkers: 0,
  recvBufferBytes: 32 * 1024 * 1024,
  allowedExporters: [],
  maxExporterLabels: 50,
  kafkaBrokers: [],
  topicPartitions: 8,
  publisher: {},
  stopDeadlineMs: 15_000,
};

const PORT_MAX = 65_535;

function schema(d: CollectorConfig) {
  return z.object({
    TIDEWATCH_NETFLOW_PORT: integer(0, PORT_MAX).optional(),
    TIDEWATCH_IPFIX_PORT: integer(0, PORT_MAX).optional(),
    TIDEWATCH_SFLOW_PORT: integer(0, PORT_MAX).optional(),
    TIDEWATCH_COLLECTOR_IPFIX_TCP: flag(d.ipfixTcp),
    TIDEWATCH_COLLECTOR_DIRECT: flag(true),
    TIDEWATCH_COLLECTOR_HOST: text(d.host).transform((s) => s.trim()),
    TIDEWATCH_HTTP_PORT: integer(0, PORT_MAX).optional(),
    TIDEWATCH_COLLECTOR_SOCKETS: integer(1, 64, d.socketsPerPort),
    TIDEWATCH_COLLECTOR_WORKERS: integer(0, 64, d.decodeWorkers),
    TIDEWATCH_COLLECTOR_RCVBUF: integer(65_536, 2 ** 31 - 1, d.recvBufferBytes),
    TIDEWATCH_EXPORTER_ALLOW: list(),
    KAFKA_BROKERS: list(),
    TIDEWATCH_COLLECTOR_BATCH: integer(1, 100_000).optional(),
    TIDEWATCH_COLLECTOR_LINGER_MS: integer(0, 10_000).optional(),
    TIDEWATCH_COLLECTOR_QUEUE: integer(1000, 10_000_000).optional(),
    TIDEWATCH_COLLECTOR_PRODUCERS: integer(1, 64).optional(),
    TIDEWATCH_FLOWS_TOPIC: text().optional(),
  });
}

/** A listener port: unset → default, 0 → disabled. */
function listenerPort(value: number | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  return value === 0 ? null : value;
}

/**
 * Collector configuration from the environment (DESIGN.md names plus collector-specific ones):
 * TIDEWATCH_NETFLOW_PORT / TIDEWATCH_IPFIX_PORT / TIDEWATCH_SFLOW_PORT (0 disables),
 * TIDEWATCH_HTTP_PORT, KAFKA_BROKERS, TIDEWATCH_COLLECTOR_HOST, TIDEWATCH_COLLECTOR_SOCKETS,
 * TIDEWATCH_COLLECTOR_RCVBUF (bytes), TIDEWATCH_EXPORTER_ALLOW (comma-separated CIDRs),
 * TIDEWATCH_COLLECTOR_IPFIX_TCP (0/1), TIDEWATCH_COLLECTOR_BATCH, TIDEWATCH_COLLECTOR_LINGER_MS,
 * TIDEWATCH_COLLECTOR_QUEUE, TIDEWATCH_COLLECTOR_PRODUCERS, TIDEWATCH_COLLECTOR_WORKERS,
 * TIDEWATCH_COLLECTOR_DIRECT (0/1). A bad value throws ConfigError (@tidewatch/config) naming it.
 */
export function collectorConfigFromEnv(env: Env = process.env): CollectorConfig {
  const d = DEFAULT_CONFIG;
  const v = loadConfig(schema(d), env);
  try {
    new ExporterAllowList(v.TIDEWATCH_EXPORTER_ALLOW);
  } catch (e) {
    throw new ConfigError('TIDEWATCH_EXPORTER_ALLOW', (e as Error).message);
  }
  const publisher: FlowPublisherOptions = {};
  if (v.TIDEWATCH_COLLECTOR_BATCH !== undefined) publisher.batchSize = v.TIDEWATCH_COLLECTOR_BATCH;
  if (v.TIDEWATCH_COLLECTOR_LINGER_MS !== undefined) publisher.lingerMs = v.TIDEWATCH_COLLECTOR_LINGER_MS;
  if (v.TIDEWATCH_COLLECTOR_QUEUE !== undefined) publisher.capacity = v.TIDEWATCH_COLLECTOR_QUEUE;
  if (v.TIDEWATCH_COLLECTOR_PRODUCERS !== undefined) publisher.concurrency = v.TIDEWATCH_COLLECTOR_PRODUCERS;
  if (v.TIDEWATCH_FLOWS_TOPIC !== undefined) publisher.topic = v.TIDEWATCH_FLOWS_TOPIC;
  return {
    ...d,
    netflowPort: listenerPort(v.TIDEWATCH_NETFLOW_PORT, d.netflowPort),
    ipfixPort: listenerPort(v.TIDEWATCH_IPFIX_PORT, d.ipfixPort),
    sflowPort: listenerPort(v.TIDEWATCH_SFLOW_PORT, d.sflowPort),
    ipfixTcp: v.TIDEWATCH_COLLECTOR_IPFIX_TCP,
    host: v.TIDEWATCH_COLLECTOR_HOST,
    httpPort: v.TIDEWATCH_HTTP_PORT ?? d.httpPort,
    socketsPerPort: v.TIDEWATCH_COLLECTOR_SOCKETS,
    decodeWorkers: v.TIDEWATCH_COLLECTOR_WORKERS,
    directEncode: v.TIDEWATCH_COLLECTOR_DIRECT,
    recvBufferBytes: v.TIDEWATCH_COLLECTOR_RCVBUF,
    allowedExporters: v.TIDEWATCH_EXPORTER_ALLOW,
    kafkaBrokers: v.KAFKA_BROKERS,
    publisher,
  };
}
