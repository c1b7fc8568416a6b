import type { EntityContext, Sequence, SequenceFlow } from '@tidewatch/contracts';

/**
 * Sequence number `k` of a test window: one unanswered flow from `src_ip` to `dst_ip` (a probe
 * unless `flow` says otherwise), started k seconds into the window, with the given context.
 */
export function oneFlowSequence(
  k: number,
  ends: { src_ip: string; dst_ip: string },
  flow: Partial<SequenceFlow>,
  context: EntityContext,
): Sequence {
  const t0 = 1_700_000_000_000 + k * 1_000;
  return {
    sequence_id: `44444444-5555-5666-8777-${k.toString(16).padStart(12, '0')}`,
    ...ends,
    window_start_ms: 1_700_000_000_000,
    window_end_ms: 1_700_000_300_000,
    part: 0,
    flows: [
      {
        start_ms: t0,
        end_ms: t0,
        protocol: 6,
        src_port: 40_000 + k,
        dst_port: 23,
        fwd_bytes: 60,
        fwd_pkts: 1,
        bwd_bytes: 0,
        bwd_pkts: 0,
        tcp_flags: 0,
        label: null,
        attack: null,
        origin: `probe:${k}`,
        ...flow,
      },
    ],
    context,
  };
}
