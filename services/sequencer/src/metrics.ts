import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type SequencerMetrics = ReturnType<typeof createSequencerMetrics>;

/** The sequencer's metrics (names: tidewatch_sequencer_<what>_<unit>; labels bounded). */
export function createSequencerMetrics(registry: Registry) {
  const registers = [registry];
  const flowsIn = new Counter({
    name: 'tidewatch_sequencer_flows_in_total',
    help: "Flow records consumed, by outcome (accepted, late, replayed after a restart, not_a_flow: an exporter event that counted no traffic or an IPv6 link control message, merged: a firewall connection's update or teardown folded into the flow its window holds for that connection, invalid)",
    labelNames: ['outcome'] as const,
    registers,
  });
  return {
    flowsIn,
    /** flowsIn's children, bound once: the hot path counts per batch without label lookups. */
    flowsInBy: {
      accepted: flowsIn.labels({ outcome: 'accepted' }),
      late: flowsIn.labels({ outcome: 'late' }),
      replayed: flowsIn.labels({ outcome: 'replayed' }),
      not_a_flow: flowsIn.labels({ outcome: 'not_a_flow' }),
      merged: flowsIn.labels({ outcome: 'merged' }),
      invalid: flowsIn.labels({ outcome: 'invalid' }),
    },
    lateFlows: new Counter({
      name: 'tidewatch_sequencer_late_flows_total',
      help: 'Flow records whose window had already closed, routed to the late topic',
      registers,
    }),
    sequencesOut: new Counter({
      name: 'tidewatch_sequencer_sequences_out_total',
      help: 'Sequences emitted',
      registers,
    }),
    openWindows: new Gauge({
      name: 'tidewatch_sequencer_open_windows',
      help: 'Conversation-windows held in memory (open or waiting for the low watermark)',
      registers,
    }),
    pendingHalves: new Gauge({
      name: 'tidewatch_sequencer_pending_biflow_halves',
      help: 'Unidirectional records waiting for their reverse direction',
      registers,
    }),
    watermarkLag: new Gauge({
      name: 'tidewatch_sequencer_watermark_lag_seconds',
      help: 'Wall clock minus the lowest partition watermark of this instance',
      registers,
    }),
    redisSeconds: new Histogram({
      name: 'tidewatch_sequencer_redis_seconds',
      help: 'Redis round trips by operation',
      labelNames: ['op'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    commits: new Counter({
      name: 'tidewatch_sequencer_commits_total',
      help: 'Offset commits (each behind closed and emitted windows)',
      registers,
    }),
  };
}
