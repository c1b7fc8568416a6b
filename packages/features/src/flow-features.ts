import type { Sequence } from '@tidewatch/contracts';
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
  const flows = seq.flows;
  const n = flows.length;
  const rows = Math.min(n, maxFlows);
  const F = FLOW_FEATURE_COUNT;
  let prevStart = 0;
  for (let i = 0; i < rows; i++) {
    const f = flows[i];
    if (f === undefined) continue;
    const o = flowOffset + i * F;
    const fb = pos(f.fwd_bytes);
    const bb = pos(f.bwd_bytes);
    const fp = pos(f.fwd_pkts);
    const bp = pos(f.bwd_pkts);
    flow[o] = Math.log1p(fb);
    flow[o + 1] = Math.log1p(bb);
    flow[o + 2] = Math.log1p(fp);
    flow[o + 3] = Math.log1p(bp);
    flow[o + 4] = Math.log1p(pos(f.end_ms - f.start_ms));
    flow[o + 5] = Math.log1p(fb / Math.max(1, fp));
    flow[o + 6] = Math.log1p(bb / Math.max(1, bp));
    flow[o + 7] = i === 0 ? 0 : Math.log1p(pos(f.start_ms - prevStart));
    flow[o + 8] = i === 0 ? 1 : 0;
    const a = fb + fp;
    const b = bb + bp;
    flow[o + 9] = a + b > 0 ? a / (a + b) : 0.5;
    flow[o + 10] = bp === 0 && bb === 0 ? 1 : 0;
    const portsApply = f.protocol === 0 || f.protocol === 6 || f.protocol === 17;
    flow[o + 11] = portsApply && f.src_port > 0 && f.src_port < 1024 ? 1 : 0;
    flow[o + PORT_OFFSET + portClassIndex(f.protocol, f.dst_port)] = 1;
    flow[o + PROTO_OFFSET + protocolClassIndex(f.protocol)] = 1;
    if (f.protocol === 6) {
      for (let k = 0; k < TCP_FLAG_MASKS.length; k++) {
        if ((f.tcp_flags & (TCP_FLAG_MASKS[k] ?? 0)) !== 0) flow[o + FLAG_OFFSET + k] = 1;
      }
      if (f.tcp_flags !== 0) flow[o + FLAGS_PRESENT] = 1;
    }
    prevStart = f.start_ms;
  }
  const c = contextOffset;
  context[c] = Math.log1p(pos(seq.context.distinct_dsts));
  context[c + 1] = Math.log1p(pos(seq.context.distinct_dst_ports));
  context[c + 2] = Math.log1p(pos(seq.context.connections));
  context[c + 3] = Math.log1p(n);
  if (spec.responderScope) {
    context.fill(0, c + CONTEXT_FEATURE_COUNT, c + spec.contextCount);
    const scope = addressScopeIndex(seq.dst_ip);
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
