import { readFileSync } from 'node:fs';
import { type Tactic, TACTICS, type Technique } from './attack.ts';

export class AttackCatalogueError extends Error {
  override name = 'AttackCatalogueError';
}

export interface SkippedEntry {
  /** 1-based line (TSV) or index in `techniques` (JSON). */
  at: number;
  reason: string;
}

/** The full ATT&CK catalogue read from a file (the configured one; tests use ../shared/data/attack/). */
export class AttackCatalogue {
  readonly #tactics = new Map<string, Tactic>();
  readonly #techniques = new Map<string, Technique>();

  constructor(
    tactics: readonly Tactic[],
    techniques: readonly Technique[],
    /** Provenance line of the file, when it has one. */
    readonly source: string | undefined,
    /** Entries that were malformed and left out, with why. */
    readonly skipped: readonly SkippedEntry[] = [],
  ) {
    for (const t of tactics) this.#tactics.set(t.id, t);
    for (const t of techniques) this.#techniques.set(t.id, t);
  }

  get tactics(): Tactic[] {
    return [...this.#tactics.values()];
  }

  get techniques(): Technique[] {
    return [...this.#techniques.values()];
  }

  tactic(idOrShortname: string): Tactic | undefined {
    return this.#tactics.get(idOrShortname) ?? this.tactics.find((t) => t.shortname === idOrShortname);
  }

  technique(id: string): Technique | undefined {
    return this.#techniques.get(id);
  }

  /** Techniques under a tactic (by id), parents and sub-techniques. */
  techniquesOf(tacticId: string): Technique[] {
    return this.techniques.filter((t) => t.tactics.includes(tacticId));
  }
}

const TECHNIQUE_ID = /^T\d{4}(\.\d{3})?$/;
const TACTIC_ID = /^TA\d{4}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Shortnames → tactic ids; an unknown shortname makes the entry malformed. */
function tacticIds(shortnames: unknown, tactics: readonly Tactic[]): string[] | string {
  if (!Array.isArray(shortnames) || shortnames.length === 0) return 'no tactics';
  const ids: string[] = [];
  for (const s of shortnames) {
    const t = tactics.find((x) => x.shortname === s || x.id === s);
    if (!t) return `unknown tactic ${JSON.stringify(s)}`;
    ids.push(t.id);
  }
  return ids;
}

function fromCompactJson(text: string, path: string): AttackCatalogue {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new AttackCatalogueError(`${path}: not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(doc) || !Array.isArray(doc['tactics']) || !Array.isArray(doc['techniques'])) {
    throw new AttackCatalogueError(`${path}: expected an object with "tactics" and "techniques" arrays`);
  }
  const tactics: Tactic[] = [];
  for (const [i, t] of doc['tactics'].entries()) {
    if (!isRecord(t) || typeof t['id'] !== 'string' || !TACTIC_ID.test(t['id'])) {
      throw new AttackCatalogueError(`${path}: tactics[${i}] has no valid id`);
    }
    tactics.push({ id: t['id'], name: String(t['name'] ?? ''), shortname: String(t['shortname'] ?? '') });
  }
  const techniques: Technique[] = [];
  const skipped: SkippedEntry[] = [];
  for (const [i, t] of doc['techniques'].entries()) {
    if (!isRecord(t) || typeof t['id'] !== 'string' || !TECHNIQUE_ID.test(t['id'])) {
      skipped.push({ at: i, reason: 'invalid technique id' });
      continue;
    }
    if (typeof t['name'] !== 'string' || t['name'] === '') {
      skipped.push({ at: i, reason: `${t['id']} has no name` });
      continue;
    }
    const ids = tacticIds(t['tactics'], tactics);
    if (typeof ids === 'string') {
      skipped.push({ at: i, reason: `${t['id']}: ${ids}` });
      continue;
    }
    techniques.push({
      id: t['id'],
      name: t['name'],
      tactics: ids,
      subtechnique: t['sub'] === true || t['id'].includes('.'),
      ...(Array.isArray(t['platforms']) ? { platforms: t['platforms'].map(String) } : {}),
    });
  }
  const source = typeof doc['source'] === 'string' ? doc['source'] : undefined;
  return new AttackCatalogue(tactics, techniques, source, skipped);
}

/** The techniques TSV (technique_id, name, tactics as comma-separated shortnames, is_subtechnique). */
function fromTsv(text: string, path: string): AttackCatalogue {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.split('\t') ?? [];
  const col = (name: string) => header.indexOf(name);
  const [idCol, nameCol, tacticsCol, subCol] = [
    col('technique_id'),
    col('name'),
    col('tactics'),
    col('is_subtechnique'),
  ];
  if (idCol < 0 || nameCol < 0 || tacticsCol < 0) {
    throw new AttackCatalogueError(`${path}: header must name technique_id, name and tactics columns`);
  }
  const techniques: Technique[] = [];
  const skipped: SkippedEntry[] = [];
  for (const [i, line] of lines.entries()) {
    if (i === 0 || line.trim() === '') continue;
    const cells = line.split('\t');
    const id = cells[idCol] ?? '';
    const name = cells[nameCol] ?? '';
    if (!TECHNIQUE_ID.test(id)) {
      skipped.push({ at: i + 1, reason: `invalid technique id ${JSON.stringify(id)}` });
      continue;
    }
    if (name === '') {
      skipped.push({ at: i + 1, reason: `${id} has no name` });
      continue;
    }
    const ids = tacticIds((cells[tacticsCol] ?? '').split(',').filter(Boolean), TACTICS);
    if (typeof ids === 'string') {
      skipped.push({ at: i + 1, reason: `${id}: ${ids}` });
      continue;
    }
    const sub = subCol >= 0 ? cells[subCol] === 'true' : id.includes('.');
    techniques.push({ id, name, tactics: ids, subtechnique: sub });
  }
  return new AttackCatalogue(TACTICS, techniques, undefined, skipped);
}

/**
 * Reads the full catalogue from the compact JSON (`{ tactics, techniques }`) or the techniques TSV.
 * Malformed technique entries are skipped and listed in `skipped`; an unreadable or structurally
 * wrong file throws AttackCatalogueError naming the file.
 */
export function loadAttackCatalogue(path: string): AttackCatalogue {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new AttackCatalogueError(`cannot read ATT&CK catalogue ${path}: ${(error as Error).message}`);
  }
  return path.endsWith('.tsv') ? fromTsv(text, path) : fromCompactJson(text, path);
}
