/** One flow inside a sequence, oriented initiator → responder (fwd = sent by the initiator). */
export interface SequenceFlow {
  start_ms: number;
  end_ms: number;
  protocol: number;
  src_port: number;
  dst_port: number;
  fwd_bytes: number;
  fwd_pkts: number;
  bwd_bytes: number;
  bwd_pkts: number;
  tcp_flags: number;
  /** Ground truth when the input carried it (labelled imports); never a model input. */
  label: number | null;
  attack: string | null;
  /** Where the flow came from, for evidence: `format:exporter` or `file:row`. */
  origin: string;
  /**
   * flows.v1's sampling_rate (a stitched pair: the larger of its halves'): 1 when the exporter
   * saw every packet, N when it sampled 1 in N (sFlow, sampled NetFlow / IPFIX), so a missing
   * reply may just be unsampled. Counts are as exported, not scaled. Appended to sequences.v1
   * with default 1: a message from an earlier producer reads as 1, and so does an object that
   * leaves it out (every decoder sets it).
   */
  sampling_rate?: number;
}

/**
 * Context about the initiator (and, last, the responder) in this window, across partitions (Redis /
 * embedded).
 */
export interface EntityContext {
  distinct_dsts: number;
  distinct_dst_ports: number;
  connections: number;
  /**
   * The responder's fan-in: distinct initiators with a conversation toward this sequence's dst_ip
   * in the window (a reflection flood's victim: thousands). Appended to sequences.v1 with default
   * 0: a message from an earlier producer reads as 0, and so does an object that leaves it out
   * (both sequencers and every decoder set it).
   */
  distinct_srcs?: number;
  /**
   * Of those, the initiators whose conversation in the window holds a probe-shaped flow: nothing
   * came back (bwd_pkts 0), it is not reply-shaped (source port 1-1023 toward a port >= 1024) and
   * not peer-shaped (a port to the same port, outside ICMP), an attempt of at most 7 packets
   * (isProbeFlow, probe-flow.ts), exported unsampled (a flow with sampling_rate > 1 never counts:
   * with sFlow or sampled NetFlow most replies are not seen).
   * Many such initiators toward one responder is an inbound (distributed) scan. Appended after
   * distinct_srcs with default 0, like it.
   */
  distinct_probe_srcs?: number;
}

/** A conversation (initiator → responder) over one event-time window (`sequences.v1`). */
export interface Sequence {
  sequence_id: string;
  src_ip: string;
  dst_ip: string;
  window_start_ms: number;
  window_end_ms: number;
  /** 0 for the first part of a window; >0 when the window was split at the max-flows limit. */
  part: number;
  flows: SequenceFlow[];
  context: EntityContext;
}
