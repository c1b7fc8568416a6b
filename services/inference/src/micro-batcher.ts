/**
 * Coalesces work from concurrent callers (e.g. partitions handled in parallel) into runs of at most
 * `maxSize` items. A run starts when `maxSize` items are waiting or `maxWaitMs` after the first
 * waiting item; each caller's promise resolves with the results of its own items, in order.
 * A run starts as soon as it is cut, without waiting for the previous run to finish: the model
 * (on its worker thread) queues runs and executes them one at a time, and meanwhile this thread
 * prepares the next run and stores the previous one.
 */
export class MicroBatcher<I, O> {
  private pending: { items: I[]; resolve: (o: O[]) => void; reject: (e: unknown) => void }[] = [];
  private pendingCount = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly maxSize: number,
    private readonly maxWaitMs: number,
  ) {}

  submit(items: I[]): Promise<O[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<O[]>((resolve, reject) => {
      this.pending.push({ items, resolve, reject });
      this.pendingCount += items.length;
      if (this.pendingCount >= this.maxSize || this.maxWaitMs === 0) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const callers = this.pending;
    this.pending = [];
    this.pendingCount = 0;
    if (callers.length === 0) return;
    const all = callers.flatMap((c) => c.items);
    const runs: Promise<O[]>[] = [];
    for (let i = 0; i < all.length; i += this.maxSize) runs.push(this.start(all.slice(i, i + this.maxSize)));
    Promise.all(runs).then(
      (parts) => {
        const out = parts.flat();
        let at = 0;
        for (const c of callers) {
          c.resolve(out.slice(at, at + c.items.length));
          at += c.items.length;
        }
      },
      (e: unknown) => {
        for (const c of callers) c.reject(e);
      },
    );
  }

  /** Calls `run` now; a synchronous throw becomes a rejection. */
  private start(items: I[]): Promise<O[]> {
    try {
      return this.run(items);
    } catch (e) {
      return Promise.reject(e);
    }
  }
}
