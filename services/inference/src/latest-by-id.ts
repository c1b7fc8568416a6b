import type { Sequence } from '@tidewatch/contracts';

/** Open-addressing table of indexes + 1 into the output (0 = empty), reused from batch to batch. */
let slots = new Int32Array(4096);

/**
 * The indexes of the first `count` `ids` with each id once: at the position of its first occurrence, the index of its
 * last occurrence (a replay inside one consumer batch: the later message wins, the point is written
 * once). What a Map keyed by id and spread from its values gave, without the Map's growing tables
 * and its iterator per batch.
 */
export function latestIndexById(ids: readonly string[], count = ids.length): number[] {
  const out: number[] = [];
  let size = slots.length;
  while (size < 2 * count) size *= 2;
  if (size !== slots.length) slots = new Int32Array(size);
  else slots.fill(0);
  const mask = size - 1;
  for (let i = 0; i < count; i++) {
    const id = ids[i] as string;
    // The last (at most) 12 characters and the length: the random tail of a UUID, the counter of
    // a serial id. Equal ids hash alike whatever is left out; other ids only cost a probe.
    let h = 0x811c9dc5 ^ id.length;
    for (let c = Math.max(0, id.length - 12); c < id.length; c++)
      h = Math.imul(h ^ id.charCodeAt(c), 0x01000193);
    let at = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const j = slots[at] as number;
      if (j === 0) {
        out.push(i);
        slots[at] = out.length;
        break;
      }
      if (ids[out[j - 1] as number] === id) {
        out[j - 1] = i;
        break;
      }
      at = (at + 1) & mask;
    }
  }
  return out;
}

/** `seqs` with each sequence id once, as `latestIndexById` picks them. */
export function latestById(seqs: readonly Sequence[]): Sequence[] {
  return latestIndexById(seqs.map((s) => s.sequence_id)).map((i) => seqs[i] as Sequence);
}
