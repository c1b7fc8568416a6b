import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AttackCandidate } from '@tidewatch/contracts';
import { round6, techniqueCandidates, techniqueTable } from '../src/index.ts';

type Table = Parameters<typeof techniqueCandidates>[1];

/** The previous formulation (finding-builder.ts before this change): a Map keyed by technique id. */
function reference(tactics: AttackCandidate[], table: Table): AttackCandidate[] {
  if (tactics.length === 0) return [];
  const best = new Map<string, AttackCandidate>();
  for (const t of tactics) {
    for (const g of table[t.id] ?? []) {
      const p = round6(t.probability * g.prior);
      const cur = best.get(g.id);
      if (!cur || cur.probability < p) best.set(g.id, { id: g.id, name: g.name, probability: p });
    }
  }
  return [...best.values()].sort((a, b) => b.probability - a.probability);
}

describe('techniqueCandidates', () => {
  it('equals the Map formulation on the default table and on random tables with shared ids and ties', () => {
    let x = 7;
    // A linear congruential draw: only the mix of cases matters (@tidewatch/testing is not a dependency).
    const rand = () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x / 2 ** 32;
    };
    const defaults = techniqueTable({} as Parameters<typeof techniqueTable>[0]);
    const tacticIds = Object.keys(defaults);
    assert.ok(tacticIds.length > 3);
    let nonEmpty = 0;
    for (let n = 0; n < 3000; n++) {
      const random: Table = {};
      for (const id of tacticIds) {
        random[id] = Array.from({ length: Math.floor(rand() * 4) }, () => {
          const k = Math.floor(rand() * 6);
          // Priors from a small set, so that products tie and a later, higher guess replaces one.
          return {
            id: `T${k}`,
            name: `technique ${k}`,
            prior: [0.25, 0.5, 1][Math.floor(rand() * 3)] as number,
          };
        });
      }
      const tactics = Array.from({ length: Math.floor(rand() * 5) }, () => ({
        id: n % 7 === 0 ? 'TA-unknown' : (tacticIds[Math.floor(rand() * tacticIds.length)] as string),
        name: 'tactic',
        probability: [0.2, 0.4, 0.8, rand()][Math.floor(rand() * 4)] as number,
      }));
      for (const table of [defaults, random]) {
        const got = techniqueCandidates(tactics, table);
        assert.deepEqual(got, reference(tactics, table), `case ${n}`);
        if (got.length > 1) nonEmpty++;
      }
    }
    assert.ok(nonEmpty > 1000, `${nonEmpty} cases with several candidates`);
  });
});
