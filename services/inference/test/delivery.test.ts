import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type BusProducer, InProcessBus, type OutgoingMessage } from '@tidewatch/bus';
import { createCodecs, type Sequence, type SequenceFlow } from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository } from '@tidewatch/detector';
import { waitFor } from '@tidewatch/testing';
import { EmbeddedStore, type FindingRows, type StoredPoint } from '@tidewatch/vector-store';
import { Registry } from 'prom-client';
import { createInferenceMetrics, FindingPipeline } from '../src/index.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** n sequences of 1 to 40 flows; every 5th a vertical SYN scan (an alert by its sub-score). */
function sequences(n: number): Sequence[] {
  return Array.from({ length: n }, (_, k) => {
    const len = [1, 1, 1, 2, 3, 7, 1, 17, 1, 40][k % 10] as number;
    const scan = k % 5 === 0;
    const flows: SequenceFlow[] = Array.from({ length: len }, (_, i) => ({
      start_ms: 1_700_000_000_000 + i * 900,
      end_ms: 1_700_000_000_000 + i * 900 + 30,
      protocol: 6,
      src_port: 40000 + i,
      dst_port: scan ? 20 + i : 443,
      fwd_bytes: 60 + k,
      fwd_pkts: 1,
      bwd_bytes: scan ? 0 : 900 + i,
      bwd_pkts: scan ? 0 : 3,
      tcp_flags: 2,
      label: null,
      attack: null,
      origin: 'test',
    }));
    return {
      sequence_id: `00000000-0000-5000-8000-${k.toString(16).padStart(12, '0')}`,
      src_ip: `10.0.${k >> 8}.${k & 255}`,
      dst_ip: '10.9.9.9',
      window_start_ms: 1_700_000_000_000,
      window_end_ms: 1_700_000_300_000,
      part: 0,
      flows,
      context: { distinct_dsts: scan ? 60 : 1, distinct_dst_ports: scan ? 500 : 1, connections: len },
    };
  });
}

/** The embedded store, failing the upserts whose (1-based) number is listed. */
class FlakyStore extends EmbeddedStore {
  upserts = 0;
  constructor(
    dir: string,
    private readonly failing: Set<number>,
  ) {
    super({ dir, dim: 64 });
  }
  override async upsert(points: StoredPoint[]): Promise<void> {
    this.upserts++;
    if (this.failing.has(this.upserts)) throw new Error(`disk full (write ${this.upserts})`);
    await super.upsert(points);
  }
  override async upsertRows(batches: FindingRows[]): Promise<void> {
    this.upserts++;
    if (this.failing.has(this.upserts)) throw new Error(`disk full (write ${this.upserts})`);
    await super.upsertRows(batches);
  }
}

async function setup(failing: number[], failEmit = false) {
  const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1, maxBatch: 64 });
  const dir = await mkdtemp(join(tmpdir(), 'tw-delivery-'));
  const store = new FlakyStore(join(dir, 'v'), new Set(failing));
  await store.init();
  const bus = new InProcessBus();
  await bus.ensureTopics([{ topic: 'findings.v1' }]);
  const inner = await bus.producer();
  let sends = 0;
  const producer: BusProducer = {
    send: async (topic: string, messages: OutgoingMessage[]) => {
      sends++;
      if (failEmit && sends === 2) throw new Error('broker unavailable');
      // Every emitted finding must already be stored.
      for (const m of messages) assert.ok(await store.get(String(m.key)), `${m.key} emitted before stored`);
      await inner.send(topic, messages);
    },
    close: () => inner.close(),
  };
  const codecs = await createCodecs();
  cleanups.push(async () => {
    await store.close();
    await host.close();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });
  const detector = new Detector(host, { neighbourK: 2 });
  const pipeline = new FindingPipeline({
    detector,
    store,
    producer,
    findingsCodec: codecs.findings,
    findingsTopic: 'findings.v1',
    suppression: null,
    metrics: createInferenceMetrics(new Registry()),
    batchSize: 100,
    maxWaitMs: 0,
  });
  const emitted = async () => {
    const consumer = bus.consumer({ groupId: `g${Math.random()}`, topics: ['findings.v1'] });
    const keys: string[] = [];
    await consumer.run(async (ms) => {
      for (const m of ms) keys.push(String(m.key));
    });
    // Everything on the topic was handled once the group has committed up to its end.
    await waitFor(async () => (await consumer.lag()).every((p) => p.lag === 0), { what: 'findings read' });
    await consumer.stop();
    return keys;
  };
  return { pipeline, store, emitted };
}

describe('FindingPipeline delivery', () => {
  it('resolves only with every sequence stored and every alert emitted after its own write', async () => {
    const { pipeline, store, emitted } = await setup([]);
    const seqs = sequences(600);
    const r = await pipeline.process(seqs);
    assert.equal(r.stored, 600);
    assert.equal(store.size, 600);
    assert.ok(
      store.upserts >= 2 && store.upserts <= 7,
      `${store.upserts} writes for 600 points in runs ≥ 100`,
    );
    const keys = await emitted();
    assert.equal(keys.length, r.emitted);
    assert.ok(r.emitted >= 120, `${r.emitted} alerts`);
    assert.equal(new Set(keys).size, keys.length);
  });

  it('rejects when a store write fails, emitting nothing that was not stored, and a retry completes', async () => {
    const { pipeline, store, emitted } = await setup([2]);
    const seqs = sequences(600);
    await assert.rejects(pipeline.process(seqs), /disk full \(write 2\)/);
    const partial = await emitted();
    for (const k of partial) assert.ok(await store.get(k));
    const r = await pipeline.process(seqs);
    assert.equal(r.stored, 600);
    assert.equal(store.size, 600);
    const keys = new Set(await emitted());
    assert.equal(keys.size, r.emitted);
  });

  it('rejects when an emit fails', async () => {
    const { pipeline } = await setup([], true);
    await assert.rejects(pipeline.process(sequences(600)), /broker unavailable/);
  });
});
