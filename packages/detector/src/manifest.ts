import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FEATURE_SPECS, type FeatureSpec, featureSpecByHash } from '@tidewatch/features';

/** `model/versions/<v>/manifest.json` (docs: 01-contracts / DESIGN.md "Model"). */
export interface ModelManifest {
  version: string;
  created_at: string;
  feature_spec: string;
  feature_spec_hash: string;
  sequencing_spec: string;
  /** Order of the `tactic_probs` output. */
  tactics: string[];
  thresholds: { score: number; [k: string]: number };
  embedding_dim: number;
  max_len: number;
  metrics?: unknown;
  training_data?: unknown;
  /** Everything else the model engineer writes (trained flags, technique table, feature stats...). */
  [key: string]: unknown;
}

export class ModelManifestError extends Error {
  override name = 'ModelManifestError';
}

export class FeatureSpecMismatchError extends Error {
  override name = 'FeatureSpecMismatchError';
}

function need<T>(
  m: Record<string, unknown>,
  key: string,
  check: (v: unknown) => boolean,
  what: string,
  file: string,
): T {
  const v = m[key];
  if (!check(v)) throw new ModelManifestError(`${file}: '${key}' must be ${what}, got ${JSON.stringify(v)}`);
  return v as T;
}

const isString = (v: unknown) => typeof v === 'string' && v.length > 0;
const isPosInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;

export async function readManifest(dir: string): Promise<ModelManifest> {
  const file = join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ModelManifestError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new ModelManifestError(`${file}: not a JSON object`);
  const m = raw as Record<string, unknown>;
  need(m, 'version', isString, 'a non-empty string', file);
  need(m, 'feature_spec_hash', isString, 'a non-empty string', file);
  need(
    m,
    'tactics',
    (v) => Array.isArray(v) && v.every((t) => typeof t === 'string'),
    'an array of tactic ids',
    file,
  );
  const thresholds = need<Record<string, unknown>>(
    m,
    'thresholds',
    (v) => typeof v === 'object' && v !== null,
    'an object',
    file,
  );
  need(
    thresholds,
    'score',
    (v) => typeof v === 'number' && v >= 0 && v <= 1,
    'a number in [0,1]',
    `${file} thresholds`,
  );
  need(m, 'embedding_dim', isPosInt, 'a positive integer', file);
  need(m, 'max_len', isPosInt, 'a positive integer', file);
  return m as ModelManifest;
}

/**
 * The model must have been trained on exactly the features this code computes: its manifest's
 * `feature_spec_hash` selects the implemented spec (features.v1 for flow-1.2.0 and older).
 */
export function checkFeatureSpec(manifest: ModelManifest, dir: string): FeatureSpec {
  const spec = featureSpecByHash(manifest.feature_spec_hash);
  if (spec === undefined || (manifest.feature_spec !== undefined && manifest.feature_spec !== spec.version)) {
    const known = FEATURE_SPECS.map((s) => `${s.version} (${s.hash})`).join(', ');
    throw new FeatureSpecMismatchError(
      `model ${manifest.version} (${dir}) was trained on feature spec ${manifest.feature_spec ?? '?'} with hash ${manifest.feature_spec_hash}, but @tidewatch/features implements ${known}: retrain or export the model against one of these`,
    );
  }
  return spec;
}

/** Which tactics have a trained head (the manifest's `trained` flags; default: all listed). */
export function trainedTactics(manifest: ModelManifest): Set<string> {
  const out = new Set<string>();
  const flags = manifest['tactics_trained'] ?? manifest['tactic_trained'];
  const details = manifest['tactic_status'] ?? manifest['tactic_details'];
  for (const id of manifest.tactics) {
    let trained = true;
    if (flags && typeof flags === 'object' && !Array.isArray(flags)) {
      const v = (flags as Record<string, unknown>)[id];
      if (typeof v === 'boolean') trained = v;
      else if (v && typeof v === 'object' && typeof (v as { trained?: unknown }).trained === 'boolean') {
        trained = (v as { trained: boolean }).trained;
      }
    } else if (Array.isArray(details)) {
      const d = details.find((x) => x && typeof x === 'object' && (x as { id?: unknown }).id === id) as
        | { trained?: unknown }
        | undefined;
      if (d && typeof d.trained === 'boolean') trained = d.trained;
    } else if (details && typeof details === 'object') {
      const d = (details as Record<string, { trained?: unknown }>)[id];
      if (d && typeof d.trained === 'boolean') trained = d.trained;
    }
    if (trained) out.add(id);
  }
  return out;
}
