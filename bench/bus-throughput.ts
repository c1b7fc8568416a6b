/**
 * Bus throughput: Avro-encoded flows.v1 messages produced and consumed end to end (at-least-once,
 * commit after each batch) through KafkaBus, printed beside raw kafkajs doing the same job on the
 * same broker in the same run (the baseline: what our retry/DLQ/commit layer costs), and through
 * InProcessBus (the one-process mode).
 *
 *   . /tmp/tidewatch-dev/env   # or any KAFKA_BROKERS
 *   pnpm exec tsx bench/bus-throughput.ts [--messages N] [--reps R]
 */
import { InProcessBus, KafkaBus, type MessageBus } from '@tidewatch/bus';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { uniqueName } from '@tidewatch/testing';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const MESSAGES = opt('--messages', 20_000);
const REPS = opt('--reps', 3);
const SEND_BATCH = 500;
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const codecs = await createCodecs();
const values = Array.from({ length: MESSAGES }, (_, i) => {
  const flow: FlowRecord = {
    exporter: '192.0.2.1',
    observation_domain: 0,
    source_format: 'netflow9',
    start_ms: 1_700_000_000_000 + i,
    end_ms: 1_700_000_000_500 + i,
    protocol: 6,
    src_ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
    dst_ip: '10.1.0.1',
    src_port: 40_000 + (i % 20_000),
    dst_port: 443,
    fwd_bytes: 1_000 + i,
    fwd_pkts: 10,
    bwd_bytes: 5_000,
    bwd_pkts: 8,
    tcp_flags: 0x1b,
    sampling_rate: 1,
  };
  return { key: `${flow.src_ip}|${flow.dst_ip}`, value: codecs.flows.encode(flow) };
});

/** Messages per second for producing all messages then consuming them all back. */
async function throughputBus(bus: MessageBus): Promise<number> {
  const topic = uniqueName('bench-bus');
  await bus.ensureTopics([{ topic, partitions: 4, withDeadLetter: true }]);
  const started = performance.now();
  const producer = await bus.producer();
  for (let i = 0; i < values.length; i += SEND_BATCH)
    await producer.send(topic, values.slice(i, i + SEND_BATCH));
  await producer.close();
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const consumer = bus.consumer({ groupId: uniqueName('bench'), topics: [topic] });
  await consumer.run(async (messages) => {
    for (const m of messages) codecs.flows.decode(m.value);
    seen += messages.length;
    if (seen >= MESSAGES) done();
  });
  await all;
  const seconds = (performance.now() - started) / 1000;
  await consumer.stop();
  return MESSAGES / seconds;
}

/** The same job with kafkajs directly: idempotent producer, eachBatch consumer, commit per batch. */
async function throughputKafkajs(): Promise<number> {
  // The bare kafkajs client (KafkaBus builds it with the same settings; none of its layer is used).
  const kafka = new KafkaBus({ brokers, clientId: 'bench' }).kafka;
  const admin = kafka.admin();
  await admin.connect();
  const topic = uniqueName('bench-raw');
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
  const started = performance.now();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let i = 0; i < values.length; i += SEND_BATCH) {
    await producer.send({ topic, acks: -1, messages: values.slice(i, i + SEND_BATCH) });
  }
  await producer.disconnect();
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const consumer = kafka.consumer({ groupId: uniqueName('bench'), maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, commitOffsetsIfNecessary }) => {
      for (const m of batch.messages) codecs.flows.decode(m.value!);
      const last = batch.messages.at(-1);
      if (last) {
        await commitOffsetsIfNecessary({
          topics: [
            {
              topic,
              partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }],
            },
          ],
        });
      }
      seen += batch.messages.length;
      if (seen >= MESSAGES) done();
    },
  });
  await all;
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  await admin.disconnect();
  return MESSAGES / seconds;
}

const rows: [string, number[]][] = [['InProcessBus', []]];
if (brokers.length > 0) rows.unshift(['kafkajs (baseline)', []], ['KafkaBus', []]);
else console.log('KAFKA_BROKERS not set: InProcessBus only');
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, results] of rows) {
    if (name === 'kafkajs (baseline)') results.push(await throughputKafkajs());
    else if (name === 'KafkaBus') {
      const bus = new KafkaBus({ brokers, clientId: 'bench' });
      results.push(await throughputBus(bus));
      await bus.close();
    } else {
      const bus = new InProcessBus();
      results.push(await throughputBus(bus));
      await bus.close();
    }
  }
}
const baseline = rows.find(([n]) => n === 'kafkajs (baseline)');
console.log(
  `${MESSAGES} flows.v1 messages (${values[0]!.value.length} bytes), produce + consume + decode, median of ${REPS}`,
);
for (const [name, results] of rows) {
  const m = median(results);
  const ratio = baseline ? ` (${(m / median(baseline[1])).toFixed(2)}x baseline)` : '';
  console.log(`${name.padEnd(20)} ${Math.round(m).toLocaleString('en-US').padStart(10)} msg/s${ratio}`);
}
