import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { createCodecs, type Finding, type FlowRecord, type Sequence } from '@tidewatch/contracts';
import { ServiceMetrics } from '@tidewatch/observability';
import { uniqueName, waitFor } from '@tidewatch/testing';
import {
  type BusConsumer,
  type BusMessage,
  decodeMessage,
  deadLetterTopic,
  type MessageBus,
  PoisonMessageError,
  type RecordSink,
  RetriableError,
} from '../src/index.ts';

export const sampleFlow: FlowRecord = {
  exporter: '192.0.2.1',
  observation_domain: 7,
  source_format: 'ipfix',
  start_ms: 1_700_000_000_000,
  end_ms: 1_700_000_001_500,
  protocol: 6,
  src_ip: '10.0.0.1',
  dst_ip: '2001:db8::1',
  src_port: 51000,
  dst_port: 443,
  fwd_bytes: 1200,
  fwd_pkts: 10,
  bwd_bytes: 5_000_000_000,
  bwd_pkts: 4,
  tcp_flags: 0x1b,
  sampling_rate: 100,
  in_if: 1,
  out_if: 2,
  src_as: 64500,
  dst_as: 64501,
  vlan: 10,
  icmp_type: null,
  icmp_code: null,
  label: 1,
  attack: 'portscan',
  extra: { 'vendor.field': 'x' },
};

export const sampleSequence: Sequence = {
  sequence_id: '1b4e28ba-2fa1-51d2-883f-0016d3cca427',
  src_ip: '10.0.0.1',
  dst_ip: '10.0.0.2',
  window_start_ms: 1_700_000_000_000,
  window_end_ms: 1_700_000_060_000,
  part: 1,
  flows: [
    {
      start_ms: 1_700_000_000_100,
      end_ms: 1_700_000_000_900,
      protocol: 17,
      src_port: 5353,
      dst_port: 53,
      fwd_bytes: 80,
      fwd_pkts: 1,
      bwd_bytes: 120,
      bwd_pkts: 1,
      tcp_flags: 0,
      label: null,
      attack: null,
      origin: 'netflow9:192.0.2.1',
      sampling_rate: 1_000,
    },
  ],
  context: {
    distinct_dsts: 3,
    distinct_dst_ports: 5,
    connections: 12,
    distinct_srcs: 4,
    distinct_probe_srcs: 2,
  },
};

export const sampleFinding: Finding = {
  sequence_id: sampleSequence.sequence_id,
  window_start_ms: 1_700_000_000_000,
  window_end_ms: 1_700_000_060_000,
  first_seen_ms: 1_700_000_000_100,
  last_seen_ms: 1_700_000_000_900,
  src_ip: '10.0.0.1',
  dst_ip: '10.0.0.2',
  dst_ports: [53, 443],
  protocols: [17, 6],
  connections: 12,
  fwd_bytes: 80,
  bwd_bytes: 120,
  fwd_pkts: 1,
  bwd_pkts: 1,
  score: 0.875,
  anomaly: 0.25,
  verdict: 'malicious',
  tactics: [{ id: 'TA0011', name: 'Command and Control', probability: 0.75 }],
  techniques: [{ id: 'T1071.004', name: 'DNS', probability: 0.5 }],
  severity: 'high',
  model_version: 'v1',
  status: 'new',
  explanation: {
    subscores: { beacon: 0.9, scan: 0.1, brute_force: 0, exfiltration: 0.2, reflection: 0 },
    top_features: [{ name: 'gap_std', value: 0.1, contribution: 0.4 }],
    neighbours: [{ sequence_id: 'a1b2', similarity: 0.99, verdict: 'malicious', label: 'dns-tunnel' }],
  },
  suppressed_by: null,
  label: 1,
  scored_at_ms: 1_700_000_070_000,
};

/** A new topic of `partitions` holding messages k0…k{total-1} (values "0"…), published before any consumer. */
async function publishNumbered(
  b: MessageBus,
  name: string,
  total: number,
  partitions: number,
): Promise<string> {
  const topic = uniqueName(name);
  await b.ensureTopics([{ topic, partitions }]);
  const producer = await b.producer();
  await producer.send(
    topic,
    Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
  );
  await producer.close();
  return topic;
}

/** Plain data for deepEqual (avsc maps and records carry their own prototypes). */
const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

export interface BusContractOptions {
  skip: string | false;
  /** Whether the bus reads a partition's next batch ahead and calls ConsumerOptions.prepare. */
  readsAhead: boolean;
}

/**
 * The behaviour every MessageBus must show (KafkaBus against a real broker, InProcessBus in memory):
 * Avro round-trip, at-least-once across a crash, poison messages to the DLQ, drain on stop.
 */
export function busContract(
  name: string,
  createBus: (metrics?: ServiceMetrics) => MessageBus,
  options: BusContractOptions,
): void {
  describe(`MessageBus contract: ${name}`, { skip: options.skip }, () => {
    const buses: MessageBus[] = [];
    const consumers: BusConsumer[] = [];
    const bus = (metrics?: ServiceMetrics) => {
      const b = createBus(metrics);
      buses.push(b);
      return b;
    };
    const track = (c: BusConsumer) => {
      consumers.push(c);
      return c;
    };
    after(async () => {
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await Promise.allSettled(buses.map((b) => b.close()));
    });

    it('round-trips flows.v1, sequences.v1 and findings.v1 through topics as Avro', async () => {
      const b = bus();
      const codecs = await createCodecs();
      const prefix = uniqueName('roundtrip');
      const topics = {
        flows: `${prefix}.flows.v1`,
        sequences: `${prefix}.sequences.v1`,
        findings: `${prefix}.findings.v1`,
      };
      await b.ensureTopics(Object.values(topics).map((topic) => ({ topic })));
      const producer = await b.producer();
      await producer.send(topics.flows, [
        { key: 'k', value: codecs.flows.encode(sampleFlow), headers: { 'x-test': 'flow' } },
      ]);
      await producer.send(topics.sequences, [
        { key: sampleSequence.sequence_id, value: codecs.sequences.encode(sampleSequence) },
      ]);
      await producer.send(topics.findings, [
        { key: sampleFinding.sequence_id, value: codecs.findings.encode(sampleFinding) },
      ]);
      await producer.close();

      const received = new Map<string, BusMessage>();
      const consumer = track(b.consumer({ groupId: uniqueName('g'), topics: Object.values(topics) }));
      await consumer.run(async (messages) => {
        for (const m of messages) received.set(m.topic, m);
      });
      await waitFor(() => received.size === 3, { what: 'three contract messages' });
      await consumer.stop();

      const flow = received.get(topics.flows)!;
      assert.deepEqual(plain(decodeMessage((v) => codecs.flows.decode(v), flow)), plain(sampleFlow));
      assert.equal(flow.key?.toString(), 'k');
      assert.equal(flow.headers['x-test'], 'flow');
      const seq = received.get(topics.sequences)!;
      assert.deepEqual(plain(codecs.sequences.decode(seq.value)), plain(sampleSequence));
      assert.equal(seq.key?.toString(), sampleSequence.sequence_id);
      const finding = received.get(topics.findings)!;
      assert.deepEqual(plain(codecs.findings.decode(finding.value)), plain(sampleFinding));
    });

    it('loses nothing when a consumer crashes mid-batch and restarts; idempotent output count in = count out', async () => {
      const b = bus();
      const groupId = uniqueName('g');
      const total = 240;
      const topic = await publishNumbered(b, 'crash', total, 4);

      const output = new Set<string>(); // the idempotent sink: writes are keyed
      let handled = 0;
      let transientThrown = false;
      const inCrashedBatch: string[] = [];
      let crashed: Promise<void> | undefined;
      const first = track(b.consumer({ groupId, topics: [topic], maxBatchSize: 20 }));
      await first.run(async (messages) => {
        if (crashed) throw new RetriableError('process is going down');
        for (const [i, m] of messages.entries()) {
          output.add(m.key!.toString());
          handled += 1;
          if (!transientThrown && handled >= 30 && i >= 5) {
            // A transient failure half-way: the whole batch is retried, nothing is committed.
            transientThrown = true;
            throw new Error('transient: connection reset');
          }
          if (transientThrown && !crashed && handled >= 90 && i >= 5 && messages.length > i + 1) {
            // The crash: output written for part of the batch, then the process stops uncommitted.
            inCrashedBatch.push(...messages.slice(0, i + 1).map((x) => x.key!.toString()));
            crashed = first.stop();
            throw new RetriableError('process is going down');
          }
        }
      });
      await waitFor(() => crashed !== undefined, { what: 'the crash', timeoutMs: 60_000 });
      await crashed;
      assert.ok(inCrashedBatch.length > 0);
      assert.ok(output.size < total, `crash happened before the end (${output.size} of ${total})`);

      const redelivered = new Set<string>();
      const second = track(b.consumer({ groupId, topics: [topic], maxBatchSize: 20 }));
      await second.run(async (messages) => {
        for (const m of messages) {
          const key = m.key!.toString();
          if (output.has(key)) redelivered.add(key);
          output.add(key);
          handled += 1;
        }
      });
      await waitFor(() => output.size === total, { what: `all ${total} keys`, timeoutMs: 60_000 });
      await waitFor(async () => (await second.lag()).every((p) => p.lag === 0), { what: 'lag 0' });
      await second.stop();

      assert.equal(output.size, total);
      assert.ok(handled > total, 'some messages were processed twice');
      for (const key of inCrashedBatch)
        assert.ok(redelivered.has(key), `${key} of the crashed batch was redelivered`);
    });

    it('sends a poison message to <topic>.dlq with its error and continues past it', async () => {
      const b = bus();
      const codecs = await createCodecs();
      const topic = uniqueName('poison');
      await b.ensureTopics([{ topic, partitions: 1 }]);
      const producer = await b.producer();
      const values = Array.from({ length: 10 }, (_, i) => {
        if (i === 3) return Buffer.from('not avro at all');
        return codecs.flows.encode({
          ...sampleFlow,
          src_port: 1000 + i,
          exporter: i === 7 ? 'rejected' : 'ok',
        });
      });
      await producer.send(
        topic,
        values.map((value, i) => ({ key: `k${i}`, value, headers: { 'x-seq': String(i) } })),
      );
      await producer.close();

      const decoded: number[] = [];
      const dead: BusMessage[] = [];
      const consumer = track(b.consumer({ groupId: uniqueName('g'), topics: [topic] }));
      await consumer.run(async (messages) => {
        const flows = messages.map((m) => decodeMessage((v) => codecs.flows.decode(v), m));
        // A rejection that does not name its message: the bus finds it by replaying one at a time.
        if (flows.some((f) => f.exporter === 'rejected'))
          throw new PoisonMessageError('exporter is not allowed');
        for (const f of flows) if (!decoded.includes(f.src_port)) decoded.push(f.src_port);
      });
      const dlq = track(b.consumer({ groupId: uniqueName('g'), topics: [deadLetterTopic(topic)] }));
      await dlq.run(async (messages) => {
        dead.push(...messages);
      });
      await waitFor(() => decoded.length === 8 && dead.length === 2, {
        what: '8 decoded and 2 dead letters',
        timeoutMs: 60_000,
      });
      await consumer.stop();
      await dlq.stop();

      assert.deepEqual(
        decoded.sort((x, y) => x - y),
        [1000, 1001, 1002, 1004, 1005, 1006, 1008, 1009],
      );
      dead.sort((x, y) => Number(x.headers['x-original-offset']) - Number(y.headers['x-original-offset']));
      const [bad, rejected] = dead;
      assert.equal(bad!.value.toString(), 'not avro at all');
      assert.equal(bad!.key?.toString(), 'k3');
      assert.match(
        bad!.headers['x-error']!,
        /^PoisonMessageError: cannot decode .*WireFormatError: magic byte is 110/,
      );
      assert.equal(bad!.headers['x-original-topic'], topic);
      assert.equal(bad!.headers['x-original-partition'], '0');
      assert.equal(bad!.headers['x-original-offset'], '3');
      assert.equal(bad!.headers['x-seq'], '3');
      assert.equal(rejected!.headers['x-error'], 'PoisonMessageError: exporter is not allowed');
      assert.equal(rejected!.headers['x-original-offset'], '7');
      assert.equal(codecs.flows.decode(rejected!.value).src_port, 1007);
    });

    it('stop() finishes the batch in flight and commits it: the group resumes after it', async () => {
      const b = bus();
      const topic = uniqueName('drain');
      const groupId = uniqueName('g');
      await b.ensureTopics([{ topic, partitions: 1 }]);
      const producer = await b.producer();
      await producer.send(
        topic,
        Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
      );

      const handledByFirst: string[] = [];
      let entered = false;
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let sawStopping = false;
      const first = track(b.consumer({ groupId, topics: [topic] }));
      await first.run(async (messages, ctx) => {
        entered = true;
        await gate;
        sawStopping ||= ctx.stopping;
        handledByFirst.push(...messages.map((m) => m.key!.toString()));
      });
      await waitFor(() => entered, { what: 'a batch in flight' });
      const stopped = first.stop();
      let stopResolved = false;
      void stopped.then(() => {
        stopResolved = true;
      });
      await new Promise((r) => setImmediate(r));
      assert.equal(stopResolved, false, 'stop() waits for the batch in flight');
      release();
      await stopped;
      assert.equal(sawStopping, true, 'the handler saw ctx.stopping');
      assert.ok(handledByFirst.length > 0);

      await producer.send(topic, [{ key: 'sentinel', value: Buffer.from('end') }]);
      await producer.close();
      const seenBySecond: string[] = [];
      const second = track(b.consumer({ groupId, topics: [topic] }));
      await second.run(async (messages) => {
        seenBySecond.push(...messages.map((m) => m.key!.toString()));
      });
      await waitFor(() => seenBySecond.includes('sentinel'), { what: 'the sentinel' });
      await second.stop();
      for (const key of handledByFirst) assert.ok(!seenBySecond.includes(key), `${key} was committed`);
      assert.equal(new Set([...handledByFirst, ...seenBySecond]).size, 51);
    });

    it('spreads partitions over the members of a group: each message reaches exactly one', async () => {
      const b = bus();
      const topic = uniqueName('group');
      const groupId = uniqueName('g');
      await b.ensureTopics([{ topic, partitions: 4 }]);
      const seen = [new Map<string, number>(), new Map<string, number>()];
      const members = seen.map((mine) => {
        const c = track(b.consumer({ groupId, topics: [topic] }));
        return { c, mine };
      });
      for (const { c, mine } of members) {
        await c.run(async (messages) => {
          for (const m of messages) mine.set(m.key!.toString(), m.partition);
        });
      }
      const producer = await b.producer();
      await producer.send(
        topic,
        Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
      );
      await producer.close();
      await waitFor(() => seen[0]!.size + seen[1]!.size >= 200, { what: '200 messages', timeoutMs: 60_000 });
      await Promise.all(members.map(({ c }) => c.stop()));

      const [a, b2] = seen as [Map<string, number>, Map<string, number>];
      assert.equal(new Set([...a.keys(), ...b2.keys()]).size, 200);
      assert.equal(a.size + b2.size, 200, 'no message reached both members');
      assert.ok(a.size > 0 && b2.size > 0, 'both members got partitions');
      const partitionsA = new Set(a.values());
      for (const p of b2.values()) assert.ok(!partitionsA.has(p), `partition ${p} was owned by one member`);
    });

    it('handles partitions at once when asked: each in offset order, one batch of a partition at a time', async () => {
      const b = bus();
      const total = 200;
      const topic = await publishNumbered(b, 'concurrent', total, 2);

      const offsets = new Map<number, number[]>(); // per partition, in the order handled
      const active = new Set<number>();
      let mostAtOnce = 0;
      let samePartitionTwice = false;
      let bothRunning: () => void = () => undefined;
      const overlap = new Promise<void>((resolve) => {
        bothRunning = resolve;
      });
      const consumer = track(
        b.consumer({ groupId: uniqueName('g'), topics: [topic], maxBatchSize: 20, partitionConcurrency: 2 }),
      );
      await consumer.run(async (messages) => {
        const p = messages[0]!.partition;
        if (active.has(p)) samePartitionTwice = true;
        active.add(p);
        mostAtOnce = Math.max(mostAtOnce, active.size);
        if (active.size > 1) bothRunning();
        // A batch waits (at most 3 s) until the other partition's batch runs beside it.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([overlap, new Promise((r) => (timer = setTimeout(r, 3_000)))]);
        clearTimeout(timer);
        const seen = offsets.get(p) ?? [];
        for (const m of messages) seen.push(Number(m.offset));
        offsets.set(p, seen);
        await new Promise((r) => setImmediate(r));
        active.delete(p);
      });
      const count = () => [...offsets.values()].reduce((n, list) => n + list.length, 0);
      await waitFor(() => count() >= total, { what: `${total} messages`, timeoutMs: 60_000 });
      await waitFor(async () => (await consumer.lag()).every((p) => p.lag === 0), { what: 'lag 0' });
      await consumer.stop();

      assert.equal(mostAtOnce, 2, 'two partitions were handled at once');
      assert.equal(samePartitionTwice, false, 'never two batches of one partition at once');
      assert.equal(count(), total);
      assert.deepEqual([...offsets.keys()].sort(), [0, 1]);
      for (const [p, list] of offsets)
        assert.deepEqual(
          list,
          Array.from({ length: list.length }, (_, i) => i),
          `partition ${p} in offset order`,
        );
    });

    it('prepares the next batch of a partition while the one before it is handled; a retry gets no prepared result', {
      skip: !options.readsAhead && 'this client does not read ahead',
    }, async () => {
      const b = bus();
      const total = 100;
      const topic = await publishNumbered(b, 'prepare', total, 1);

      const events: string[] = [];
      const handled: number[] = [];
      const firstAttempts: { first: string; prepared: unknown }[] = [];
      let retried: unknown = 'not retried';
      let failed = false;
      const consumer = track(
        b.consumer({
          groupId: uniqueName('g'),
          topics: [topic],
          maxBatchSize: 10,
          prepare: (messages) => {
            events.push(`prepare ${messages[0]!.offset}`);
            return { first: messages[0]!.offset, count: messages.length };
          },
        }),
      );
      await consumer.run(async (messages, ctx) => {
        const first = messages[0]!.offset;
        if (first === '30' && failed) retried = ctx.prepared;
        else firstAttempts.push({ first, prepared: ctx.prepared });
        await new Promise((r) => setImmediate(r));
        if (first === '30' && !failed) {
          failed = true;
          throw new Error('transient: store unavailable');
        }
        for (const m of messages) handled.push(Number(m.offset));
        events.push(`done ${first}`);
      });
      await waitFor(() => handled.length >= total, { what: `${total} messages`, timeoutMs: 60_000 });
      await waitFor(async () => (await consumer.lag()).every((p) => p.lag === 0), { what: 'lag 0' });
      await consumer.stop();

      assert.deepEqual(
        handled,
        Array.from({ length: total }, (_, i) => i),
        'each message once, in order',
      );
      for (const { first, prepared } of firstAttempts) {
        if (prepared !== undefined)
          assert.deepEqual(prepared, { first, count: 10 }, `batch ${first} got its own prepared result`);
      }
      assert.equal(retried, undefined, 'the retried batch is handled without the prepared result');
      // A batch read ahead was prepared before the handler of the batch before it finished.
      const ahead = firstAttempts.filter(({ first, prepared }) => {
        const previous = `done ${Number(first) - 10}`;
        return prepared !== undefined && events.indexOf(`prepare ${first}`) < events.indexOf(previous);
      });
      assert.ok(ahead.length >= 5, `${ahead.length} of 9 batches were prepared ahead`);
    });

    it('counts produced, consumed, dead-lettered and retried messages and exposes lag', async () => {
      const metrics = new ServiceMetrics('sequencer');
      const b = bus(metrics);
      const topic = uniqueName('metrics');
      await b.ensureTopics([{ topic, partitions: 1 }]);
      const producer = await b.producer();
      await producer.send(
        topic,
        Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(i === 4 ? 'bad' : 'ok') })),
      );
      await producer.close();
      let failedOnce = false;
      let handled = 0;
      const consumer = track(
        b.consumer({ groupId: uniqueName('g'), topics: [topic], retry: { initialDelayMs: 10 } }),
      );
      await consumer.run(async (messages) => {
        if (!failedOnce) {
          failedOnce = true;
          throw new RetriableError('store busy');
        }
        const bad = messages.find((m) => m.value.toString() === 'bad');
        if (bad) throw new PoisonMessageError('bad value', { busMessage: bad });
        handled += messages.length;
      });
      await waitFor(() => handled === 9, { what: '9 handled' });
      const value = async (metric: string, labels: string) => {
        const text = await metrics.registry.metrics();
        const line = text.split('\n').find((l) => l.startsWith(`${metric}{${labels}}`));
        return line === undefined ? undefined : Number(line.split(' ').at(-1));
      };
      await waitFor(
        async () =>
          (await value('tidewatch_sequencer_bus_consumed_messages_total', `topic="${topic}"`)) === 10,
        {
          what: 'consumed 10 (9 handled + 1 dead-lettered)',
        },
      );
      assert.equal(await value('tidewatch_sequencer_bus_produced_messages_total', `topic="${topic}"`), 10);
      assert.equal(
        await value(
          'tidewatch_sequencer_bus_dead_lettered_messages_total',
          `topic="${topic}",error="PoisonMessageError"`,
        ),
        1,
      );
      assert.equal(await value('tidewatch_sequencer_bus_retried_batches_total', `topic="${topic}"`), 1);
      assert.equal(await value('tidewatch_sequencer_bus_consumer_lag_messages', `topic="${topic}"`), 0);
      await consumer.stop();
    });

    it('commits only through ctx.commit() in manual mode and reports lag', async () => {
      const b = bus();
      const topic = uniqueName('manual');
      const groupId = uniqueName('g');
      await b.ensureTopics([{ topic, partitions: 2 }]);
      const producer = await b.producer();
      await producer.send(
        topic,
        Array.from({ length: 20 }, (_, i) => ({
          key: null,
          value: Buffer.from(String(i)),
          partition: i % 2,
        })),
      );
      await producer.close();

      let seen = 0;
      const first = track(b.consumer({ groupId, topics: [topic], commitMode: 'manual' }));
      await first.run(async (messages, ctx) => {
        seen += messages.length;
        const last = messages.at(-1)!;
        // Hold partition 1's offsets back, as a stateful consumer keeps an open window.
        if (last.partition === 0) {
          await ctx.commit([{ topic, partition: 0, offset: String(BigInt(last.offset) + 1n) }]);
        }
      });
      await waitFor(() => seen === 20, { what: 'all 20 messages' });
      await waitFor(async () => (await first.lag()).find((p) => p.partition === 0)?.lag === 0, {
        what: 'partition 0 committed',
      });
      await first.stop();
      assert.deepEqual(
        (await first.lag()).map(({ partition, lag }) => ({ partition, lag })),
        [
          { partition: 0, lag: 0 },
          { partition: 1, lag: 10 },
        ],
      );
    });

    it('sendRecords puts each record where send() puts it (partition, offset, key, value); a writer that throws sends none', async () => {
      const b = bus();
      const prefix = uniqueName('records');
      const viaSend = `${prefix}.send`;
      const viaRecords = `${prefix}.records`;
      await b.ensureTopics([
        { topic: viaSend, partitions: 3 },
        { topic: viaRecords, partitions: 3 },
      ]);
      // 36-byte keys as the sequencer's ids; values from empty to 200 kB (past a batch's first buffer).
      const records = Array.from({ length: 60 }, (_, i) => ({
        key: Buffer.from(`${String(i).padStart(8, '0')}-2fa1-51d2-883f-0016d3cca427`),
        value: Buffer.from(randomBytes(i === 17 ? 200_000 : (i * 53) % 3000)),
      }));
      const producer = await b.producer();
      assert.ok(producer.sendRecords, 'the bus has sendRecords');
      const write = (from: number, to: number) => (sink: RecordSink) => {
        for (let i = from; i < to; i++) {
          const { key, value } = records[i]!;
          // A loose bound, as an encoder gives one.
          const at = sink.begin(key, 0, key.length, value.length + 500);
          value.copy(sink.buf, at);
          sink.end(at + value.length);
        }
      };
      await assert.rejects(
        producer.sendRecords(viaRecords, (sink) => {
          write(0, 25)(sink);
          throw new Error('encoder failed');
        }),
        /encoder failed/,
      );
      assert.equal(await producer.sendRecords(viaRecords, write(0, 40)), 40);
      assert.equal(await producer.sendRecords(viaRecords, write(40, 60)), 20);
      await producer.send(viaSend, records.slice(0, 40));
      await producer.send(viaSend, records.slice(40));
      await producer.close();

      const got = new Map<string, string[]>([
        [viaSend, []],
        [viaRecords, []],
      ]);
      const consumer = track(b.consumer({ groupId: uniqueName('g'), topics: [viaSend, viaRecords] }));
      await consumer.run(async (messages) => {
        for (const m of messages) {
          got
            .get(m.topic)!
            .push(`${m.partition}/${m.offset} ${m.key?.toString()} ${m.value.toString('base64')}`);
        }
      });
      await waitFor(() => got.get(viaSend)!.length === 60 && got.get(viaRecords)!.length >= 60, {
        what: '60 messages on each topic',
      });
      await consumer.stop();
      const sorted = (topic: string) => [...got.get(topic)!].sort();
      assert.equal(sorted(viaRecords).length, 60);
      assert.deepEqual(sorted(viaRecords), sorted(viaSend));
    });
  });
}
