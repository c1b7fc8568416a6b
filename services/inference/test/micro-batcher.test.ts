import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MicroBatcher } from '../src/index.ts';

describe('MicroBatcher', () => {
  it('coalesces concurrent callers into runs of at most maxSize and returns each its own results in order', async () => {
    const runs: number[][] = [];
    const b = new MicroBatcher<number, string>(
      async (xs) => {
        runs.push(xs);
        return xs.map((x) => `r${x}`);
      },
      4,
      50,
    );
    const [a, c, d] = await Promise.all([b.submit([1, 2]), b.submit([3]), b.submit([4, 5, 6])]);
    assert.deepEqual(a, ['r1', 'r2']);
    assert.deepEqual(c, ['r3']);
    assert.deepEqual(d, ['r4', 'r5', 'r6']);
    assert.deepEqual(runs, [
      [1, 2, 3, 4],
      [5, 6],
    ]);
  });

  it('runs a partial batch after maxWaitMs, or at once with 0', async () => {
    const runs: number[][] = [];
    const run = async (xs: number[]) => {
      runs.push(xs);
      return xs;
    };
    const waiting = new MicroBatcher<number, number>(run, 100, 10);
    assert.deepEqual(await waiting.submit([7]), [7]);
    const immediate = new MicroBatcher<number, number>(run, 100, 0);
    const p1 = immediate.submit([8]);
    const p2 = immediate.submit([9]);
    assert.deepEqual([await p1, await p2], [[8], [9]]);
    assert.deepEqual(runs, [[7], [8], [9]]);
  });

  it('rejects every caller of a failed run and keeps working', async () => {
    let fail = true;
    const b = new MicroBatcher<number, number>(
      async (xs) => {
        if (fail) throw new Error('model failed');
        return xs;
      },
      10,
      5,
    );
    const r = await Promise.allSettled([b.submit([1]), b.submit([2])]);
    assert.deepEqual(
      r.map((x) => x.status),
      ['rejected', 'rejected'],
    );
    fail = false;
    assert.deepEqual(await b.submit([3]), [3]);
  });
});
