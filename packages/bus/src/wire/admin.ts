import type { Logger } from '@tidewatch/observability';
import { createTopics } from './apis.ts';
import { type Cluster, sleep } from './cluster.ts';
import { ErrorCode, KafkaProtocolError } from './protocol-errors.ts';

/**
 * Creates the topics that do not exist yet (partitions as given, the broker's default replication)
 * and waits until every partition of them has a leader. Returns the names it created; a topic
 * another process created meanwhile counts as existing.
 */
export async function createMissingTopics(
  cluster: Cluster,
  wanted: Map<string, number>,
  logger?: Logger,
): Promise<string[]> {
  const names = [...wanted.keys()];
  const known = await cluster.describe(names);
  const missing = known.topics
    .filter((t) => t.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    .map((t) => ({ name: t.name, partitions: wanted.get(t.name)! }));
  if (missing.length === 0) return [];
  const created: string[] = [];
  for (let attempt = 1; ; attempt++) {
    // KRaft brokers forward CreateTopics to the controller; ZooKeeper clusters need the controller.
    const { controllerId } = await cluster.describe([]);
    const conn =
      controllerId >= 0 ? await cluster.connectionTo(controllerId, 'meta') : await cluster.anyConnection();
    const results = await conn.request(createTopics(missing, 30_000), 40_000);
    const failed = results.filter(
      (r) => r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS,
    );
    created.push(...results.filter((r) => r.errorCode === ErrorCode.NONE).map((r) => r.name));
    if (failed.length === 0) break;
    const first = failed[0]!;
    const error = new KafkaProtocolError(first.errorCode, `CreateTopics ${first.name}`, first.errorMessage);
    if (!error.retriable || attempt >= 5) throw error;
    logger?.warn({ err: error, attempt }, 'creating topics failed, retrying');
    await sleep(200 * attempt);
  }
  for (let attempt = 1; ; attempt++) {
    const res = await cluster.describe(missing.map((t) => t.name));
    const ready = res.topics.every(
      (t) =>
        t.errorCode === 0 &&
        t.partitions.length === wanted.get(t.name) &&
        t.partitions.every((p) => p.errorCode === 0 && p.leader >= 0),
    );
    if (ready) break;
    if (attempt >= 100) {
      throw new KafkaProtocolError(
        ErrorCode.LEADER_NOT_AVAILABLE,
        `new topics ${missing.map((t) => t.name).join(', ')}`,
      );
    }
    await sleep(100);
  }
  for (const t of missing) cluster.invalidate(t.name);
  return created;
}
