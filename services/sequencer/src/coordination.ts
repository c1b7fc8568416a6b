import type { PartitionCheckpoint } from '@tidewatch/sequencing';

/**
 * What the sequencer instances of one consumer group share beside entity statistics: each
 * partition's published watermark (windows are emitted only once every partition has passed their
 * end, so entity context is complete) and the replay checkpoint stored beside each committed offset.
 */
export interface SequencerCoordination {
  publishWatermarks(topic: string, watermarks: Map<number, number>): Promise<void>;
  /** The lowest published watermark over partitions 0..partitions-1 (-Infinity if one has none). */
  lowWatermark(topic: string, partitions: number): Promise<number>;
  /** Publishes, then reads the low watermark (one round trip where the backend allows). */
  exchangeWatermarks(topic: string, watermarks: Map<number, number>, partitions: number): Promise<number>;
  saveCheckpoint(
    group: string,
    topic: string,
    partition: number,
    checkpoint: PartitionCheckpoint,
  ): Promise<void>;
  loadCheckpoint(
    group: string,
    topic: string,
    partition: number,
    offset: number,
  ): Promise<PartitionCheckpoint | undefined>;
  /** Whether any checkpoint is stored for the partition (then a missing one means a stale read). */
  hasCheckpoints(group: string, topic: string, partition: number): Promise<boolean>;
  /** Forgets checkpoints of offsets below the one just committed. */
  pruneCheckpoints(group: string, topic: string, partition: number, committedOffset: number): Promise<void>;
}

/** The watermark an idle partition publishes: it holds nobody back. */
export const IDLE_WATERMARK = Number.MAX_SAFE_INTEGER;

export function encodeCheckpoint(c: PartitionCheckpoint): string {
  return JSON.stringify({
    ...c,
    maxSeenAtOffset: finiteOrNull(c.maxSeenAtOffset),
    emittedThrough: finiteOrNull(c.emittedThrough),
  });
}

export function decodeCheckpoint(text: string): PartitionCheckpoint {
  const raw = JSON.parse(text) as {
    offset: number;
    maxSeenAtOffset: number | null;
    processedThrough: number;
    emittedThrough: number | null;
    bumps: { offset: number; maxSeen: number }[];
  };
  return {
    offset: raw.offset,
    maxSeenAtOffset: raw.maxSeenAtOffset ?? Number.NEGATIVE_INFINITY,
    processedThrough: raw.processedThrough,
    emittedThrough: raw.emittedThrough ?? Number.NEGATIVE_INFINITY,
    bumps: raw.bumps,
  };
}

function finiteOrNull(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

/** One-process mode: everything lives in this process. */
export class MemoryCoordination implements SequencerCoordination {
  readonly #watermarks = new Map<string, Map<number, number>>();
  readonly #checkpoints = new Map<string, Map<number, string>>();

  async publishWatermarks(topic: string, watermarks: Map<number, number>): Promise<void> {
    let byPartition = this.#watermarks.get(topic);
    if (!byPartition) {
      byPartition = new Map();
      this.#watermarks.set(topic, byPartition);
    }
    for (const [p, w] of watermarks) byPartition.set(p, w);
  }

  async exchangeWatermarks(
    topic: string,
    watermarks: Map<number, number>,
    partitions: number,
  ): Promise<number> {
    await this.publishWatermarks(topic, watermarks);
    return this.lowWatermark(topic, partitions);
  }

  async lowWatermark(topic: string, partitions: number): Promise<number> {
    const byPartition = this.#watermarks.get(topic);
    let low = Number.POSITIVE_INFINITY;
    for (let p = 0; p < partitions; p++) low = Math.min(low, byPartition?.get(p) ?? Number.NEGATIVE_INFINITY);
    return low;
  }

  async saveCheckpoint(
    group: string,
    topic: string,
    partition: number,
    c: PartitionCheckpoint,
  ): Promise<void> {
    const key = `${group}|${topic}|${partition}`;
    let byOffset = this.#checkpoints.get(key);
    if (!byOffset) {
      byOffset = new Map();
      this.#checkpoints.set(key, byOffset);
    }
    byOffset.set(c.offset, encodeCheckpoint(c));
  }

  async loadCheckpoint(group: string, topic: string, partition: number, offset: number) {
    const text = this.#checkpoints.get(`${group}|${topic}|${partition}`)?.get(offset);
    return text === undefined ? undefined : decodeCheckpoint(text);
  }

  async hasCheckpoints(group: string, topic: string, partition: number): Promise<boolean> {
    return (this.#checkpoints.get(`${group}|${topic}|${partition}`)?.size ?? 0) > 0;
  }

  async pruneCheckpoints(
    group: string,
    topic: string,
    partition: number,
    committedOffset: number,
  ): Promise<void> {
    const byOffset = this.#checkpoints.get(`${group}|${topic}|${partition}`);
    for (const offset of byOffset?.keys() ?? []) if (offset < committedOffset) byOffset?.delete(offset);
  }
}
