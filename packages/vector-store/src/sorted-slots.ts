/**
 * Store slots ordered by (key ascending, then tie-break ascending): the list index for one sort
 * field (tie-break = sequence id, the order the cursor contract pages in) or a range index over
 * IPv4 addresses. Writes only mark slots dirty (O(1), so upserts stay fast); the next read merges
 * them in: drops dirty slots' old positions, sorts the dirty slots and merges the two runs, O(n)
 * plus the sort of what changed.
 */
export class SortedSlots {
  #order = new Int32Array(0);
  #dirty = new Set<number>();

  /**
   * @param key the key column by slot, read at merge time (NaN keys are left out of the index)
   * @param idOf orders slots with equal keys by id (null: by slot number)
   * @param isLive whether a slot holds a point
   * @param slots the live slots at creation
   */
  constructor(
    readonly key: () => Float64Array,
    private readonly idOf: ((slot: number) => string) | null,
    private readonly isLive: (slot: number) => boolean,
    slots: Iterable<number>,
  ) {
    for (const s of slots) this.#dirty.add(s);
  }

  private tieBreak(a: number, b: number): number {
    if (!this.idOf) return a - b;
    const x = this.idOf(a);
    const y = this.idOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  /** The slot's key or liveness changed (insert, update, delete): re-placed on the next read. */
  touch(slot: number): void {
    this.#dirty.add(slot);
  }

  get pending(): number {
    return this.#dirty.size;
  }

  /** The merged order (ascending). Valid until the next touch. */
  order(): Int32Array {
    if (this.#dirty.size > 0) this.#merge();
    return this.#order;
  }

  compare(a: number, b: number): number {
    const k = this.key();
    return (k[a] as number) - (k[b] as number) || this.tieBreak(a, b);
  }

  /**
   * The first position whose entry is after the probe: key > keyValue, or key === keyValue and
   * id > `id`. With id null: the first position with key > keyValue (`orEqual`: key >= keyValue).
   */
  after(keyValue: number, id: string | null, orEqual = false): number {
    const order = this.order();
    const k = this.key();
    const idOf = this.idOf;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = order[mid] as number;
      const ks = k[s] as number;
      let before: boolean;
      if (ks !== keyValue) before = ks < keyValue;
      else if (id === null) before = !orEqual;
      else before = idOf ? idOf(s) <= id : false;
      if (before) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #merge(): void {
    const k = this.key();
    const dirty = this.#dirty;
    const old = this.#order;
    const kept = new Int32Array(old.length);
    let nk = 0;
    for (let i = 0; i < old.length; i++) {
      const s = old[i] as number;
      if (!dirty.has(s)) kept[nk++] = s;
    }
    const add: number[] = [];
    for (const s of dirty) if (this.isLive(s) && !Number.isNaN(k[s] as number)) add.push(s);
    const cmp = (a: number, b: number) => (k[a] as number) - (k[b] as number) || this.tieBreak(a, b);
    const added = Int32Array.from(add).sort(cmp);
    const out = new Int32Array(nk + added.length);
    let i = 0;
    let j = 0;
    let o = 0;
    while (i < nk && j < added.length) {
      const a = kept[i] as number;
      const b = added[j] as number;
      if (cmp(a, b) <= 0) {
        out[o++] = a;
        i++;
      } else {
        out[o++] = b;
        j++;
      }
    }
    while (i < nk) out[o++] = kept[i++] as number;
    while (j < added.length) out[o++] = added[j++] as number;
    this.#order = out;
    dirty.clear();
  }
}
