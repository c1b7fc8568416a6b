import type { DomainStats } from './stats.ts';

const MOD = 0x100000000;
const HALF = 0x80000000;

/**
 * Sequence-number gap accounting per (exporter, domain). `next` is what the following header
 * should carry; a jump forward counts the difference as lost, a jump backward as a reset.
 */
export class SequenceTracker {
  readonly #next = new Map<string, number>();
  readonly #limit: number;

  constructor(limit = 65536) {
    this.#limit = limit;
  }

  /**
   * `seq` from the header; `advance` is how far this datagram moves the counter (1 packet, n flows,
   * n data records), or NaN when unknown (then the next datagram is not checked).
   * Returns the gap (0 when in order, -1 on a reset).
   */
  observe(key: string, seq: number, advance: number): number {
    const expected = this.#next.get(key);
    let gap = 0;
    if (expected !== undefined) {
      const d = (seq - expected + MOD) % MOD;
      if (d !== 0) gap = d < HALF ? d : -1;
    }
    if (Number.isNaN(advance)) this.#next.delete(key);
    else {
      if (expected === undefined && this.#next.size >= this.#limit) this.#next.clear();
      this.#next.set(key, (seq + advance) % MOD);
    }
    return gap;
  }
}

export function recordGap(stats: DomainStats, gap: number, unit: 'datagrams' | 'records'): void {
  if (gap > 0) {
    if (unit === 'datagrams') stats.sequenceLostDatagrams += gap;
    else stats.sequenceLostRecords += gap;
  } else if (gap < 0) stats.sequenceResets++;
}
