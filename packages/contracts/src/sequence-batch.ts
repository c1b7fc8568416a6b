import type { Sequence, SequenceFlow } from './sequence.ts';

/** A flow column: one number per flow of the batch. */
export type FlowColumn = Float64Array<ArrayBuffer>;

/**
 * Sequences as columns (what the scoring path reads of sequences.v1: flows without `attack` and
 * `origin`): per-sequence values in arrays indexed by sequence, every flow's numbers in typed
 * columns indexed by flow, the flows of sequence i at `[flowStart[i], flowStart[i + 1])`. No object
 * per sequence or per flow: `sequence(i)` builds the `Sequence` where one is needed. A null flow
 * label is NaN in `label`. Filled by `push` (a Sequence) or by the hand decoder
 * (`decodeSequenceInto`); `clear` empties it for the next batch and keeps the buffers. Every
 * column, the string arrays included, holds `count` (or `flowCount`) entries at its start and may
 * be longer.
 */
export class SequenceBatch {
  count = 0;
  flowCount = 0;
  ids: string[] = [];
  srcIp: string[] = [];
  dstIp: string[] = [];
  windowStart = new Float64Array(64);
  windowEnd = new Float64Array(64);
  part = new Float64Array(64);
  distinctDsts = new Float64Array(64);
  distinctDstPorts = new Float64Array(64);
  connections = new Float64Array(64);
  /** context.distinct_srcs (the responder's distinct initiators in the window). */
  distinctSrcs = new Float64Array(64);
  /** context.distinct_probe_srcs (of those, the initiators with a probe-shaped flow). */
  distinctProbeSrcs = new Float64Array(64);
  /** count + 1 offsets into the flow columns. */
  flowStart = new Int32Array(65);
  startMs: FlowColumn = new Float64Array(64);
  endMs: FlowColumn = new Float64Array(64);
  protocol: FlowColumn = new Float64Array(64);
  srcPort: FlowColumn = new Float64Array(64);
  dstPort: FlowColumn = new Float64Array(64);
  fwdBytes: FlowColumn = new Float64Array(64);
  fwdPkts: FlowColumn = new Float64Array(64);
  bwdBytes: FlowColumn = new Float64Array(64);
  bwdPkts: FlowColumn = new Float64Array(64);
  tcpFlags: FlowColumn = new Float64Array(64);
  label: FlowColumn = new Float64Array(64);
  /** sampling_rate (1: every packet seen; absent from an object reads as 1). */
  samplingRate: FlowColumn = new Float64Array(64);

  /**
   * Empties the batch, keeping its arrays. The strings are let go (not left to be overwritten by
   * the next batch): held by these long-lived arrays they would survive into the old generation.
   */
  clear(): void {
    this.ids.fill('', 0, this.count);
    this.srcIp.fill('', 0, this.count);
    this.dstIp.fill('', 0, this.count);
    this.count = 0;
    this.flowCount = 0;
  }

  /** Removes the last sequence (and its flows). */
  dropLast(): void {
    if (this.count === 0) return;
    this.count--;
    this.flowCount = this.flowStart[this.count] as number;
  }

  /** Flows of sequence `i`. */
  flowsOf(i: number): number {
    return (this.flowStart[i + 1] as number) - (this.flowStart[i] as number);
  }

  /** Room for one more sequence (its flows are made room for by `reserveFlows`). */
  reserveSequence(): void {
    const need = this.count + 1;
    if (need >= this.flowStart.length) {
      const size = this.flowStart.length * 2;
      this.windowStart = grow(this.windowStart, size);
      this.windowEnd = grow(this.windowEnd, size);
      this.part = grow(this.part, size);
      this.distinctDsts = grow(this.distinctDsts, size);
      this.distinctDstPorts = grow(this.distinctDstPorts, size);
      this.connections = grow(this.connections, size);
      this.distinctSrcs = grow(this.distinctSrcs, size);
      this.distinctProbeSrcs = grow(this.distinctProbeSrcs, size);
      const starts = new Int32Array(size + 1);
      starts.set(this.flowStart);
      this.flowStart = starts;
    }
  }

  /** Room for `n` flows after the first `used`. */
  reserveFlows(used: number, n: number): void {
    const need = used + n;
    if (need <= this.startMs.length) return;
    let size = this.startMs.length * 2;
    while (size < need) size *= 2;
    this.startMs = grow(this.startMs, size, used);
    this.endMs = grow(this.endMs, size, used);
    this.protocol = grow(this.protocol, size, used);
    this.srcPort = grow(this.srcPort, size, used);
    this.dstPort = grow(this.dstPort, size, used);
    this.fwdBytes = grow(this.fwdBytes, size, used);
    this.fwdPkts = grow(this.fwdPkts, size, used);
    this.bwdBytes = grow(this.bwdBytes, size, used);
    this.bwdPkts = grow(this.bwdPkts, size, used);
    this.tcpFlags = grow(this.tcpFlags, size, used);
    this.label = grow(this.label, size, used);
    this.samplingRate = grow(this.samplingRate, size, used);
  }

  /** Appends `seq` (its flows' `attack` and `origin` are not kept) and returns its index. */
  push(seq: Sequence): number {
    this.reserveSequence();
    const flows = seq.flows;
    const at = this.flowCount;
    this.reserveFlows(at, flows.length);
    for (let k = 0; k < flows.length; k++) {
      const f = flows[k] as SequenceFlow;
      const j = at + k;
      this.startMs[j] = f.start_ms;
      this.endMs[j] = f.end_ms;
      this.protocol[j] = f.protocol;
      this.srcPort[j] = f.src_port;
      this.dstPort[j] = f.dst_port;
      this.fwdBytes[j] = f.fwd_bytes;
      this.fwdPkts[j] = f.fwd_pkts;
      this.bwdBytes[j] = f.bwd_bytes;
      this.bwdPkts[j] = f.bwd_pkts;
      this.tcpFlags[j] = f.tcp_flags;
      this.label[j] = f.label === null ? Number.NaN : f.label;
      this.samplingRate[j] = f.sampling_rate ?? 1;
    }
    return this.commit(
      seq.sequence_id,
      seq.src_ip,
      seq.dst_ip,
      seq.window_start_ms,
      seq.window_end_ms,
      seq.part,
      at + flows.length,
      seq.context.distinct_dsts,
      seq.context.distinct_dst_ports,
      seq.context.connections,
      seq.context.distinct_srcs ?? 0,
      seq.context.distinct_probe_srcs ?? 0,
    );
  }

  /**
   * Ends the sequence whose flows were written up to `flowEnd` (after `reserveSequence` and
   * `reserveFlows`); returns its index.
   */
  commit(
    id: string,
    srcIp: string,
    dstIp: string,
    windowStart: number,
    windowEnd: number,
    part: number,
    flowEnd: number,
    distinctDsts: number,
    distinctDstPorts: number,
    connections: number,
    distinctSrcs: number,
    distinctProbeSrcs: number,
  ): number {
    const i = this.count;
    this.ids[i] = id;
    this.srcIp[i] = srcIp;
    this.dstIp[i] = dstIp;
    this.windowStart[i] = windowStart;
    this.windowEnd[i] = windowEnd;
    this.part[i] = part;
    this.distinctDsts[i] = distinctDsts;
    this.distinctDstPorts[i] = distinctDstPorts;
    this.connections[i] = connections;
    this.distinctSrcs[i] = distinctSrcs;
    this.distinctProbeSrcs[i] = distinctProbeSrcs;
    this.flowStart[i] = this.flowCount;
    this.flowStart[i + 1] = flowEnd;
    this.flowCount = flowEnd;
    this.count = i + 1;
    return i;
  }

  /**
   * Sequence `i` as the object decoders build (`decodeSequenceBody`'s members in its order; flows
   * without `attack` and `origin`).
   */
  sequence(i: number): Sequence {
    const from = this.flowStart[i] as number;
    const n = this.flowsOf(i);
    const flows = new Array<SequenceFlow>(n);
    for (let k = 0; k < n; k++) {
      const j = from + k;
      const label = this.label[j] as number;
      flows[k] = {
        start_ms: this.startMs[j] as number,
        end_ms: this.endMs[j] as number,
        protocol: this.protocol[j] as number,
        src_port: this.srcPort[j] as number,
        dst_port: this.dstPort[j] as number,
        fwd_bytes: this.fwdBytes[j] as number,
        fwd_pkts: this.fwdPkts[j] as number,
        bwd_bytes: this.bwdBytes[j] as number,
        bwd_pkts: this.bwdPkts[j] as number,
        tcp_flags: this.tcpFlags[j] as number,
        label: Number.isNaN(label) ? null : label,
        sampling_rate: this.samplingRate[j] as number,
      } as SequenceFlow;
    }
    return {
      sequence_id: this.ids[i] as string,
      src_ip: this.srcIp[i] as string,
      dst_ip: this.dstIp[i] as string,
      window_start_ms: this.windowStart[i] as number,
      window_end_ms: this.windowEnd[i] as number,
      part: this.part[i] as number,
      flows,
      context: {
        distinct_dsts: this.distinctDsts[i] as number,
        distinct_dst_ports: this.distinctDstPorts[i] as number,
        connections: this.connections[i] as number,
        distinct_srcs: this.distinctSrcs[i] as number,
        distinct_probe_srcs: this.distinctProbeSrcs[i] as number,
      },
    };
  }

  /** A new batch of the sequences at `idxs`, in that order. */
  select(idxs: ArrayLike<number>): SequenceBatch {
    const out = new SequenceBatch();
    for (let k = 0; k < idxs.length; k++) {
      const i = idxs[k] as number;
      out.reserveSequence();
      const from = this.flowStart[i] as number;
      const n = this.flowsOf(i);
      const at = out.flowCount;
      out.reserveFlows(at, n);
      for (const col of FLOW_COLUMNS) out[col].set(this[col].subarray(from, from + n), at);
      out.commit(
        this.ids[i] as string,
        this.srcIp[i] as string,
        this.dstIp[i] as string,
        this.windowStart[i] as number,
        this.windowEnd[i] as number,
        this.part[i] as number,
        at + n,
        this.distinctDsts[i] as number,
        this.distinctDstPorts[i] as number,
        this.connections[i] as number,
        this.distinctSrcs[i] as number,
        this.distinctProbeSrcs[i] as number,
      );
    }
    return out;
  }
}

const FLOW_COLUMNS = [
  'startMs',
  'endMs',
  'protocol',
  'srcPort',
  'dstPort',
  'fwdBytes',
  'fwdPkts',
  'bwdBytes',
  'bwdPkts',
  'tcpFlags',
  'label',
  'samplingRate',
] as const;

function grow(a: Float64Array, size: number, keep = a.length): Float64Array<ArrayBuffer> {
  const out = new Float64Array(size);
  out.set(a.subarray(0, keep));
  return out;
}
