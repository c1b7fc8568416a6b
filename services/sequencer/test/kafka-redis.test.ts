import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { KafkaBus } from '@tidewatch/bus';
import {
  type ContractCodecs,
  conversationKey,
  createCodecs,
  type FlowRecord,
  type Sequence,
} from '@tidewatch/contracts';
import { buildSequences, compareSequences, notAConversationFlow } from '@tidewatch/sequencing';
import {
  needsServices,
  needsShared,
  REPO_ROOT,
  serviceEndpoints,
  uniqueName,
  waitFor,
} from '@tidewatch/testing';
import { Redis } from 'ioredis';
import { createApp } from '../src/app.ts';
import type { SequencerConfig } from '../src/config.ts';
import { initiatorShard, RedisSequencerState } from '../src/redis-state.ts';
import {
  assertSameSequences,
  type Expected,
  expectedOutput,
  inputTotals,
  loadCaptures,
  outputTotals,
  testConfig,
  testEnv,
} from './harness.ts';

const services = serviceEndpoints();
const LARGER_CAPTURE = 'testdata/labeled/iot23/CTU-IoT-Malware-Capture-42-1.conn.log.labeled';
const enabled = needsShared().skip === false && needsServices().skip === false;
const skip = enabled ? {} : { skip: 'needs Kafka, Redis and the shared data' };

interface Collected {
  versions: Map<string, Sequence[]>;
  late: FlowRecord[];
  stop(): Promise<void>;
}

describe('sequencer on real Kafka and Redis', skip, () => {
  let bus: KafkaBus;
  let redis: Redis;
  let codecs: ContractCodecs;
  let flows: FlowRecord[];

  before(async () => {
    if (!services) return;
    bus = new KafkaBus({ brokers: services.kafkaBrokers, clientId: 'sequencer-test' });
    redis = new Redis(services.redisUrl);
    codecs = await createCodecs();
    flows = await loadCaptures();
  });

  after(async () => {
    await bus?.close();
    await redis?.quit();
  });

  async function produce(config: SequencerConfig, input: FlowRecord[]): Promise<void> {
    await bus.ensureTopics([{ topic: config.flowsTopic, partitions: config.flowsPartitions }]);
    const producer = await bus.producer();
    for (let i = 0; i < input.length; i += 1000) {
      await producer.send(
        config.flowsTopic,
        input
          .slice(i, i + 1000)
          .map((f) => ({ key: conversationKey(f.src_ip, f.dst_ip), value: codecs.flows.encode(f) })),
      );
    }
    await producer.close();
  }

  async function collect(config: SequencerConfig): Promise<Collected> {
    await bus.ensureTopics([
      { topic: config.sequencesTopic, partitions: config.sequencesPartitions },
      { topic: config.lateTopic, partitions: config.flowsPartitions, withDeadLetter: false },
    ]);
    const versions = new Map<string, Sequence[]>();
    const late: FlowRecord[] = [];
    const consumer = bus.consumer({
      groupId: uniqueName('seq-reader'),
      topics: [config.sequencesTopic, config.lateTopic],
    });
    await consumer.run(async (messages) => {
      for (const m of messages) {
        if (m.topic === config.lateTopic) {
          late.push(codecs.flows.decode(m.value));
          continue;
        }
        const s = codecs.sequences.decode(m.value);
        assert.equal(m.key?.toString(), s.sequence_id, 'sequences are keyed by sequence_id');
        versions.set(s.sequence_id, [...(versions.get(s.sequence_id) ?? []), s]);
      }
    });
    return { versions, late, stop: () => consumer.stop() };
  }

  function complete(out: Collected, expected: Expected): boolean {
    const lateOrigins = new Set(out.late.map((f) => f.extra?.['origin']));
    return out.versions.size >= expected.sequences.length && lateOrigins.size >= expected.late.length;
  }

  /** Every version of every id equals the expected sequence; late flows (deduplicated) are the expected ones. */
  function assertOutput(out: Collected, expected: Expected, input = flows): void {
    const latest = [...out.versions.values()].map((v) => v.at(-1) as Sequence);
    assertSameSequences(latest, expected.sequences, assert.deepEqual, true);
    for (const [id, versions] of out.versions) {
      for (const v of versions) {
        assert.deepEqual(
          JSON.parse(JSON.stringify(v)),
          JSON.parse(JSON.stringify(versions[0])),
          `versions of ${id} differ`,
        );
      }
    }
    const lateByOrigin = new Map(out.late.map((f) => [f.extra?.['origin'], f]));
    assert.deepEqual([...lateByOrigin.keys()].sort(), expected.late.map((f) => f.extra?.['origin']).sort());
    assert.deepEqual(outputTotals(latest, [...lateByOrigin.values()]), inputTotals(input));
  }

  it('sequences the labelled captures: every flow exactly once, per-pair counters in Redis', async () => {
    const config = testConfig(uniqueName('seq-once'));
    // Among them, NAT event records of the same conversations (rule 0: counted, in no sequence).
    const events = Array.from({ length: 60 }, (_, i): FlowRecord => {
      const f = flows[(i * 977) % flows.length] as FlowRecord;
      return {
        ...f,
        source_format: 'netflow9',
        fwd_bytes: 0,
        fwd_pkts: 0,
        bwd_bytes: 0,
        bwd_pkts: 0,
        extra: { natEvent: i % 2 ? '4' : '5', origin: `nat-event:${i}` },
      };
    });
    const input = flows.flatMap((f, i) =>
      i % 50 === 0 && i / 50 < events.length ? [events[i / 50] as FlowRecord, f] : [f],
    );
    assert.equal(input.length, flows.length + events.length);
    await produce(config, input);
    const out = await collect(config);
    const app = createApp(config);
    await app.start();
    const expected = expectedOutput(flows, config.flowsPartitions, config.spec);
    try {
      await waitFor(() => complete(out, expected), { timeoutMs: 90_000, what: 'all sequences' });
    } finally {
      await app.stop();
      await out.stop();
    }
    assert.ok(expected.late.length > 0);
    assertOutput(out, expected);
    const metric = await app.registry.getSingleMetric('tidewatch_sequencer_flows_in_total')?.get();
    const byOutcome = Object.fromEntries((metric?.values ?? []).map((v) => [v.labels['outcome'], v.value]));
    // The captures' own IPv6 neighbour discovery and MLD records are rule 0's too (link control).
    const linkControl = flows.filter((f) => notAConversationFlow(f) === 'link_control').length;
    assert.ok(linkControl > 0);
    assert.equal(byOutcome['not_a_flow'], events.length + linkControl);
    assert.equal(byOutcome['accepted'] + byOutcome['late'], flows.length - linkControl);

    // Pair counters per (initiator, responder, hour bucket) equal the sums over the sequences.
    const sums = new Map<string, { src: string; dst: string; bucket: number; t: number[] }>();
    for (const s of expected.sequences) {
      const bucket = Math.floor(s.window_start_ms / config.pairBucketMs) * config.pairBucketMs;
      const key = `${s.src_ip}>${s.dst_ip}:${bucket}`;
      const entry = sums.get(key) ?? { src: s.src_ip, dst: s.dst_ip, bucket, t: [0, 0, 0, 0, 0] };
      const t = entry.t;
      for (const f of s.flows) {
        t[0] = (t[0] ?? 0) + 1;
        t[1] = (t[1] ?? 0) + f.fwd_bytes;
        t[2] = (t[2] ?? 0) + f.bwd_bytes;
        t[3] = (t[3] ?? 0) + f.fwd_pkts;
        t[4] = (t[4] ?? 0) + f.bwd_pkts;
      }
      sums.set(key, entry);
    }
    const state = new RedisSequencerState(redis, {
      keyPrefix: config.redisKeyPrefix,
      ttlSeconds: config.statsTtlSeconds,
      pairBucketMs: config.pairBucketMs,
    });
    const stored = await Promise.all(
      [...sums.values()].map(async ({ src, dst, bucket }) => {
        const c = await state.pairCounters(src, dst, bucket);
        return c ? [c.connections, c.fwd_bytes, c.bwd_bytes, c.fwd_pkts, c.bwd_pkts] : undefined;
      }),
    );
    assert.deepEqual(
      stored,
      [...sums.values()].map((e) => e.t),
    );
    const first = [...sums.values()][0] as { src: string; bucket: number };
    const ttl = await redis.ttl(state.keys.pairs(first.bucket, initiatorShard(first.src)));
    assert.ok(ttl > 0 && ttl <= config.statsTtlSeconds, `pair counters expire (ttl ${ttl})`);
  });

  it('gives identical sequences for the same input in another order within the lateness bound', async () => {
    const sorted = [...flows].sort((a, b) => a.start_ms - b.start_ms);
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const bound = testConfig('x').spec.allowed_lateness_ms - testConfig('x').spec.biflow_tolerance_ms;
    const shuffled = flows
      .map((f) => ({ f, k: f.start_ms + random() * bound }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.f);
    const results: Sequence[][] = [];
    for (const input of [sorted, shuffled]) {
      const config = testConfig(uniqueName('seq-order'));
      await produce(config, input);
      const out = await collect(config);
      const app = createApp(config);
      await app.start();
      const expected = expectedOutput(input, config.flowsPartitions, config.spec);
      assert.equal(expected.late.length, 0);
      try {
        await waitFor(() => complete(out, expected), { timeoutMs: 90_000, what: 'all sequences' });
      } finally {
        await app.stop();
        await out.stop();
      }
      assertOutput(out, expected);
      results.push(JSON.parse(JSON.stringify([...out.versions.values()].map((v) => v.at(-1)))));
    }
    const [a, b] = results.map((r) => r.sort(compareSequences));
    assert.deepEqual(a, b);
    // And both equal the offline batch result (up to HyperLogLog on the distinct counts).
    assertSameSequences(a ?? [], buildSequences(flows, testConfig('x').spec), assert.deepEqual, true);
    // The captures hold unanswered probes (the nmap port scan's): the responders' probing fan-in
    // (distinct_probe_srcs, exact) came through Redis equal to the offline count (286 / 36 before
    // peer-shaped flows, a port to the same port, and one-way streams of 8+ packets stopped counting).
    const probing = (a ?? []).map((s) => s.context.distinct_probe_srcs ?? 0);
    // 193 since rule 0 leaves out IPv6 neighbour discovery and MLD (215 with them).
    assert.deepEqual([probing.filter((v) => v > 0).length, probing.filter((v) => v > 1).length], [193, 0]);
  });

  it('gives the same output set when an instance dies mid-stream, another takes over and it restarts', async () => {
    const name = uniqueName('seq-kill');
    const config = testConfig(name);
    const env = {
      ...process.env,
      KAFKA_BROKERS: services?.kafkaBrokers.join(',') ?? '',
      REDIS_URL: services?.redisUrl ?? '',
      LOG_LEVEL: 'info',
      ...testEnv(name),
      TIDEWATCH_SEQUENCER_MAX_BATCH: '20',
    };
    const input = [...flows, ...(await loadCaptures([LARGER_CAPTURE]))];
    await produce(config, input);
    const out = await collect(config);
    const expected = expectedOutput(input, config.flowsPartitions, config.spec);
    const children: ChildProcess[] = [];
    /** What each child logged about its partitions. */
    const assigned: number[][][] = [];
    const startChild = () => {
      const index = children.length;
      assigned.push([]);
      const child = spawn(process.execPath, ['--import', 'tsx', 'services/sequencer/src/main.ts'], {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let buffered = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          const entry = JSON.parse(line) as { msg?: string; partitions?: number[] };
          if (entry.msg === 'partitions assigned') assigned[index]?.push(entry.partitions ?? []);
        }
      });
      children.push(child);
      return child;
    };
    const owns = (index: number, count: number) => () => (assigned[index]?.at(-1)?.length ?? 0) >= count;
    const total = expected.sequences.length;
    try {
      // A consumes, then freezes mid-stream (SIGSTOP: no drain, no commit, no leave).
      const a = startChild();
      await waitFor(() => out.versions.size >= total * 0.1, {
        timeoutMs: 60_000,
        what: '10% of the sequences',
      });
      a.kill('SIGSTOP');
      const frozenAt = out.versions.size;
      assert.ok(frozenAt < total, `A stopped mid-stream (${frozenAt} of ${total})`);
      // B joins; the rebalance moves every partition to B once A's session expires. A is then killed.
      startChild();
      await waitFor(owns(1, config.flowsPartitions), { timeoutMs: 60_000, what: 'B to own every partition' });
      a.kill('SIGKILL');
      // A restarts (C) and joins B: another rebalance splits the partitions.
      startChild();
      await waitFor(owns(2, 1), { timeoutMs: 60_000, what: 'the restarted instance to take partitions' });
      await waitFor(() => complete(out, expected), { timeoutMs: 120_000, what: 'all sequences' });
    } finally {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.all(
        children.map((c) =>
          c.exitCode === null && c.signalCode === null
            ? new Promise((r) => c.once('exit', r))
            : Promise.resolve(),
        ),
      );
      await out.stop();
    }
    assertOutput(out, expected, input);
  });
});
