import type { FlowPublisherOptions } from './flow-publisher.ts';
import { ExporterAllowList } from './exporter-allow-list.ts';

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

export class ConfigError extends Error {
  override name = 'ConfigError';
}

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

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = raw.trim();
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new ConfigError(`${name}='${raw}' must be an integer from ${min} to ${max}`);
  return Number(v);
}

/** A listener port: unset → default, 0 → disabled. */
function listenerPort(env: Env, name: string, fallback: number | null): number | null {
  const v = int(env, name, 0, 65535);
  if (v === undefined) return fallback;
  return v === 0 ? null : v;
}

/**
 * Collector configuration from the environment (DESIGN.md names plus collector-specific ones):
 * TIDEWATCH_NETFLOW_PORT / TIDEWATCH_IPFIX_PORT / TIDEWATCH_SFLOW_PORT (0 disables),
 * TIDEWATCH_HTTP_PORT, KAFKA_BROKERS, TIDEWATCH_COLLECTOR_HOST, TIDEWATCH_COLLECTOR_SOCKETS,
 * TIDEWATCH_COLLECTOR_RCVBUF (bytes), TIDEWATCH_EXPORTER_ALLOW (comma-separated CIDRs),
 * TIDEWATCH_COLLECTOR_IPFIX_TCP (0/1), TIDEWATCH_COLLECTOR_BATCH, TIDEWATCH_COLLECTOR_LINGER_MS,
 * TIDEWATCH_COLLECTOR_QUEUE, TIDEWATCH_COLLECTOR_PRODUCERS, TIDEWATCH_COLLECTOR_WORKERS,
 * TIDEWATCH_COLLECTOR_DIRECT (0/1). A bad value throws ConfigError naming it.
 */
export function collectorConfigFromEnv(env: Env = process.env): CollectorConfig {
  const d = DEFAULT_CONFIG;
  const allow = (env['TIDEWATCH_EXPORTER_ALLOW'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  try {
    new ExporterAllowList(allow);
  } catch (e) {
    throw new ConfigError(`TIDEWATCH_EXPORTER_ALLOW: ${(e as Error).message}`);
  }
  const tcp = env['TIDEWATCH_COLLECTOR_IPFIX_TCP'];
  if (tcp !== undefined && !['0', '1', 'true', 'false'].includes(tcp))
    throw new ConfigError(`TIDEWATCH_COLLECTOR_IPFIX_TCP='${tcp}' must be 0/1 or true/false`);
  const direct = env['TIDEWATCH_COLLECTOR_DIRECT'];
  if (direct !== undefined && !['0', '1', 'true', 'false'].includes(direct))
    throw new ConfigError(`TIDEWATCH_COLLECTOR_DIRECT='${direct}' must be 0/1 or true/false`);
  const http = int(env, 'TIDEWATCH_HTTP_PORT', 0, 65535);
  const publisher: FlowPublisherOptions = {};
  const batch = int(env, 'TIDEWATCH_COLLECTOR_BATCH', 1, 100_000);
  const linger = int(env, 'TIDEWATCH_COLLECTOR_LINGER_MS', 0, 10_000);
  const queue = int(env, 'TIDEWATCH_COLLECTOR_QUEUE', 1000, 10_000_000);
  const producers = int(env, 'TIDEWATCH_COLLECTOR_PRODUCERS', 1, 64);
  if (batch !== undefined) publisher.batchSize = batch;
  if (linger !== undefined) publisher.lingerMs = linger;
  if (queue !== undefined) publisher.capacity = queue;
  if (producers !== undefined) publisher.concurrency = producers;
  const topic = env['TIDEWATCH_FLOWS_TOPIC'];
  if (topic) publisher.topic = topic;
  return {
    ...d,
    netflowPort: listenerPort(env, 'TIDEWATCH_NETFLOW_PORT', d.netflowPort),
    ipfixPort: listenerPort(env, 'TIDEWATCH_IPFIX_PORT', d.ipfixPort),
    sflowPort: listenerPort(env, 'TIDEWATCH_SFLOW_PORT', d.sflowPort),
    ipfixTcp: tcp === undefined ? d.ipfixTcp : tcp === '1' || tcp === 'true',
    host: env['TIDEWATCH_COLLECTOR_HOST']?.trim() || d.host,
    httpPort: http === undefined ? d.httpPort : http,
    socketsPerPort: int(env, 'TIDEWATCH_COLLECTOR_SOCKETS', 1, 64) ?? d.socketsPerPort,
    decodeWorkers: int(env, 'TIDEWATCH_COLLECTOR_WORKERS', 0, 64) ?? d.decodeWorkers,
    directEncode: direct === undefined ? true : direct === '1' || direct === 'true',
    recvBufferBytes: int(env, 'TIDEWATCH_COLLECTOR_RCVBUF', 65_536, 2 ** 31 - 1) ?? d.recvBufferBytes,
    allowedExporters: allow,
    kafkaBrokers: (env['KAFKA_BROKERS'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    publisher,
  };
}
