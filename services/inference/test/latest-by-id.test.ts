import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sequence } from '@tidewatch/contracts';
import { latestById } from '../src/latest-by-id.ts';

/** The previous formulation (app.ts before this change). */
function reference(seqs: Sequence[]): Sequence[] {
  const byId = new Map<string, Sequence>();
  for (const s of seqs) byId.set(s.sequence_id, s);
  return [...byId.values()];
}

let x = 3;
const rand = () => {
  x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  return x / 2 ** 32;
};

describe('latestById', () => {
  it('keeps the first position and the last occurrence of each id, as a Map keyed by id did', () => {
    for (let round = 0; round < 400; round++) {
      const n = round < 5 ? round : Math.floor(rand() * (rand() < 0.2 ? 9000 : 600));
      // Few distinct ids in some rounds (many replays), all distinct in others; ids of any length incl. ''.
      const distinct = 1 + Math.floor(rand() * (rand() < 0.5 ? 5 : 2 * n + 1));
      const seqs = Array.from(
        { length: n },
        (_, i) =>
          ({
            sequence_id: `${'é'.repeat(Math.floor(rand() * 3))}${Math.floor(rand() * distinct)}`.slice(
              0,
              Math.floor(rand() * 12),
            ),
            part: i,
          }) as unknown as Sequence,
      );
      const got = latestById(seqs);
      const want = reference(seqs);
      assert.equal(got.length, want.length, `round ${round}`);
      for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `round ${round} item ${i}`);
    }
  });
});
