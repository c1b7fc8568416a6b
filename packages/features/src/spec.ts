import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import spec from '../spec/features.v1.json' with { type: 'json' };

/** Path of the feature spec file; its sha256 is the `feature_spec_hash` a model manifest must match. */
export const FEATURE_SPEC_PATH = fileURLToPath(new URL('../spec/features.v1.json', import.meta.url));
export const FEATURE_SPEC_VERSION: string = spec.version;
export const FEATURE_SPEC_HASH: string = createHash('sha256')
  .update(readFileSync(FEATURE_SPEC_PATH))
  .digest('hex');

export const PORT_CLASSES: readonly string[] = spec.port_classes;
export const PROTOCOL_CLASSES: readonly string[] = spec.protocol_classes;
export const TCP_FLAG_MASKS: readonly number[] = spec.tcp_flag_bits.map((b) => b.mask);
export const SCALAR_FLOW_FEATURES = 12;

/** Names of the F per-flow features in column order (one-hot groups expanded). */
export const FLOW_FEATURE_NAMES: readonly string[] = [
  ...spec.flow_features.slice(0, SCALAR_FLOW_FEATURES).map((f) => f.name),
  ...spec.port_classes.map((c) => `port_${c}`),
  ...spec.protocol_classes.map((c) => `proto_${c}`),
  ...spec.tcp_flag_bits.map((b) => `flag_${b.name}`),
  'tcp_flags_present',
];
export const FLOW_FEATURE_COUNT = FLOW_FEATURE_NAMES.length;
export const CONTEXT_FEATURE_NAMES: readonly string[] = spec.context_features.map((f) => f.name);
export const CONTEXT_FEATURE_COUNT = CONTEXT_FEATURE_NAMES.length;

export const SUB_SCORE_CONSTANTS = spec.sub_score_constants;

/** dst_port → port-class index for the listed service buckets (first listed class wins). */
export const PORT_BUCKET_INDEX: ReadonlyMap<number, number> = (() => {
  const m = new Map<number, number>();
  const buckets = spec.port_buckets as Record<string, number[]>;
  spec.port_classes.forEach((cls, i) => {
    for (const port of buckets[cls] ?? []) if (!m.has(port)) m.set(port, i);
  });
  return m;
})();
