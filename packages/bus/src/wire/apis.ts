import type { Reader, Writer } from './codec.ts';

/**
 * The protocol versions this client speaks: all non-flexible (no tagged fields), all present in
 * Kafka 2.x/3.x and kept in 4.x after KIP-896 removed the old ones.
 */
export const API = {
  Produce: { key: 0, version: 7 },
  Fetch: { key: 1, version: 11 },
  ListOffsets: { key: 2, version: 4 },
  Metadata: { key: 3, version: 8 },
  OffsetCommit: { key: 8, version: 7 },
  OffsetFetch: { key: 9, version: 5 },
  FindCoordinator: { key: 10, version: 2 },
  JoinGroup: { key: 11, version: 5 },
  Heartbeat: { key: 12, version: 3 },
  LeaveGroup: { key: 13, version: 3 },
  SyncGroup: { key: 14, version: 3 },
  SaslHandshake: { key: 17, version: 1 },
  ApiVersions: { key: 18, version: 2 },
  SaslAuthenticate: { key: 36, version: 1 },
  InitProducerId: { key: 22, version: 1 },
  CreateTopics: { key: 19, version: 4 },
} as const;

export type ApiName = keyof typeof API;

export interface ApiSpec<Res> {
  name: ApiName;
  /** Expected request size, so large requests are written without regrowing. */
  sizeHint?: number;
  encode(w: Writer): void;
  decode(r: Reader): Res;
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
}

// ApiVersions v2
export interface ApiVersionsResponse {
  errorCode: number;
  versions: Map<number, { min: number; max: number }>;
}
export const apiVersions = (): ApiSpec<ApiVersionsResponse> => ({
  name: 'ApiVersions',
  encode() {},
  decode(r) {
    const errorCode = r.int16();
    const versions = new Map<number, { min: number; max: number }>();
    for (const [key, min, max] of r.array((a) => [a.int16(), a.int16(), a.int16()] as const))
      versions.set(key, { min, max });
    return { errorCode, versions };
  },
});

// Metadata v8
export interface PartitionMetadata {
  errorCode: number;
  partition: number;
  leader: number;
}
export interface TopicMetadata {
  errorCode: number;
  name: string;
  partitions: PartitionMetadata[];
}
export interface MetadataResponse {
  brokers: BrokerInfo[];
  controllerId: number;
  topics: TopicMetadata[];
}
export const metadata = (topics: string[] | null): ApiSpec<MetadataResponse> => ({
  name: 'Metadata',
  encode(w) {
    w.array(topics, (x, t) => x.string(t));
    w.bool(false); // allow_auto_topic_creation
    w.bool(false);
    w.bool(false);
  },
  decode(r) {
    r.int32(); // throttle
    const brokers = r.array((a) => {
      const b = { nodeId: a.int32(), host: a.string(), port: a.int32() };
      a.nullableString(); // rack
      return b;
    });
    r.nullableString(); // cluster id
    const controllerId = r.int32();
    const list = r.array((a) => {
      const errorCode = a.int16();
      const name = a.string();
      a.bool(); // internal
      const partitions = a.array((p) => {
        const part = { errorCode: p.int16(), partition: p.int32(), leader: p.int32() };
        p.int32(); // leader epoch
        p.array((q) => q.int32());
        p.array((q) => q.int32());
        p.array((q) => q.int32());
        return part;
      });
      a.int32(); // topic authorized operations
      return { errorCode, name, partitions };
    });
    r.int32(); // cluster authorized operations
    return { brokers, controllerId, topics: list };
  },
});

// Produce v7
export interface ProducePartitionResult {
  partition: number;
  errorCode: number;
  baseOffset: bigint;
}
export const produce = (
  acks: number,
  timeoutMs: number,
  topics: { topic: string; partitions: { partition: number; records: Buffer }[] }[],
): ApiSpec<Map<string, ProducePartitionResult[]>> => ({
  name: 'Produce',
  sizeHint: topics.reduce((n, t) => n + 64 + t.topic.length * 3 + t.partitions.length * 16, 128),
  encode(w) {
    w.nullableString(null); // transactional id
    w.int16(acks);
    w.int32(timeoutMs);
    w.array(topics, (x, t) => {
      x.string(t.topic);
      x.array(t.partitions, (y, p) => {
        y.int32(p.partition);
        y.bytesRef(p.records);
      });
    });
  },
  decode(r) {
    const out = new Map<string, ProducePartitionResult[]>();
    r.array((a) => {
      const topic = a.string();
      out.set(
        topic,
        a.array((p) => {
          const res = { partition: p.int32(), errorCode: p.int16(), baseOffset: p.int64() };
          p.int64(); // log append time
          p.int64(); // log start offset
          return res;
        }),
      );
    });
    r.int32(); // throttle
    return out;
  },
});

// Fetch v11 (sessionless)
export interface FetchPartitionResult {
  partition: number;
  errorCode: number;
  highWatermark: number;
  /** Position of the record batches in the response frame (views, not copies). */
  records: Buffer | null;
}
export interface FetchResponse {
  errorCode: number;
  topics: Map<string, FetchPartitionResult[]>;
}
export const fetch = (
  maxWaitMs: number,
  maxBytes: number,
  partitionMaxBytes: number,
  topics: { topic: string; partitions: { partition: number; offset: number }[] }[],
): ApiSpec<FetchResponse> => ({
  name: 'Fetch',
  encode(w) {
    w.int32(-1); // replica id
    w.int32(maxWaitMs);
    w.int32(1); // min bytes
    w.int32(maxBytes);
    w.int8(0); // read_uncommitted: nothing here writes transactions
    w.int32(0); // session id
    w.int32(-1); // session epoch: full, sessionless fetch
    w.array(topics, (x, t) => {
      x.string(t.topic);
      x.array(t.partitions, (y, p) => {
        y.int32(p.partition);
        y.int32(-1); // current leader epoch
        y.int64(p.offset);
        y.int64(-1); // log start offset (followers only)
        y.int32(partitionMaxBytes);
      });
    });
    w.array([], () => {}); // forgotten topics
    w.string(''); // rack
  },
  decode(r) {
    r.int32(); // throttle
    const errorCode = r.int16();
    r.int32(); // session id
    const out = new Map<string, FetchPartitionResult[]>();
    r.array((a) => {
      const topic = a.string();
      out.set(
        topic,
        a.array((p) => {
          const partition = p.int32();
          const errorCode = p.int16();
          const highWatermark = p.int64Number();
          p.int64(); // last stable offset
          p.int64(); // log start offset
          p.array((q) => [q.int64(), q.int64()]); // aborted transactions
          p.int32(); // preferred read replica
          return { partition, errorCode, highWatermark, records: p.bytes() };
        }),
      );
    });
    return { errorCode, topics: out };
  },
});

// ListOffsets v4
export const EARLIEST = -2;
export const LATEST = -1;
export const listOffsets = (
  topics: { topic: string; partitions: number[] }[],
  timestamp: number,
): ApiSpec<Map<string, { partition: number; errorCode: number; offset: number }[]>> => ({
  name: 'ListOffsets',
  encode(w) {
    w.int32(-1);
    w.int8(0);
    w.array(topics, (x, t) => {
      x.string(t.topic);
      x.array(t.partitions, (y, p) => {
        y.int32(p);
        y.int32(-1);
        y.int64(timestamp);
      });
    });
  },
  decode(r) {
    r.int32();
    const out = new Map<string, { partition: number; errorCode: number; offset: number }[]>();
    r.array((a) => {
      const topic = a.string();
      out.set(
        topic,
        a.array((p) => {
          const partition = p.int32();
          const errorCode = p.int16();
          p.int64(); // timestamp
          const offset = p.int64Number();
          p.int32(); // leader epoch
          return { partition, errorCode, offset };
        }),
      );
    });
    return out;
  },
});

// InitProducerId v1
export const initProducerId = (): ApiSpec<{
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}> => ({
  name: 'InitProducerId',
  encode(w) {
    w.nullableString(null);
    w.int32(60_000);
  },
  decode(r) {
    r.int32();
    return { errorCode: r.int16(), producerId: r.int64Number(), producerEpoch: r.int16() };
  },
});

// FindCoordinator v2
export const findCoordinator = (
  key: string,
): ApiSpec<{ errorCode: number; errorMessage: string | null } & BrokerInfo> => ({
  name: 'FindCoordinator',
  encode(w) {
    w.string(key);
    w.int8(0); // group
  },
  decode(r) {
    r.int32();
    return {
      errorCode: r.int16(),
      errorMessage: r.nullableString(),
      nodeId: r.int32(),
      host: r.string(),
      port: r.int32(),
    };
  },
});

// JoinGroup v5
export interface JoinGroupResponse {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leader: string;
  memberId: string;
  members: { memberId: string; metadata: Buffer }[];
}
export const joinGroup = (req: {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  memberId: string;
  protocols: { name: string; metadata: Buffer }[];
}): ApiSpec<JoinGroupResponse> => ({
  name: 'JoinGroup',
  encode(w) {
    w.string(req.groupId);
    w.int32(req.sessionTimeoutMs);
    w.int32(req.rebalanceTimeoutMs);
    w.string(req.memberId);
    w.nullableString(null);
    w.string('consumer');
    w.array(req.protocols, (x, p) => {
      x.string(p.name);
      x.bytes(p.metadata);
    });
  },
  decode(r) {
    r.int32();
    return {
      errorCode: r.int16(),
      generationId: r.int32(),
      protocolName: r.nullableString() ?? '',
      leader: r.string(),
      memberId: r.string(),
      members: r.array((a) => {
        const memberId = a.string();
        a.nullableString();
        return { memberId, metadata: a.bytes() ?? Buffer.alloc(0) };
      }),
    };
  },
});

// SyncGroup v3
export const syncGroup = (req: {
  groupId: string;
  generationId: number;
  memberId: string;
  assignments: { memberId: string; assignment: Buffer }[];
}): ApiSpec<{ errorCode: number; assignment: Buffer }> => ({
  name: 'SyncGroup',
  encode(w) {
    w.string(req.groupId);
    w.int32(req.generationId);
    w.string(req.memberId);
    w.nullableString(null);
    w.array(req.assignments, (x, a) => {
      x.string(a.memberId);
      x.bytes(a.assignment);
    });
  },
  decode(r) {
    r.int32();
    return { errorCode: r.int16(), assignment: r.bytes() ?? Buffer.alloc(0) };
  },
});

// Heartbeat v3
export const heartbeat = (groupId: string, generationId: number, memberId: string): ApiSpec<number> => ({
  name: 'Heartbeat',
  encode(w) {
    w.string(groupId);
    w.int32(generationId);
    w.string(memberId);
    w.nullableString(null);
  },
  decode(r) {
    r.int32();
    return r.int16();
  },
});

// LeaveGroup v3
export const leaveGroup = (groupId: string, memberId: string): ApiSpec<number> => ({
  name: 'LeaveGroup',
  encode(w) {
    w.string(groupId);
    w.array([memberId], (x, m) => {
      x.string(m);
      x.nullableString(null);
    });
  },
  decode(r) {
    r.int32();
    const errorCode = r.int16();
    const members = r.array((a) => {
      a.string();
      a.nullableString();
      return a.int16();
    });
    return errorCode || members.find((c) => c !== 0) || 0;
  },
});

// OffsetCommit v7
export const offsetCommit = (req: {
  groupId: string;
  generationId: number;
  memberId: string;
  topics: { topic: string; partitions: { partition: number; offset: bigint | number }[] }[];
}): ApiSpec<{ topic: string; partition: number; errorCode: number }[]> => ({
  name: 'OffsetCommit',
  encode(w) {
    w.string(req.groupId);
    w.int32(req.generationId);
    w.string(req.memberId);
    w.nullableString(null);
    w.array(req.topics, (x, t) => {
      x.string(t.topic);
      x.array(t.partitions, (y, p) => {
        y.int32(p.partition);
        y.int64(p.offset);
        y.int32(-1);
        y.nullableString(null);
      });
    });
  },
  decode(r) {
    r.int32();
    return r
      .array((a) => {
        const topic = a.string();
        return a.array((p) => ({ topic, partition: p.int32(), errorCode: p.int16() }));
      })
      .flat();
  },
});

// OffsetFetch v5
export const offsetFetch = (
  groupId: string,
  topics: { topic: string; partitions: number[] }[] | null,
): ApiSpec<{
  errorCode: number;
  offsets: { topic: string; partition: number; offset: number; errorCode: number }[];
}> => ({
  name: 'OffsetFetch',
  encode(w) {
    w.string(groupId);
    w.array(topics, (x, t) => {
      x.string(t.topic);
      x.int32Array(t.partitions);
    });
  },
  decode(r) {
    r.int32();
    const offsets = r
      .array((a) => {
        const topic = a.string();
        return a.array((p) => {
          const partition = p.int32();
          const offset = p.int64Number();
          p.int32();
          p.nullableString();
          return { topic, partition, offset, errorCode: p.int16() };
        });
      })
      .flat();
    return { errorCode: r.int16(), offsets };
  },
});

// SaslHandshake v1 / SaslAuthenticate v1
export const saslHandshake = (mechanism: string): ApiSpec<{ errorCode: number; mechanisms: string[] }> => ({
  name: 'SaslHandshake',
  encode(w) {
    w.string(mechanism);
  },
  decode(r) {
    return { errorCode: r.int16(), mechanisms: r.array((a) => a.string()) };
  },
});
export const saslAuthenticate = (
  bytes: Buffer,
): ApiSpec<{ errorCode: number; errorMessage: string | null; bytes: Buffer }> => ({
  name: 'SaslAuthenticate',
  encode(w) {
    w.bytes(bytes);
  },
  decode(r) {
    const errorCode = r.int16();
    const errorMessage = r.nullableString();
    const out = r.bytes() ?? Buffer.alloc(0);
    r.int64();
    return { errorCode, errorMessage, bytes: out };
  },
});

/** ConsumerProtocolSubscription v0 (the "consumer" protocol's member metadata). */
export function encodeSubscription(w: Writer, topics: string[]): void {
  w.int16(0);
  w.array(topics, (x, t) => x.string(t));
  w.bytes(null);
}
export function decodeSubscription(r: Reader): string[] {
  r.int16();
  return r.array((a) => a.string());
}

/** ConsumerProtocolAssignment v0. */
export function encodeAssignment(w: Writer, assignment: Map<string, number[]>): void {
  w.int16(0);
  w.array([...assignment], (x, [topic, partitions]) => {
    x.string(topic);
    x.int32Array(partitions);
  });
  w.bytes(null);
}
export function decodeAssignment(r: Reader): { topic: string; partition: number }[] {
  if (r.remaining === 0) return [];
  r.int16();
  return r
    .array((a) => {
      const topic = a.string();
      return a.array((p) => ({ topic, partition: p.int32() }));
    })
    .flat();
}

// CreateTopics v4 (replication factor -1: the broker default)
export const createTopics = (
  topics: { name: string; partitions: number }[],
  timeoutMs: number,
): ApiSpec<{ name: string; errorCode: number; errorMessage: string | null }[]> => ({
  name: 'CreateTopics',
  encode(w) {
    w.array(topics, (x, t) => {
      x.string(t.name);
      x.int32(t.partitions);
      x.int16(-1);
      x.array([], () => {});
      x.array([], () => {});
    });
    w.int32(timeoutMs);
    w.bool(false);
  },
  decode(r) {
    r.int32();
    return r.array((a) => ({ name: a.string(), errorCode: a.int16(), errorMessage: a.nullableString() }));
  },
});
