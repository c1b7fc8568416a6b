import type { FlowRecord, Sequence } from '@tidewatch/contracts';
import {
  compareSequences,
  InMemoryEntityStats,
  type PartitionCheckpoint,
  PartitionSequencer,
  type SequencingSpec,
  windowContribution,
  windowSequences,
} from '../src/index.ts';

export function flow(over: Partial<FlowRecord>): FlowRecord {
  return {
    exporter: '192.0.2.1',
    observation_domain: 0,
    source_format: 'zeek_conn',
    start_ms: 0,
    end_ms: 0,
    protocol: 6,
    src_ip: '10.0.0.1',
    dst_ip: '10.0.0.2',
    src_port: 40000,
    dst_port: 443,
    fwd_bytes: 100,
    fwd_pkts: 2,
    bwd_bytes: 200,
    bwd_pkts: 3,
    tcp_flags: 0,
    sampling_rate: 1,
    label: null,
    attack: null,
    extra: {},
    ...over,
  };
}

/** Deterministic pseudo-random numbers (mulberry32). */
export { seededRandom as rng } from '@tidewatch/testing';

export interface StreamResult {
  sequences: Sequence[];
  late: FlowRecord[];
  outcomes: Record<string, number>;
}

/** Drives one PartitionSequencer the way the service does, in batches, then flushes at the end. */
export function stream(
  flows: FlowRecord[],
  spec: SequencingSpec,
  opts: {
    batch?: number;
    stats?: InMemoryEntityStats;
    sequencer?: PartitionSequencer;
    fromOffset?: number;
    stopAfter?: number;
  } = {},
): StreamResult & { sequencer: PartitionSequencer } {
  const sequencer = opts.sequencer ?? new PartitionSequencer(spec);
  const stats = opts.stats ?? new InMemoryEntityStats();
  const batch = opts.batch ?? 7;
  const out: Sequence[] = [];
  const late: FlowRecord[] = [];
  const outcomes: Record<string, number> = { accepted: 0, late: 0, replayed: 0 };
  const emit = (): void => {
    stats.applySync(sequencer.seal().map(windowContribution));
    for (const w of sequencer.takeEmittable()) {
      out.push(...windowSequences(w, stats.contextOf(w.src_ip, w.dst_ip, w.window_start_ms), spec));
    }
    late.push(...sequencer.takeLate());
  };
  const end = opts.stopAfter ?? flows.length;
  for (let i = opts.fromOffset ?? 0; i < end; i++) {
    const f = flows[i] as FlowRecord;
    const outcome = sequencer.push(f, i);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (outcome === 'late') late.push(f);
    if ((i + 1) % batch === 0) emit();
  }
  if (opts.stopAfter === undefined) {
    sequencer.idleFlush();
  }
  emit();
  return { sequences: out.sort(compareSequences), late, outcomes, sequencer };
}

export type { PartitionCheckpoint };
