import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import spec from '../spec/features.v1.json' with { type: 'json' };
import specV2 from '../spec/features.v2.json' with { type: 'json' };
import subScoresV2 from '../spec/subscores.v2.json' with { type: 'json' };
import subScoresV3 from '../spec/subscores.v3.json' with { type: 'json' };
import subScoresV4 from '../spec/subscores.v4.json' with { type: 'json' };
import subScoresV5 from '../spec/subscores.v5.json' with { type: 'json' };
import subScoresV6 from '../spec/subscores.v6.json' with { type: 'json' };
import subScoresV7 from '../spec/subscores.v7.json' with { type: 'json' };

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

/**
 * subscores.v2 (`spec/subscores.v2.json`): what the service flags and explains. A model's in-graph
 * evidence stays features.v1's sub-scores.
 */
export const SUB_SCORES_V2_PATH = fileURLToPath(new URL('../spec/subscores.v2.json', import.meta.url));
export const SUB_SCORES_V2_VERSION: string = subScoresV2.version;
export const SUB_SCORES_V2_HASH: string = createHash('sha256')
  .update(readFileSync(SUB_SCORES_V2_PATH))
  .digest('hex');
export const SUB_SCORE_V2_CONSTANTS = subScoresV2.constants;

/**
 * subscores.v3 (`spec/subscores.v3.json`): subscores.v2 plus reflection (the responder's fan-in of
 * unsolicited amplification-port replies).
 */
export const SUB_SCORES_V3_PATH = fileURLToPath(new URL('../spec/subscores.v3.json', import.meta.url));
export const SUB_SCORES_V3_VERSION: string = subScoresV3.version;
export const SUB_SCORES_V3_HASH: string = createHash('sha256')
  .update(readFileSync(SUB_SCORES_V3_PATH))
  .digest('hex');
export const SUB_SCORE_V3_CONSTANTS = subScoresV3.constants;

/**
 * subscores.v4 (`spec/subscores.v4.json`): subscores.v3 with an inbound (distributed) scan term in
 * scan (the responder's fan-in of probing initiators), what the service flags and explains by default.
 */
export const SUB_SCORES_V4_PATH = fileURLToPath(new URL('../spec/subscores.v4.json', import.meta.url));
export const SUB_SCORES_V4_VERSION: string = subScoresV4.version;
export const SUB_SCORES_V4_HASH: string = createHash('sha256')
  .update(readFileSync(SUB_SCORES_V4_PATH))
  .digest('hex');
export const SUB_SCORE_V4_CONSTANTS = subScoresV4.constants;

/**
 * subscores.v5 (`spec/subscores.v5.json`): subscores.v4 with brute force's connection-count term
 * reading its own authentication ports (features.v1's without 443), what the service flags and
 * explains by default.
 */
export const SUB_SCORES_V5_PATH = fileURLToPath(new URL('../spec/subscores.v5.json', import.meta.url));
export const SUB_SCORES_V5_VERSION: string = subScoresV5.version;
export const SUB_SCORES_V5_HASH: string = createHash('sha256')
  .update(readFileSync(SUB_SCORES_V5_PATH))
  .digest('hex');
export const SUB_SCORE_V5_CONSTANTS = subScoresV5.constants;

/**
 * subscores.v6 (`spec/subscores.v6.json`): subscores.v5 over the sequence's connections (a TCP
 * connection exported as several records, one per active timeout, counts once).
 */
export const SUB_SCORES_V6_PATH = fileURLToPath(new URL('../spec/subscores.v6.json', import.meta.url));
export const SUB_SCORES_V6_VERSION: string = subScoresV6.version;
export const SUB_SCORES_V6_HASH: string = createHash('sha256')
  .update(readFileSync(SUB_SCORES_V6_PATH))
  .digest('hex');
export const SUB_SCORE_V6_CONSTANTS = subScoresV6.constants;

/**
 * subscores.v7 (`spec/subscores.v7.json`): subscores.v6 with ICMP error messages left out of scan's
 * ICMP term (a host answering many others with port unreachable is no sweep), what the service flags
 * and explains by default.
 */
export const SUB_SCORES_V7_PATH = fileURLToPath(new URL('../spec/subscores.v7.json', import.meta.url));
export const SUB_SCORES_V7_VERSION: string = subScoresV7.version;
export const SUB_SCORES_V7_HASH: string = createHash('sha256')
  .update(readFileSync(SUB_SCORES_V7_PATH))
  .digest('hex');
export const SUB_SCORE_V7_CONSTANTS = subScoresV7.constants;

/** dst_port → port-class index for the listed service buckets (first listed class wins). */
export const PORT_BUCKET_INDEX: ReadonlyMap<number, number> = (() => {
  const m = new Map<number, number>();
  const buckets = spec.port_buckets as Record<string, number[]>;
  spec.port_classes.forEach((cls, i) => {
    for (const port of buckets[cls] ?? []) if (!m.has(port)) m.set(port, i);
  });
  return m;
})();

/** Responder address classes of features.v2 (context columns after the four features.v1 ones). */
export const ADDRESS_SCOPES: readonly string[] = specV2.address_scopes;

/** A feature spec this package implements; a model manifest's `feature_spec_hash` selects one. */
export interface FeatureSpec {
  version: string;
  hash: string;
  path: string;
  contextNames: readonly string[];
  contextCount: number;
  /** features.v2: one-hot responder address scope after the features.v1 context. */
  responderScope: boolean;
}

function specFile(name: string, version: string, contextNames: readonly string[]): FeatureSpec {
  const path = fileURLToPath(new URL(`../spec/${name}`, import.meta.url));
  const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
  const responderScope = contextNames.length > CONTEXT_FEATURE_COUNT;
  return { version, hash, path, contextNames, contextCount: contextNames.length, responderScope };
}

export const FEATURES_V1: FeatureSpec = specFile('features.v1.json', spec.version, CONTEXT_FEATURE_NAMES);
export const FEATURES_V2: FeatureSpec = specFile('features.v2.json', specV2.version, [
  ...CONTEXT_FEATURE_NAMES,
  ...ADDRESS_SCOPES.map((s) => `responder_${s}`),
]);
export const FEATURE_SPECS: readonly FeatureSpec[] = [FEATURES_V1, FEATURES_V2];

/** The implemented spec whose file hash is `hash`, if any. */
export function featureSpecByHash(hash: string): FeatureSpec | undefined {
  return FEATURE_SPECS.find((s) => s.hash === hash);
}
