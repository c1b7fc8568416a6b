/**
 * Bus throughput: flows.v1 messages (Avro values, conversation keys) produced in sends of 500
 * (idempotent, acks=-1), then consumed with a commit after every batch, measured separately as
 * messages per CPU-second of this process (the broker's CPU is not counted) and messages per
 * second of wall time. Rows: raw kafkajs (the baseline), KafkaBus on kafkajs, KafkaBus on the
 * wire client (src/wire/), and InProcessBus; all in the same run against the same broker.
 *
 *   . /tmp/tidewatch-dev/env   # or any KAFKA_BROKERS
 *   pnpm exec tsx bench/bus-throughput.ts [--messages N] [--reps R] [--send S] [--rows a,b] [--decode]
 *
 * --decode: the consumer's handler also Avro-decodes every value (what services do).
 * --send: messages per send() call (default 500; each awaited send is one Produce round trip).
 * --rows: only the rows whose names contain one of these words (e.g. --rows baseline,wire).
 */
import { InProcessBus, KafkaBus, type MessageBus } from '@tidewatch/bus';
import { conversationKey, createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { uniqueName } from '@tidewatch/testing';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const MESSAGES = opt('--messages', 100_000);
const REPS = opt('--reps', 3);
const DECODE = args.includes('--decode');
const rowsArg = args.indexOf('--rows');
const ROWS = rowsArg >= 0 ? (args[rowsArg + 1] ?? '').split(',').filter(Boolean) : [];
const SEND_BATCH = opt('--send', 500);
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
    src_ip: `192.168.${(i >> 8) & 255}.${i & 255}`,
    dst_ip: `172.16.${i % 16}.${((i * 7) % 250) + 1}`,
    src_port: 40_000 + (i % 20_000),
    dst_port: 443,
    fwd_bytes: 1_000 + i,
    fwd_pkts: 10,
    bwd_bytes: 5_000,
    bwd_pkts: 8,
    tcp_flags: 0x1b,
    sampling_rate: 1,
  };
  return { key: conversationKey(flow.src_ip, flow.dst_ip), value: codecs.flows.encode(flow) };
});

interface Phase {
  cpuRate: number; // messages per CPU-second
  wallRate: number; // messages per second
}

async function measure(run: () => Promise<void>): Promise<Phase> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { cpuRate: MESSAGES / ((cpu.user + cpu.system) / 1e6), wallRate: MESSAGES / wall };
}

function handle(values: Buffer[]): void {
  if (DECODE) for (const v of values) codecs.flows.decode(v);
}

/** Produce then consume through a MessageBus. */
async function throughputBus(bus: MessageBus): Promise<[Phase, Phase]> {
  const topic = uniqueName('bench-bus');
  await bus.ensureTopics([{ topic, partitions: 4, withDeadLetter: false }]);
  const producer = await bus.producer();
  const produced = await measure(async () => {
    for (let i = 0; i < values.length; i += SEND_BATCH)
      await producer.send(topic, values.slice(i, i + SEND_BATCH));
  });
  await producer.close();
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const consumer = bus.consumer({ groupId: uniqueName('bench'), topics: [topic] });
  const consumed = await measure(async () => {
    await consumer.run(async (messages) => {
      handle(messages.map((m) => m.value));
      seen += messages.length;
      if (seen >= MESSAGES) done();
    });
    await all;
  });
  await consumer.stop();
  return [produced, consumed];
}

/** The same job with kafkajs directly: idempotent producer, eachBatch consumer, commit per batch. */
async function throughputKafkajs(): Promise<[Phase, Phase]> {
  const kafka = new KafkaBus({ brokers, clientId: 'bench', client: 'kafkajs' }).kafka;
  const admin = kafka.admin();
  await admin.connect();
  const topic = uniqueName('bench-raw');
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const produced = await measure(async () => {
    for (let i = 0; i < values.length; i += SEND_BATCH) {
      await producer.send({ topic, acks: -1, messages: values.slice(i, i + SEND_BATCH) });
    }
  });
  await producer.disconnect();
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const consumer = kafka.consumer({ groupId: uniqueName('bench'), maxWaitTimeInMs: 500 });
  const consumed = await measure(async () => {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, commitOffsetsIfNecessary }) => {
        handle(batch.messages.map((m) => m.value!));
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
  });
  await consumer.disconnect();
  await admin.disconnect();
  return [produced, consumed];
}

type Row = { name: string; produce: Phase[]; consume: Phase[]; run: () => Promise<[Phase, Phase]> };
const onBus = (make: () => MessageBus) => async () => {
  const bus = make();
  try {
    return await throughputBus(bus);
  } finally {
    await bus.close();
  }
};
const rows: Row[] = [];
if (brokers.length > 0) {
  rows.push(
    { name: 'kafkajs (baseline)', produce: [], consume: [], run: throughputKafkajs },
    {
      name: 'KafkaBus kafkajs',
      produce: [],
      consume: [],
      run: onBus(() => new KafkaBus({ brokers, clientId: 'bench', client: 'kafkajs' })),
    },
    {
      name: 'KafkaBus wire',
      produce: [],
      consume: [],
      run: onBus(() => new KafkaBus({ brokers, clientId: 'bench', client: 'wire' })),
    },
  );
} else console.log('KAFKA_BROKERS not set: InProcessBus only');
rows.push({ name: 'InProcessBus', produce: [], consume: [], run: onBus(() => new InProcessBus()) });

const chosen = rows.filter((r) => ROWS.length === 0 || ROWS.some((w) => r.name.toLowerCase().includes(w)));
for (let rep = 0; rep < REPS; rep++) {
  for (const row of chosen) {
    const [p, c] = await row.run();
    row.produce.push(p);
    row.consume.push(c);
  }
}
const baseline = chosen.find((r) => r.name === 'kafkajs (baseline)');
const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(10);
const cpuMedian = (phases: Phase[]) => median(phases.map((p) => p.cpuRate));
const wallMedian = (phases: Phase[]) => median(phases.map((p) => p.wallRate));
console.log(
  `${MESSAGES} flows.v1 messages (value ${values[0]!.value.length} B, key ${values[0]!.key.length} B), sends of ${SEND_BATCH}, ` +
    `consume with commit per batch${DECODE ? ' + Avro decode' : ''}; median of ${REPS}; msg per CPU-second of this process (msg/s wall)`,
);
console.log(`${''.padEnd(20)} ${'produce'.padStart(26)}  ${'consume+commit'.padStart(32)}`);
for (const row of chosen) {
  const cells = (['produce', 'consume'] as const).map((phase) => {
    const cpu = cpuMedian(row[phase]);
    const ratio = baseline ? ` ${(cpu / cpuMedian(baseline[phase])).toFixed(2)}x` : '';
    return `${fmt(cpu)}/cpu-s (${fmt(wallMedian(row[phase]))}/s)${ratio.padStart(7)}`;
  });
  console.log(`${row.name.padEnd(20)} ${cells.join('  ')}`);
}
