import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Sequence } from '@tidewatch/contracts';
import type { SubScores } from '../src/index.ts';

/** The sub-scores of features.v1 and subscores.v2 (no reflection), and of v3 onwards. */
export const FOUR = ['beacon', 'scan', 'brute_force', 'exfiltration'] as const;
export const FIVE = [...FOUR, 'reflection'] as const;
export type Four = Omit<SubScores, 'reflection'>;

/** Equal within float tolerance: the Python twin writes the golden values. */
export const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-12, `${what}: ${a} vs ${b}`);

/** A golden file of spec/ written by model/golden_features.py: the spec's hash and its cases. */
export function readGolden<Expected>(file: string): {
  sub_score_spec_hash: string;
  cases: { name: string; sequence: Sequence; expected: Expected }[];
} {
  return JSON.parse(readFileSync(new URL(`../spec/${file}`, import.meta.url), 'utf8'));
}
