export { BiflowStitcher, chooseInitiator } from './biflow-stitcher.ts';
export { buildSequences, compareSequences } from './build-sequences.ts';
export {
  type ConversationFlow,
  compareSequenceFlows,
  flowOrigin,
  type InputPosition,
  isIpfixBiflow,
  isStitchable,
  notAConversationFlow,
  orientBiflow,
  toSequenceFlow,
  UNIDIRECTIONAL_FORMATS,
} from './conversation-flow.ts';
export {
  appendContribution,
  type ContextKey,
  type ContributionWriter,
  type EntityStats,
  InMemoryEntityStats,
  type WindowContribution,
  windowContribution,
  windowHasProbe,
  writeContribution,
} from './entity-stats.ts';
export { type PartitionCheckpoint, PartitionSequencer, type PushOutcome } from './partition-sequencer.ts';
export {
  type EncodedSequence,
  encodeWindow,
  sortFlows,
  windowSequences,
  writeWindow,
} from './sequence-builder.ts';
export { sequenceId } from './sequence-id.ts';
export { SEQUENCING_SPEC, type SequencingSpec, SpecError, sequencingSpec } from './spec.ts';
export { OpenWindow, type WindowFlowFields, WindowStore, windowStartOf } from './window-store.ts';
export { FlowAddresses, FlowDecodeError, FlowDecoder } from './flow-decoder.ts';
export { FlowColumns, sequenceDstPort, sortRows } from './flow-columns.ts';
export { type SequenceHead, SequenceEncoder, type SequenceSink } from './sequence-encoder.ts';
