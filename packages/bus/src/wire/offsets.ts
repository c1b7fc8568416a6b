import { listOffsets, offsetFetch } from './apis.ts';
import { type Cluster, sleep } from './cluster.ts';
import { KafkaProtocolError, needsMetadataRefresh } from './protocol-errors.ts';

export interface TopicPartition {
  topic: string;
  partition: number;
}

const id = (topic: string, partition: number) => `${topic}\0${partition}`;

/** ListOffsets (earliest: -2, latest: -1) for partitions, asked of each partition's leader. */
export async function listPartitionOffsets(
  cluster: Cluster,
  partitions: TopicPartition[],
  timestamp: number,
): Promise<Map<string, number>> {
  for (let attempt = 1; ; attempt++) {
    const byLeader = new Map<number, Map<string, number[]>>();
    for (const { topic, partition } of partitions) {
      const leader = (await cluster.topic(topic)).leaders[partition] ?? -1;
      const topics = byLeader.get(leader) ?? new Map<string, number[]>();
      topics.set(topic, [...(topics.get(topic) ?? []), partition]);
      byLeader.set(leader, topics);
    }
    const out = new Map<string, number>();
    let failure: KafkaProtocolError | undefined;
    await Promise.all(
      [...byLeader].map(async ([leader, topics]) => {
        if (leader < 0) {
          failure = new KafkaProtocolError(5, `ListOffsets of ${[...topics.keys()].join(',')}`);
          return;
        }
        const conn = await cluster.connectionTo(leader, 'meta');
        const res = await conn.request(
          listOffsets(
            [...topics].map(([topic, parts]) => ({ topic, partitions: parts })),
            timestamp,
          ),
        );
        for (const [topic, parts] of res) {
          for (const p of parts) {
            if (p.errorCode !== 0)
              failure = new KafkaProtocolError(p.errorCode, `ListOffsets of ${topic}[${p.partition}]`);
            else out.set(id(topic, p.partition), p.offset);
          }
        }
      }),
    );
    if (!failure) return out;
    if (!failure.retriable || attempt >= 8) throw failure;
    if (needsMetadataRefresh(failure.code)) for (const p of partitions) cluster.invalidate(p.topic);
    await sleep(100 * attempt);
  }
}

/** Messages behind the high watermark per partition of the topics, for a group. */
export async function groupLag(
  cluster: Cluster,
  groupId: string,
  topics: string[],
  fromBeginning: boolean,
): Promise<{ topic: string; partition: number; lag: number }[]> {
  await cluster.refresh(topics);
  const partitions: TopicPartition[] = [];
  for (const topic of topics) {
    const { leaders } = await cluster.topic(topic);
    for (let partition = 0; partition < leaders.length; partition++) partitions.push({ topic, partition });
  }
  const coordinator = await cluster.coordinator(groupId);
  const conn = await cluster.connectionTo(coordinator, 'meta');
  const committed = await conn.request(
    offsetFetch(
      groupId,
      topics.map((topic) => ({
        topic,
        partitions: partitions.filter((p) => p.topic === topic).map((p) => p.partition),
      })),
    ),
  );
  if (committed.errorCode !== 0)
    throw new KafkaProtocolError(committed.errorCode, `OffsetFetch of group ${groupId}`);
  const at = new Map(committed.offsets.map((o) => [id(o.topic, o.partition), o.offset]));
  const high = await listPartitionOffsets(cluster, partitions, -1);
  const low = fromBeginning ? await listPartitionOffsets(cluster, partitions, -2) : high;
  return partitions
    .map(({ topic, partition }) => {
      const end = high.get(id(topic, partition)) ?? 0;
      const offset = at.get(id(topic, partition)) ?? -1;
      const from = offset >= 0 ? offset : (low.get(id(topic, partition)) ?? end);
      return { topic, partition, lag: end - from };
    })
    .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}
