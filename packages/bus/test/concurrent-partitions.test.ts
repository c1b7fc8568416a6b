import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachConcurrently } from '../src/concurrent-partitions.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('forEachConcurrently', () => {
  it('runs at most `limit` at once and every item once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    const ok = await forEachConcurrently([1, 2, 3, 4, 5], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      for (let i = 0; i < n; i++) await tick();
      running--;
      done.push(n);
      return true;
    });
    assert.equal(ok, true);
    assert.equal(most, 2);
    assert.deepEqual([...done].sort(), [1, 2, 3, 4, 5]);
  });

  it('starts nothing after a false and resolves only once the running one settled', async () => {
    const started: number[] = [];
    let slowEnded = false;
    const ok = await forEachConcurrently([1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      if (n === 1) {
        for (let i = 0; i < 5; i++) await tick();
        slowEnded = true;
        return true;
      }
      return false;
    });
    assert.equal(ok, false);
    assert.deepEqual(started, [1, 2]);
    assert.equal(slowEnded, true);
  });

  it('rethrows the first error after every started call settled', async () => {
    let slowEnded = false;
    await assert.rejects(
      forEachConcurrently(['slow', 'bad', 'never'], 2, async (x) => {
        if (x === 'bad') throw new Error('fetch of partition 1 failed');
        if (x === 'never') assert.fail('started after an error');
        for (let i = 0; i < 5; i++) await tick();
        slowEnded = true;
        return true;
      }),
      /fetch of partition 1 failed/,
    );
    assert.equal(slowEnded, true);
  });

  it('is sequential in order with a limit of 1', async () => {
    const order: number[] = [];
    await forEachConcurrently([3, 1, 2], 1, async (n) => {
      order.push(n);
      await tick();
      return true;
    });
    assert.deepEqual(order, [3, 1, 2]);
  });
});
