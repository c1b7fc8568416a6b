import specJson from '../spec/sequencing.v1.json' with { type: 'json' };

/** The sequencing constants shared with the Python model code (spec/sequencing.v1.json). */
export interface SequencingSpec {
  version: string;
  window_ms: number;
  max_flows: number;
  allowed_lateness_ms: number;
  biflow_tolerance_ms: number;
  sequence_id_namespace: string;
}

export const SEQUENCING_SPEC: Readonly<SequencingSpec> = Object.freeze({ ...specJson });

export class SpecError extends Error {
  override name = 'SpecError';
}

/** The spec with overrides (window length, max flows, lateness are configurable per deployment). */
export function sequencingSpec(overrides: Partial<SequencingSpec> = {}): SequencingSpec {
  const spec = { ...SEQUENCING_SPEC, ...overrides };
  for (const key of ['window_ms', 'max_flows'] as const) {
    if (!Number.isInteger(spec[key]) || spec[key] <= 0) {
      throw new SpecError(`${key} must be a positive integer, got ${spec[key]}`);
    }
  }
  for (const key of ['allowed_lateness_ms', 'biflow_tolerance_ms'] as const) {
    if (!Number.isInteger(spec[key]) || spec[key] < 0) {
      throw new SpecError(`${key} must be a non-negative integer, got ${spec[key]}`);
    }
  }
  if (spec.biflow_tolerance_ms > spec.allowed_lateness_ms) {
    throw new SpecError(
      `biflow_tolerance_ms (${spec.biflow_tolerance_ms}) must not exceed allowed_lateness_ms (${spec.allowed_lateness_ms})`,
    );
  }
  return spec;
}
