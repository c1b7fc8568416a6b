import { type BusProducer, KafkaBus, type MessageBus } from '@tidewatch/bus';
import { CONTRACTS, createCodecs, type FlowRecord, registryFromEnv } from '@tidewatch/contracts';
import { componentLogger, createLogger, type Logger } from '@tidewatch/observability';
import type { Registry } from 'prom-client';
import { CollectorMetrics } from './collector-metrics.ts';
import type { CollectorConfig } from './config.ts';
import { FlowDecoder } from './decode/index.ts';
import { DecodeWorkerPool, mergeSnapshots } from './decode-worker-pool.ts';
import { ExporterAllowList } from './exporter-allow-list.ts';
import { FlowAvroWriter } from './flow-avro-writer.ts';
import { FlowPublisher } from './flow-publisher.ts';
import { HealthServer } from './health-server.ts';
import { IpfixTcpListener } from './ipfix-tcp-listener.ts';
import type { DirectOutput } from './netflow5-avro.ts';
import { udpSocketDrops } from './socket-drops.ts';
import { UdpListener } from './udp-listener.ts';

export interface CollectorDeps {
  /** The bus to publish on (one-process mode passes an InProcessBus); default KafkaBus(KAFKA_BROKERS). */
  bus?: MessageBus;
  logger?: Logger;
  registry?: Registry;
}

export interface CollectorPorts {
  netflow?: number;
  ipfix?: number;
  ipfixTcp?: number;
  sflow?: number;
  http?: number;
}

export interface CollectorApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Bound ports (after start); a port configured as 0 shows the one the kernel picked. */
  readonly ports: CollectorPorts;
  readonly ready: boolean;
  /** Available after start(). */
  readonly decoder: FlowDecoder;
  readonly publisher: FlowPublisher;
  readonly metrics: CollectorMetrics;
  /** Receive buffer granted per socket, by listener. */
  readonly receiveBuffers: Record<string, number>;
}

const TEMPLATE_SWEEP_MS = 60_000;
const SOCKET_DROPS_POLL_MS = 5_000;

/**
 * The collector: UDP listeners for NetFlow v5/v9, IPFIX (UDP and TCP) and sFlow v5 → FlowDecoder →
 * FlowPublisher → `flows.v1`. Exporters outside the allow-list are counted and ignored. `stop()`
 * follows DESIGN.md: not ready → stop intake → flush what was accepted → close producers → close.
 */
export function createApp(config: CollectorConfig, deps: CollectorDeps = {}): CollectorApp {
  const logger = componentLogger(deps.logger ?? createLogger({ name: 'collector' }), 'collector');
  const allow = new ExporterAllowList(config.allowedExporters);
  const decoder = new FlowDecoder();
  const ports: CollectorPorts = {};
  const receiveBuffers: Record<string, number> = {};
  const udp: UdpListener[] = [];
  /** Every UDP listener port, whichever thread serves it. */
  const udpPorts: { name: string; port: number }[] = [];
  let pool: DecodeWorkerPool | undefined;
  let tcp: IpfixTcpListener | undefined;
  let publisher: FlowPublisher | undefined;
  let bus: MessageBus | undefined;
  let producers: BusProducer[] = [];
  let health: HealthServer | undefined;
  let ready = false;
  const timers: NodeJS.Timeout[] = [];
  const lastKernelDrops = new Map<number, number>();

  const metrics = new CollectorMetrics(
    () => (pool ? mergeSnapshots([decoder.snapshot(), ...pool.snapshots()]) : decoder.snapshot()),
    () => publisher?.pending ?? 0,
    deps.registry,
    config.maxExporterLabels,
  );

  const out: FlowRecord[] = [];
  /** NetFlow v5 is encoded straight from the datagram (set up in start()). */
  let direct: DirectOutput | undefined;
  const onDatagram = (payload: Buffer, exporter: string, exporterPort: number): void => {
    if (!allow.empty && !allow.allows(exporter)) {
      metrics.counters.notAllowed++;
      return;
    }
    out.length = 0;
    const ctx = { exporter, exporterPort, receivedAtMs: Date.now() };
    if (direct === undefined) decoder.decodeInto(payload, ctx, out);
    else {
      direct.messages.length = 0;
      decoder.decodeMessagesInto(payload, ctx, out, direct);
      if (direct.messages.length > 0 && publisher)
        metrics.counters.droppedQueueFull += publisher.offerEncoded(direct.messages);
    }
    if (out.length === 0 || !publisher) return;
    const bad = publisher.stats.encodeErrors;
    metrics.counters.droppedQueueFull += publisher.offer(out);
    metrics.counters.droppedEncode += publisher.stats.encodeErrors - bad;
  };

  const onSocketError = (e: Error) => logger.error({ err: e }, 'listener socket error');

  async function pollSocketDrops(): Promise<void> {
    const byPort = await udpSocketDrops(udpPorts.map((l) => l.port));
    if (!byPort) return;
    for (const l of udpPorts) {
      const now = byPort.get(l.port) ?? 0;
      const before = lastKernelDrops.get(l.port) ?? 0;
      metrics.addSocketDrops(l.name, now - before);
      lastKernelDrops.set(l.port, now);
    }
  }

  const startParts = async (): Promise<void> => {
    const codecs = await createCodecs(registryFromEnv(process.env['SCHEMA_REGISTRY_URL']));
    if (deps.bus) bus = deps.bus;
    else {
      if (config.kafkaBrokers.length === 0)
        throw new Error('KAFKA_BROKERS is not set: the collector needs Kafka (or a bus passed to createApp)');
      bus = new KafkaBus({ brokers: config.kafkaBrokers, clientId: 'tidewatch-collector', logger });
    }
    await bus.ensureTopics([
      { topic: config.publisher.topic ?? CONTRACTS.flows.topic, partitions: config.topicPartitions },
    ]);
    const concurrency = config.publisher.concurrency ?? 4;
    producers = await Promise.all(Array.from({ length: concurrency }, () => bus!.producer()));
    if (config.directEncode !== false) direct = { writer: new FlowAvroWriter(codecs.flows), messages: [] };
    publisher = new FlowPublisher(codecs.flows, producers, config.publisher, {
      onProduced: (count, ms) => {
        metrics.published.inc(count);
        metrics.produceLatency.observe(ms / 1000);
      },
      onProduceError: (error, count) => {
        metrics.produceErrors.inc();
        logger.warn({ err: error, count }, 'produce failed; retrying');
      },
    });

    const listen = async (name: string, port: number | null): Promise<void> => {
      if (port === null) return;
      const l = new UdpListener(
        {
          name,
          port,
          host: config.host,
          sockets: config.socketsPerPort,
          recvBufferBytes: config.recvBufferBytes,
        },
        onDatagram,
        onSocketError,
      );
      await l.start();
      udp.push(l);
      udpPorts.push({ name, port: l.port });
      (ports as Record<string, number>)[name] = l.port;
      receiveBuffers[name] = l.recvBufferBytes;
      metrics.setReceiveBuffer(name, l.recvBufferBytes);
      if (l.recvBufferBytes < config.recvBufferBytes)
        logger.warn(
          { listener: name, requested: config.recvBufferBytes, granted: l.recvBufferBytes },
          'kernel granted a smaller UDP receive buffer (raise net.core.rmem_max)',
        );
    };
    // IPFIX over TCP is bound before the UDP listeners: with port 0 the kernel picks a TCP port, and
    // the UDP listener takes the same number. The other order lost races: a port the kernel picked
    // for UDP is often taken on TCP by an outgoing connection (ephemeral range).
    if (config.ipfixTcp && config.ipfixPort !== null) {
      const tcpListener = new IpfixTcpListener(config.ipfixPort, config.host, {
        onMessage: (message, exporter, exporterPort) => {
          onDatagram(message, exporter, exporterPort);
          return !(publisher?.full ?? false);
        },
        onFramingError: (exporter, what) => {
          metrics.counters.tcpFramingErrors++;
          logger.warn({ exporter, what }, 'IPFIX/TCP stream broke message framing; connection closed');
        },
        onError: onSocketError,
      });
      await tcpListener.start();
      tcp = tcpListener;
      ports.ipfixTcp = tcpListener.boundPort;
      timers.push(
        setInterval(() => {
          if (tcpListener.hasPaused && !(publisher?.full ?? true)) tcpListener.resume();
        }, 10),
      );
    }

    const wanted = [
      { name: 'netflow', port: config.netflowPort },
      { name: 'ipfix', port: tcp && config.ipfixPort === 0 ? tcp.boundPort : config.ipfixPort },
      { name: 'sflow', port: config.sflowPort },
    ].filter((l): l is { name: string; port: number } => l.port !== null);
    if (config.decodeWorkers > 0) {
      const p = new DecodeWorkerPool(
        {
          workers: config.decodeWorkers,
          listeners: wanted,
          host: config.host,
          recvBufferBytes: config.recvBufferBytes,
          allowedExporters: config.allowedExporters,
          directEncode: config.directEncode !== false,
        },
        (messages) => {
          metrics.counters.droppedQueueFull += publisher?.offerEncoded(messages) ?? messages.length;
        },
        onSocketError,
      );
      p.onCounters = (d) => {
        metrics.counters.notAllowed += d.notAllowed;
        metrics.counters.droppedQueueFull += d.refused;
        metrics.counters.droppedEncode += d.encodeErrors;
      };
      pool = p;
      await p.start();
      for (const l of wanted) {
        const port = p.ports[l.name] as number;
        const granted = p.recvBufferBytes[l.name] ?? 0;
        (ports as Record<string, number>)[l.name] = port;
        udpPorts.push({ name: l.name, port });
        receiveBuffers[l.name] = granted;
        metrics.setReceiveBuffer(l.name, granted);
      }
    } else for (const l of wanted) await listen(l.name, l.port);

    timers.push(setInterval(() => decoder.expire(Date.now()), TEMPLATE_SWEEP_MS));
    timers.push(setInterval(() => void pollSocketDrops(), SOCKET_DROPS_POLL_MS));
    for (const t of timers) t.unref();

    if (config.httpPort !== null) {
      health = new HealthServer(metrics.registry, () => ready);
      await health.start(config.httpPort);
      ports.http = health.port;
    }
    ready = true;
    logger.info({ ports, receiveBuffers, allowList: config.allowedExporters }, 'collector listening');
  };

  const app: CollectorApp = {
    ports,
    receiveBuffers,
    metrics,
    get ready() {
      return ready;
    },
    get decoder() {
      return decoder;
    },
    get publisher() {
      if (!publisher) throw new Error('collector not started');
      return publisher;
    },

    async start() {
      try {
        await startParts();
      } catch (e) {
        // whatever was bound or connected before the failure is released: a failed start leaks nothing
        await app.stop().catch(() => undefined);
        throw e;
      }
    },

    async stop() {
      ready = false;
      await Promise.all(udp.map((l) => l.stop()));
      await pool?.stop();
      await tcp?.stop();
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      await pollSocketDrops().catch(() => undefined);
      if (publisher) {
        await publisher.close(config.stopDeadlineMs);
        if (publisher.pending > 0)
          logger.error({ pending: publisher.pending }, 'stop deadline passed with flows unpublished');
      }
      await Promise.all(producers.map((p) => p.close()));
      producers = [];
      if (bus && !deps.bus) await bus.close();
      await health?.stop();
      udp.length = 0;
      udpPorts.length = 0;
      logger.info({ published: publisher?.stats.published ?? 0 }, 'collector stopped');
    },
  };
  return app;
}
