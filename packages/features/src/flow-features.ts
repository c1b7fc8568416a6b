import { type Sequence, SequenceBatch } from '@tidewatch/contracts';
import { addressScopeIndex } from './address-scope.ts';
import {
  CONTEXT_FEATURE_COUNT,
  FEATURES_V1,
  type FeatureSpec,
  FLOW_FEATURE_COUNT,
  PORT_BUCKET_INDEX,
  PORT_CLASSES,
  SCALAR_FLOW_FEATURES,
  TCP_FLAG_MASKS,
} from './spec.ts';

export interface SequenceFeatures {
  /** len * F values, row-major. */
  flow: Float32Array;
  /** len values, all 1 (the model pads with 0). */
  mask: Float32Array;
  context: Float32Array;
  length: number;
}

const PORT_OFFSET = SCALAR_FLOW_FEATURES;
const PROTO_OFFSET = PORT_OFFSET + PORT_CLASSES.length;
const FLAG_OFFSET = PROTO_OFFSET + 5;
const FLAGS_PRESENT = FLAG_OFFSET + TCP_FLAG_MASKS.length;
const OTHER_WELL_KNOWN = PORT_CLASSES.indexOf('other_well_known');
const REGISTERED = PORT_CLASSES.indexOf('registered');
const EPHEMERAL = PORT_CLASSES.indexOf('ephemeral');
const NOT_APPLICABLE = PORT_CLASSES.indexOf('not_applicable');

export function portClassIndex(protocol: number, dstPort: number): number {
  if (protocol !== 0 && protocol !== 6 && protocol !== 17) return NOT_APPLICABLE;
  const bucket = PORT_BUCKET_INDEX.get(dstPort);
  if (bucket !== undefined) return bucket;
  if (dstPort < 1024) return OTHER_WELL_KNOWN;
  return dstPort < 49152 ? REGISTERED : EPHEMERAL;
}

export function protocolClassIndex(protocol: number): number {
  if (protocol === 6) return 0;
  if (protocol === 17) return 1;
  if (protocol === 1 || protocol === 58) return 2;
  if (protocol === 0) return 4;
  return 3;
}

const pos = (x: number): number => Math.max(x, 0);

/** One sequence at a time for the Sequence-object entry points (copied in, then read as columns). */
const scratch = new SequenceBatch();

/**
 * Writes the features of `seq` straight into a batch tensor (no per-sequence arrays): the first
 * `min(flows, maxFlows)` flow rows at `flow[flowOffset…]` (the rest of the row block is left as it
 * is, i.e. zero padding in a fresh buffer) and the context at `context[contextOffset…]`. Returns
 * the number of flow rows written. The values are exactly those of `sequenceFeatures`. `spec` sets
 * the context columns (features.v2 adds the responder address scope; flow rows are the same).
 */
export function writeSequenceFeatures(
  seq: Sequence,
  flow: Float32Array,
  flowOffset: number,
  maxFlows: number,
  context: Float32Array,
  contextOffset: number,
  spec: FeatureSpec = FEATURES_V1,
): number {
  scratch.clear();
  scratch.push(seq);
  return writeBatchFeatures(scratch, 0, flow, flowOffset, maxFlows, context, contextOffset, spec);
}

/** `writeSequenceFeatures` of sequence `s` of a SequenceBatch, read from its columns. */
export function writeBatchFeatures(
  batch: SequenceBatch,
  s: number,
  flow: Float32Array,
  flowOffset: number,
  maxFlows: number,
  context: Float32Array,
  contextOffset: number,
  spec: FeatureSpec = FEATURES_V1,
): number {
  const from = batch.flowStart[s] as number;
  const n = batch.flowsOf(s);
  const rows = Math.min(n, maxFlows);
  const F = FLOW_FEATURE_COUNT;
  const { startMs, endMs, protocol, srcPort, dstPort, fwdBytes, fwdPkts, bwdBytes, bwdPkts, tcpFlags } =
    batch;
  let prevStart = 0;
  for (let i = 0; i < rows; i++) {
    const j = from + i;
    const o = flowOffset + i * F;
    const fb = pos(fwdBytes[j] as number);
    const bb = pos(bwdBytes[j] as number);
    const fp = pos(fwdPkts[j] as number);
    const bp = pos(bwdPkts[j] as number);
    const start = startMs[j] as number;
    const proto = protocol[j] as number;
    flow[o] = Math.log1p(fb);
    flow[o + 1] = Math.log1p(bb);
    flow[o + 2] = Math.log1p(fp);
    flow[o + 3] = Math.log1p(bp);
    flow[o + 4] = Math.log1p(pos((endMs[j] as number) - start));
    flow[o + 5] = Math.log1p(fb / Math.max(1, fp));
    flow[o + 6] = Math.log1p(bb / Math.max(1, bp));
    flow[o + 7] = i === 0 ? 0 : Math.log1p(pos(start - prevStart));
    flow[o + 8] = i === 0 ? 1 : 0;
    const a = fb + fp;
    const b = bb + bp;
    flow[o + 9] = a + b > 0 ? a / (a + b) : 0.5;
    flow[o + 10] = bp === 0 && bb === 0 ? 1 : 0;
    const portsApply = proto === 0 || proto === 6 || proto === 17;
    const sp = srcPort[j] as number;
    flow[o + 11] = portsApply && sp > 0 && sp < 1024 ? 1 : 0;
    flow[o + PORT_OFFSET + portClassIndex(proto, dstPort[j] as number)] = 1;
    flow[o + PROTO_OFFSET + protocolClassIndex(proto)] = 1;
    if (proto === 6) {
      const flags = tcpFlags[j] as number;
      for (let k = 0; k < TCP_FLAG_MASKS.length; k++) {
        if ((flags & (TCP_FLAG_MASKS[k] ?? 0)) !== 0) flow[o + FLAG_OFFSET + k] = 1;
      }
      if (flags !== 0) flow[o + FLAGS_PRESENT] = 1;
    }
    prevStart = start;
  }
  const c = contextOffset;
  context[c] = Math.log1p(pos(batch.distinctDsts[s] as number));
  context[c + 1] = Math.log1p(pos(batch.distinctDstPorts[s] as number));
  context[c + 2] = Math.log1p(pos(batch.connections[s] as number));
  context[c + 3] = Math.log1p(n);
  if (spec.responderScope) {
    context.fill(0, c + CONTEXT_FEATURE_COUNT, c + spec.contextCount);
    const scope = addressScopeIndex(batch.dstIp[s] as string);
    if (scope >= 0) context[c + CONTEXT_FEATURE_COUNT + scope] = 1;
  }
  return rows;
}

/** Per-flow and context features of one sequence, as specified in spec/features.v1.json (or `spec`). */
export function sequenceFeatures(seq: Sequence, spec: FeatureSpec = FEATURES_V1): SequenceFeatures {
  const n = seq.flows.length;
  const flow = new Float32Array(n * FLOW_FEATURE_COUNT);
  const context = new Float32Array(spec.contextCount);
  writeSequenceFeatures(seq, flow, 0, n, context, 0, spec);
  return { flow, mask: new Float32Array(n).fill(1), context, length: n };
}
