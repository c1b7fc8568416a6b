import { partitionForKey } from '@tidewatch/bus';
import { conversationKey, type FlowRecord, type Sequence } from '@tidewatch/contracts';
import { readFlowFile } from '@tidewatch/flow-importers';
import {
  compareSequences,
  InMemoryEntityStats,
  type OpenWindow,
  PartitionSequencer,
  type SequencingSpec,
  windowContribution,
  windowSequences,
  notAConversationFlow,
} from '@tidewatch/sequencing';
import { sharedPath } from '@tidewatch/testing';
import { loadSequencerConfig, type SequencerConfig } from '../src/config.ts';

/** Small labelled captures (Zeek TSV, Zeek JSON, IoT-23 CSV) imported through the collector's readers. */
export const CAPTURES = [
  'testdata/labeled/iot23/CTU-Honeypot-Capture-4-1.conn.log.labeled',
  'testdata/labeled/iot23/CTU-Honeypot-Capture-7-1-labeled.csv',
  'testdata/labeled/stratosphere_nmap-portscan/conn.log',
];

export async function loadCaptures(paths = CAPTURES): Promise<FlowRecord[]> {
  const flows: FlowRecord[] = [];
  for (const path of paths) {
    for await (const row of readFlowFile(sharedPath(path))) {
      if (row.flow)
        flows.push({
          ...row.flow,
          extra: { ...row.flow.extra, origin: `${path.split('/').at(-1)}:${row.row}` },
        });
    }
  }
  return flows;
}

export function partitionOf(flow: FlowRecord, partitions: number): number {
  return partitionForKey(conversationKey(flow.src_ip, flow.dst_ip), partitions);
}

export interface Expected {
  sequences: Sequence[];
  late: FlowRecord[];
}

/**
 * What the service must produce for `flows` written in this order to a topic of `partitions`
 * partitions: each partition is sequenced alone (its own watermark), entity context is exact
 * over every partition.
 */
export function expectedOutput(flows: FlowRecord[], partitions: number, spec: SequencingSpec): Expected {
  const byPartition = Array.from({ length: partitions }, () => [] as FlowRecord[]);
  for (const f of flows) byPartition[partitionOf(f, partitions)]?.push(f);
  const windows: OpenWindow[] = [];
  const late: FlowRecord[] = [];
  const stats = new InMemoryEntityStats();
  for (const input of byPartition) {
    const sequencer = new PartitionSequencer(spec);
    input.forEach((f, i) => {
      if (sequencer.push(f, i) === 'late') late.push(f);
    });
    sequencer.idleFlush();
    stats.applySync(sequencer.seal().map(windowContribution));
    windows.push(...sequencer.takeEmittable());
    late.push(...sequencer.takeLate());
  }
  const sequences = windows.flatMap((w) =>
    windowSequences(w, stats.contextOf(w.src_ip, w.dst_ip, w.window_start_ms), spec),
  );
  return { sequences: sequences.sort(compareSequences), late };
}

/** Per conversation (canonical pair): flow count and byte sum, the exactly-once check. */
export function totalsByConversation(items: { a: string; b: string; flows: number; bytes: number }[]) {
  const totals = new Map<string, { flows: number; bytes: number }>();
  for (const it of items) {
    const key = conversationKey(it.a, it.b);
    const t = totals.get(key) ?? { flows: 0, bytes: 0 };
    t.flows += it.flows;
    t.bytes += it.bytes;
    totals.set(key, t);
  }
  return totals;
}

/** Per conversation, of the records that are flows (rule 0 leaves the others out of every sequence). */
export function inputTotals(flows: FlowRecord[]) {
  return totalsByConversation(
    flows
      .filter((f) => notAConversationFlow(f) === undefined)
      .map((f) => ({ a: f.src_ip, b: f.dst_ip, flows: 1, bytes: f.fwd_bytes + f.bwd_bytes })),
  );
}

export function outputTotals(sequences: Sequence[], late: FlowRecord[]) {
  return totalsByConversation([
    ...sequences.map((s) => ({
      a: s.src_ip,
      b: s.dst_ip,
      flows: s.flows.length,
      bytes: s.flows.reduce((n, f) => n + f.fwd_bytes + f.bwd_bytes, 0),
    })),
    ...late.map((f) => ({ a: f.src_ip, b: f.dst_ip, flows: 1, bytes: f.fwd_bytes + f.bwd_bytes })),
  ]);
}

/** A configuration for tests: unique topics, group and key prefix; short idle flush. */
export function testConfig(name: string, over: Record<string, string> = {}): SequencerConfig {
  return loadSequencerConfig({
    KAFKA_BROKERS: process.env['KAFKA_BROKERS'],
    REDIS_URL: process.env['REDIS_URL'],
    ...testEnv(name),
    ...over,
  });
}

export function testEnv(name: string): Record<string, string> {
  return {
    TIDEWATCH_FLOWS_TOPIC: `${name}.flows`,
    TIDEWATCH_SEQUENCES_TOPIC: `${name}.sequences`,
    TIDEWATCH_SEQUENCER_GROUP: `${name}.sequencer`,
    TIDEWATCH_SEQUENCER_REDIS_PREFIX: `${name}:seq`,
    TIDEWATCH_FLOWS_PARTITIONS: '3',
    TIDEWATCH_SEQUENCES_PARTITIONS: '2',
    TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: '2500',
    TIDEWATCH_SEQUENCER_TICK_MS: '200',
    TIDEWATCH_SEQUENCER_MAX_BATCH: '200',
    TIDEWATCH_SEQUENCER_SESSION_TIMEOUT_MS: '6000',
    TIDEWATCH_SEQUENCER_STATS_TTL_S: '3600',
    TIDEWATCH_HTTP_PORT: '0',
  };
}

/** Sequences compared by content with HyperLogLog's tolerance on the two distinct counts. */
export function assertSameSequences(
  actual: Sequence[],
  expected: Sequence[],
  equal: (a: unknown, b: unknown, msg?: string) => void,
  hll = false,
): void {
  const strip = (s: Sequence) => ({
    ...s,
    context: { ...s.context, distinct_dsts: 0, distinct_dst_ports: 0 },
  });
  const plain = (list: Sequence[]) => (JSON.parse(JSON.stringify(list)) as Sequence[]).sort(compareSequences);
  const a = plain(actual);
  const e = plain(expected);
  equal(a.length, e.length, 'number of sequences');
  if (!hll) {
    equal(a, e);
    return;
  }
  equal(a.map(strip), e.map(strip));
  for (let i = 0; i < e.length; i++) {
    const x = a[i] as Sequence;
    const y = e[i] as Sequence;
    for (const k of ['distinct_dsts', 'distinct_dst_ports'] as const) {
      const tolerance = Math.max(1, Math.ceil(y.context[k] * 0.02));
      if (Math.abs(x.context[k] - y.context[k]) > tolerance) {
        equal(x.context[k], y.context[k], `${k} of ${y.sequence_id} beyond HyperLogLog tolerance`);
      }
    }
  }
}
