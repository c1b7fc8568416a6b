import type { Logger } from '@tidewatch/observability';
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  heartbeat,
  joinGroup,
  leaveGroup,
  offsetCommit,
  offsetFetch,
  syncGroup,
} from './apis.ts';
import { Reader, Writer } from './codec.ts';
import { type Cluster, isRetriable, sleep } from './cluster.ts';
import type { BrokerConnection } from './connection.ts';
import { ErrorCode, KafkaProtocolError } from './protocol-errors.ts';

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface GroupMemberSettings {
  groupId: string;
  topics: string[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  logger: Logger;
}

/**
 * Java's "roundrobin" assignor and kafkajs' RoundRobinAssigner produce the same kind of
 * assignment: offering both names lets members of either client share a group.
 */
const PROTOCOLS = ['roundrobin', 'RoundRobinAssigner'];

/** Round-robin over all subscribed partitions (sorted), members sorted by id. */
export function roundRobinAssign(
  members: { memberId: string; topics: string[] }[],
  partitionCounts: Map<string, number>,
): Map<string, Map<string, number[]>> {
  const sorted = [...members].sort((a, b) =>
    a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0,
  );
  const result = new Map<string, Map<string, number[]>>();
  for (const m of sorted) result.set(m.memberId, new Map());
  const topics = [...new Set(sorted.flatMap((m) => m.topics))].sort();
  let next = 0;
  for (const topic of topics) {
    const count = partitionCounts.get(topic) ?? 0;
    for (let partition = 0; partition < count; partition++) {
      for (let tries = 0; tries < sorted.length; tries++) {
        const member = sorted[next % sorted.length]!;
        next++;
        if (!member.topics.includes(topic)) continue;
        const mine = result.get(member.memberId)!;
        const list = mine.get(topic) ?? [];
        list.push(partition);
        mine.set(topic, list);
        break;
      }
    }
  }
  return result;
}

/** Thrown by commit() when the group moved on (rebalance): the offsets were not committed. */
export class CommitFailedError extends Error {
  override name = 'CommitFailedError';
}

/**
 * Membership of one consumer group (classic protocol, eager rebalancing): join/sync with the
 * assignment computed here when this member leads, heartbeats in the background, commits, leave.
 */
export class GroupMember {
  readonly #cluster: Cluster;
  readonly #settings: GroupMemberSettings;
  memberId = '';
  generationId = -1;
  assignment: TopicPartition[] = [];
  /** Set when the coordinator asks for a rejoin (rebalance) or no longer knows this generation. */
  rejoinNeeded = false;
  /** The generation ended: commits would fail and batches in flight are stale. */
  generationLost = false;
  #coordinator: number | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeating = false;
  readonly #rejoinListeners = new Set<() => void>();

  constructor(cluster: Cluster, settings: GroupMemberSettings) {
    this.#cluster = cluster;
    this.#settings = settings;
  }

  get groupId(): string {
    return this.#settings.groupId;
  }

  /** Calls listener once when a rejoin becomes needed; returns the unsubscribe function. */
  onRejoinNeeded(listener: () => void): () => void {
    this.#rejoinListeners.add(listener);
    return () => this.#rejoinListeners.delete(listener);
  }

  /** Rejoins at the next chance (this member saw a metadata change). */
  requestRejoin(): void {
    this.#needRejoin(false);
  }

  #needRejoin(lost: boolean): void {
    if (lost) this.generationLost = true;
    if (this.rejoinNeeded) return;
    this.rejoinNeeded = true;
    for (const listener of this.#rejoinListeners) listener();
  }

  async #connection(): Promise<BrokerConnection> {
    this.#coordinator ??= await this.#cluster.coordinator(this.#settings.groupId);
    return this.#cluster.connectionTo(this.#coordinator, 'group');
  }

  #coordinatorError(code: number): boolean {
    if (
      code === ErrorCode.NOT_COORDINATOR ||
      code === ErrorCode.COORDINATOR_NOT_AVAILABLE ||
      code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    ) {
      this.#coordinator = undefined;
      return true;
    }
    return false;
  }

  /** Joins (or rejoins) the group and returns this member's assignment. */
  async join(signal: AbortSignal): Promise<TopicPartition[]> {
    this.#stopHeartbeats();
    const { groupId, topics, sessionTimeoutMs, rebalanceTimeoutMs, logger } = this.#settings;
    const w = new Writer(128);
    encodeSubscription(w, topics);
    const metadata = Buffer.from(w.result());
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new Error(`consumer of group ${groupId} stopped while joining`);
      try {
        const conn = await this.#connection();
        const joined = await conn.request(
          joinGroup({
            groupId,
            sessionTimeoutMs,
            rebalanceTimeoutMs,
            memberId: this.memberId,
            protocols: PROTOCOLS.map((name) => ({ name, metadata })),
          }),
          rebalanceTimeoutMs + 10_000,
        );
        if (joined.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
          this.memberId = joined.memberId;
          continue;
        }
        if (joined.errorCode !== 0) {
          if (joined.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
          throw new KafkaProtocolError(joined.errorCode, `JoinGroup ${groupId}`);
        }
        this.memberId = joined.memberId;
        this.generationId = joined.generationId;
        let assignments: { memberId: string; assignment: Buffer }[] = [];
        if (joined.leader === joined.memberId) assignments = await this.#assign(joined.members);
        const synced = await conn.request(
          syncGroup({ groupId, generationId: this.generationId, memberId: this.memberId, assignments }),
          rebalanceTimeoutMs + 10_000,
        );
        if (synced.errorCode !== 0) {
          if (synced.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
          throw new KafkaProtocolError(synced.errorCode, `SyncGroup ${groupId}`);
        }
        if (signal.aborted) throw new Error(`consumer of group ${groupId} stopped while joining`);
        this.assignment = decodeAssignment(new Reader(synced.assignment, 'member assignment'));
        this.rejoinNeeded = false;
        this.generationLost = false;
        logger.debug(
          { generationId: this.generationId, memberId: this.memberId, assignment: this.assignment },
          'joined group',
        );
        this.#startHeartbeats();
        return this.assignment;
      } catch (error) {
        const code = error instanceof KafkaProtocolError ? error.code : undefined;
        const rejoinable =
          code === ErrorCode.REBALANCE_IN_PROGRESS ||
          code === ErrorCode.UNKNOWN_MEMBER_ID ||
          code === ErrorCode.ILLEGAL_GENERATION ||
          (code !== undefined && this.#coordinatorError(code)) ||
          isRetriable(error);
        if (!rejoinable || attempt >= 50) throw error;
        if (!(error instanceof KafkaProtocolError)) this.#coordinator = undefined;
        logger.debug({ err: error, attempt }, 'join failed, retrying');
        await sleep(code === ErrorCode.REBALANCE_IN_PROGRESS ? 0 : Math.min(1000, 50 * 2 ** attempt), signal);
      }
    }
  }

  async #assign(
    members: { memberId: string; metadata: Buffer }[],
  ): Promise<{ memberId: string; assignment: Buffer }[]> {
    const subscriptions = members.map((m) => ({
      memberId: m.memberId,
      topics: decodeSubscription(new Reader(m.metadata, `subscription of ${m.memberId}`)),
    }));
    const topics = [...new Set(subscriptions.flatMap((s) => s.topics))];
    await this.#cluster.refresh(topics);
    const counts = new Map<string, number>();
    for (const topic of topics) {
      try {
        counts.set(topic, (await this.#cluster.topic(topic)).leaders.length);
      } catch (error) {
        this.#settings.logger.warn({ topic, err: error }, 'subscribed topic has no metadata; not assigned');
      }
    }
    const plan = roundRobinAssign(subscriptions, counts);
    return [...plan].map(([memberId, assignment]) => {
      const w = new Writer(64);
      encodeAssignment(w, assignment);
      return { memberId, assignment: Buffer.from(w.result()) };
    });
  }

  #startHeartbeats(): void {
    this.#stopHeartbeats();
    const generation = this.generationId;
    const tick = async () => {
      if (this.#heartbeating) return;
      this.#heartbeating = true;
      try {
        const conn = await this.#connection();
        const code = await conn.request(
          heartbeat(this.#settings.groupId, generation, this.memberId),
          this.#settings.sessionTimeoutMs,
        );
        if (generation !== this.generationId) return;
        if (code === ErrorCode.REBALANCE_IN_PROGRESS) this.#needRejoin(false);
        else if (code === ErrorCode.ILLEGAL_GENERATION || code === ErrorCode.FENCED_INSTANCE_ID)
          this.#needRejoin(true);
        else if (code === ErrorCode.UNKNOWN_MEMBER_ID) {
          this.memberId = '';
          this.#needRejoin(true);
        } else if (code !== 0 && !this.#coordinatorError(code)) {
          this.#settings.logger.warn({ error: new KafkaProtocolError(code).message }, 'heartbeat failed');
        }
      } catch (error) {
        this.#coordinator = undefined;
        this.#settings.logger.warn({ err: error }, 'heartbeat failed');
      } finally {
        this.#heartbeating = false;
      }
    };
    this.#heartbeatTimer = setInterval(() => void tick(), this.#settings.heartbeatIntervalMs);
  }

  #stopHeartbeats(): void {
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }

  /** Commits offsets under the current generation; CommitFailedError when the group moved on. */
  async commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    if (offsets.length === 0) return;
    const byTopic = new Map<string, { partition: number; offset: bigint }[]>();
    for (const o of offsets) {
      const list = byTopic.get(o.topic) ?? [];
      list.push({ partition: o.partition, offset: BigInt(o.offset) });
      byTopic.set(o.topic, list);
    }
    const topics = [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
    for (let attempt = 1; ; attempt++) {
      let code = 0;
      try {
        const conn = await this.#connection();
        const results = await conn.request(
          offsetCommit({
            groupId: this.#settings.groupId,
            generationId: this.generationId,
            memberId: this.memberId,
            topics,
          }),
        );
        code = results.find((r) => r.errorCode !== 0)?.errorCode ?? 0;
      } catch (error) {
        if (!isRetriable(error) || attempt >= 5) throw error;
        this.#coordinator = undefined;
        await sleep(100 * attempt);
        continue;
      }
      if (code === 0) return;
      if (code === ErrorCode.REBALANCE_IN_PROGRESS) this.#needRejoin(false);
      if (code === ErrorCode.ILLEGAL_GENERATION || code === ErrorCode.UNKNOWN_MEMBER_ID)
        this.#needRejoin(true);
      const error = new KafkaProtocolError(code, `OffsetCommit of group ${this.#settings.groupId}`);
      if ((this.#coordinatorError(code) || error.retriable) && attempt < 5) {
        await sleep(100 * attempt);
        continue;
      }
      throw new CommitFailedError(
        `offsets of group ${this.#settings.groupId} not committed: ${error.message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Committed offsets of these partitions (-1: none). */
  async committed(partitions: TopicPartition[]): Promise<Map<string, number>> {
    const byTopic = new Map<string, number[]>();
    for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
    for (let attempt = 1; ; attempt++) {
      const conn = await this.#connection();
      const res = await conn.request(
        offsetFetch(
          this.#settings.groupId,
          [...byTopic].map(([topic, parts]) => ({ topic, partitions: parts })),
        ),
      );
      const code = res.errorCode || res.offsets.find((o) => o.errorCode !== 0)?.errorCode || 0;
      if (code === 0) return new Map(res.offsets.map((o) => [`${o.topic}\0${o.partition}`, o.offset]));
      const error = new KafkaProtocolError(code, `OffsetFetch of group ${this.#settings.groupId}`);
      if ((this.#coordinatorError(code) || error.retriable) && attempt < 10) {
        await sleep(100 * attempt);
        continue;
      }
      throw error;
    }
  }

  /** Leaves the group so its partitions move at once (errors are logged: the session expires anyway). */
  async leave(): Promise<void> {
    this.#stopHeartbeats();
    if (!this.memberId) return;
    try {
      const conn = await this.#connection();
      const code = await conn.request(leaveGroup(this.#settings.groupId, this.memberId), 5_000);
      if (code !== 0 && code !== ErrorCode.UNKNOWN_MEMBER_ID) {
        this.#settings.logger.warn({ error: new KafkaProtocolError(code).message }, 'leave group failed');
      }
    } catch (error) {
      this.#settings.logger.warn({ err: error }, 'leave group failed');
    }
    this.memberId = '';
    this.generationId = -1;
  }

  close(): void {
    this.#stopHeartbeats();
  }
}
