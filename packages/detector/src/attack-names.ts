import { TACTICS, technique } from '@tidewatch/attack';

/** ATT&CK v18.1 enterprise tactic names by id (from @tidewatch/attack). */
export const TACTIC_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  TACTICS.map((t) => [t.id, t.name]),
);

export interface TechniqueGuess {
  id: string;
  name: string;
  /** P(technique | tactic) prior. */
  prior: number;
}

/**
 * The technique the product proposes per tactic when the model's manifest carries no learned table
 * (`technique_by_tactic`): the one the training labels map to most often for that tactic (the
 * labelled captures' README: scans → T1595 / T1046, Patator → T1110, DoS → T1498, C2 → T1071...).
 */
const DEFAULT_TECHNIQUE_IDS: Readonly<Record<string, string>> = {
  TA0043: 'T1595',
  TA0007: 'T1046',
  TA0006: 'T1110',
  TA0011: 'T1071',
  TA0010: 'T1048',
  TA0040: 'T1498',
  TA0001: 'T1190',
  TA0008: 'T1021',
};

export const DEFAULT_TECHNIQUE_BY_TACTIC: Readonly<Record<string, TechniqueGuess[]>> = Object.fromEntries(
  Object.entries(DEFAULT_TECHNIQUE_IDS).map(([tactic, id]) => [
    tactic,
    [{ id, name: technique(id)?.name ?? id, prior: 1 }],
  ]),
);
