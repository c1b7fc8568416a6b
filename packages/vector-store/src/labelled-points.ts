/**
 * The points that carry ground truth (label 0/1: labelled imports, analyst confirmation), kept
 * dense: their slots in one Int32Array and their unit vectors copied into one contiguous matrix
 * (row r is slot `slots[r]`). Explanations ask for the nearest labelled points of every alert;
 * labelled points are usually a small minority, so scanning this matrix (or one GEMM against it
 * for a batch of queries) replaces a pass over the whole store. Memory only: the store maintains
 * it on every upsert, patch and delete, and rebuilds it from the payloads when it replays its log.
 * Removal swaps the last row in (O(1)); row order is therefore arbitrary.
 */
export class LabelledPoints {
  count = 0;
  /** Bumped on every change to the rows (a scan that awaited can tell whether they moved). */
  version = 0;
  slots = new Int32Array(256);
  vectors: Float32Array;
  /** slot → row + 1 (0: not labelled). */
  private rowOf = new Int32Array(1024);

  constructor(readonly dim: number) {
    this.vectors = new Float32Array(256 * dim);
  }

  has(slot: number): boolean {
    return slot < this.rowOf.length && (this.rowOf[slot] as number) > 0;
  }

  /** Adds the slot (or refreshes its vector when present): the unit vector at `v[from, from + dim)`. */
  set(slot: number, v: Float32Array, from = 0): void {
    if (slot >= this.rowOf.length) {
      let n = this.rowOf.length;
      while (n <= slot) n *= 2;
      const g = new Int32Array(n);
      g.set(this.rowOf);
      this.rowOf = g;
    }
    this.version++;
    let row = (this.rowOf[slot] as number) - 1;
    if (row < 0) {
      row = this.count++;
      if (row >= this.slots.length) {
        const s = new Int32Array(this.slots.length * 2);
        s.set(this.slots);
        this.slots = s;
        const m = new Float32Array(this.vectors.length * 2);
        m.set(this.vectors);
        this.vectors = m;
      }
      this.slots[row] = slot;
      this.rowOf[slot] = row + 1;
    }
    const dim = this.dim;
    const m = this.vectors;
    const to = row * dim;
    for (let i = 0; i < dim; i++) m[to + i] = v[from + i] as number;
  }

  remove(slot: number): void {
    if (!this.has(slot)) return;
    this.version++;
    const row = (this.rowOf[slot] as number) - 1;
    const last = --this.count;
    if (row !== last) {
      const moved = this.slots[last] as number;
      this.slots[row] = moved;
      this.rowOf[moved] = row + 1;
      this.vectors.copyWithin(row * this.dim, last * this.dim, (last + 1) * this.dim);
    }
    this.rowOf[slot] = 0;
  }

  /** The labelled slots (a view: valid until the next change). */
  slotList(): Int32Array {
    return this.slots.subarray(0, this.count);
  }
}
