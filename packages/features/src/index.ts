export { addressScopeIndex } from './address-scope.ts';
export {
  ADDRESS_SCOPES,
  CONTEXT_FEATURE_COUNT,
  CONTEXT_FEATURE_NAMES,
  FEATURE_SPEC_HASH,
  FEATURE_SPECS,
  FEATURES_V1,
  FEATURES_V2,
  type FeatureSpec,
  featureSpecByHash,
  FEATURE_SPEC_PATH,
  FEATURE_SPEC_VERSION,
  FLOW_FEATURE_COUNT,
  FLOW_FEATURE_NAMES,
  PORT_CLASSES,
  PROTOCOL_CLASSES,
  SUB_SCORES_V2_HASH,
  SUB_SCORES_V2_PATH,
  SUB_SCORES_V2_VERSION,
  SUB_SCORES_V3_HASH,
  SUB_SCORES_V3_PATH,
  SUB_SCORES_V3_VERSION,
} from './spec.ts';
export {
  portClassIndex,
  protocolClassIndex,
  type SequenceFeatures,
  sequenceFeatures,
  writeBatchFeatures,
  writeSequenceFeatures,
} from './flow-features.ts';
export { sortPrefix } from './sort-prefix.ts';
export {
  SUB_SCORE_COUNT,
  SUB_SCORE_VERSIONS,
  type SubScores,
  type SubScoreVersion,
  subScores,
  subScoresAt,
  subScoresInto,
} from './sub-scores.ts';
