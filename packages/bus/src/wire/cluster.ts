import type { ConnectionOptions } from 'node:tls';
import { type BrokerInfo, findCoordinator, type MetadataResponse, metadata } from './apis.ts';
import { BrokerConnection } from './connection.ts';
import { ErrorCode, KafkaConnectionError, KafkaProtocolError } from './protocol-errors.ts';
import type { SaslCredentials } from './sasl.ts';

export interface ClusterSettings {
  brokers: string[];
  clientId: string;
  ssl?: boolean | ConnectionOptions | undefined;
  sasl?: SaslCredentials | undefined;
  requestTimeoutMs?: number;
}

export interface TopicLayout {
  /** Leader node id per partition (-1: none right now). */
  leaders: number[];
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** True for failures a retry can fix (connection drops, leader moves, coordinators loading). */
export function isRetriable(error: unknown): boolean {
  return error instanceof KafkaConnectionError || (error instanceof KafkaProtocolError && error.retriable);
}

/**
 * The client's view of the cluster: brokers, partition leaders of the topics it uses, and one
 * connection per (broker, purpose) so that a long fetch never delays a heartbeat or a produce.
 */
export class Cluster {
  readonly settings: ClusterSettings;
  readonly #brokers = new Map<number, BrokerInfo>();
  readonly #topics = new Map<string, TopicLayout>();
  readonly #connections = new Map<string, BrokerConnection>();
  /** Why the last refresh found no layout for a topic (its error code). */
  readonly #topicErrors = new Map<string, number>();
  #refreshing: Promise<void> | undefined;
  #closed = false;

  constructor(settings: ClusterSettings) {
    this.settings = settings;
  }

  #connection(host: string, port: number, key: string): BrokerConnection {
    let conn = this.#connections.get(key);
    if (!conn) {
      conn = new BrokerConnection({
        host,
        port,
        clientId: this.settings.clientId,
        ssl: this.settings.ssl,
        sasl: this.settings.sasl,
        ...(this.settings.requestTimeoutMs ? { requestTimeoutMs: this.settings.requestTimeoutMs } : {}),
      });
      this.#connections.set(key, conn);
    }
    return conn;
  }

  /** A connection to any reachable broker (bootstrap list first, then known brokers). */
  async anyConnection(): Promise<BrokerConnection> {
    if (this.#closed) throw new KafkaConnectionError('the Kafka client is closed');
    const candidates: [string, number, string][] = [];
    for (const b of this.#brokers.values()) candidates.push([b.host, b.port, `${b.nodeId}:meta`]);
    for (const address of this.settings.brokers) {
      const colon = address.lastIndexOf(':');
      const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
      candidates.push([host, Number(address.slice(colon + 1)), `bootstrap:${address}`]);
    }
    let last: unknown;
    for (const [host, port, key] of candidates) {
      const conn = this.#connection(host, port, key);
      try {
        await conn.connect();
        return conn;
      } catch (error) {
        last = error;
      }
    }
    throw last instanceof Error
      ? last
      : new KafkaConnectionError(`no broker reachable in ${this.settings.brokers.join(',')}`);
  }

  /** The connection to a broker by node id, for one purpose ('produce', 'fetch', 'group', ...). */
  async connectionTo(nodeId: number, purpose: string): Promise<BrokerConnection> {
    if (this.#closed) throw new KafkaConnectionError('the Kafka client is closed');
    let broker = this.#brokers.get(nodeId);
    if (!broker) {
      await this.refresh([...this.#topics.keys()]);
      broker = this.#brokers.get(nodeId);
      if (!broker) throw new KafkaConnectionError(`broker ${nodeId} is not in the cluster metadata`);
    }
    return this.#connection(broker.host, broker.port, `${nodeId}:${purpose}`);
  }

  /** Reloads metadata for the topics (coalesces concurrent refreshes). */
  refresh(topics: string[]): Promise<void> {
    const run = async () => {
      const conn = await this.anyConnection();
      const res = await conn.request(metadata([...new Set([...this.#topics.keys(), ...topics])]));
      this.#brokers.clear();
      for (const b of res.brokers) this.#brokers.set(b.nodeId, b);
      for (const t of res.topics) {
        if (t.errorCode !== 0) {
          this.#topics.delete(t.name);
          this.#topicErrors.set(t.name, t.errorCode);
          continue;
        }
        const leaders: number[] = [];
        for (const p of t.partitions) leaders[p.partition] = p.errorCode === 0 ? p.leader : -1;
        for (let i = 0; i < leaders.length; i++) leaders[i] ??= -1;
        this.#topics.set(t.name, { leaders });
      }
    };
    if (this.#refreshing) {
      // One in flight may not include these topics: chain another after it.
      return this.#refreshing.then(() => this.refresh(topics));
    }
    this.#refreshing = run().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** The partition layout of a topic, loading metadata when unknown; throws if the topic is absent. */
  async topic(name: string): Promise<TopicLayout> {
    const known = this.#topics.get(name);
    if (known) return known;
    this.#topicErrors.delete(name);
    await this.refresh([name]);
    const layout = this.#topics.get(name);
    if (layout) return layout;
    throw new KafkaProtocolError(
      this.#topicErrors.get(name) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      `topic ${name}`,
    );
  }

  /** Metadata of these topics straight from a broker (not cached); records the brokers it names. */
  async describe(topics: string[]): Promise<MetadataResponse> {
    const conn = await this.anyConnection();
    const res = await conn.request(metadata(topics));
    for (const b of res.brokers) this.#brokers.set(b.nodeId, b);
    return res;
  }

  /** Forgets a topic's layout so the next use reloads it. */
  invalidate(topic: string): void {
    this.#topics.delete(topic);
  }

  /** The group coordinator's node id (FindCoordinator), retried while coordinators load. */
  async coordinator(groupId: string, signal?: AbortSignal): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const conn = await this.anyConnection();
      const res = await conn.request(findCoordinator(groupId));
      if (res.errorCode === 0) {
        if (!this.#brokers.has(res.nodeId)) this.#brokers.set(res.nodeId, res);
        return res.nodeId;
      }
      const error = new KafkaProtocolError(
        res.errorCode,
        `coordinator of group ${groupId}`,
        res.errorMessage,
      );
      if (!error.retriable || attempt >= 20 || signal?.aborted) throw error;
      await sleep(Math.min(1000, 50 * 2 ** attempt), signal);
    }
  }

  /** Drops every open connection (requests in flight fail and are retried); they reopen on use. */
  resetConnections(reason?: string): void {
    for (const conn of this.#connections.values()) conn.reset(reason);
  }

  close(): void {
    this.#closed = true;
    for (const conn of this.#connections.values()) conn.close();
    this.#connections.clear();
  }
}
