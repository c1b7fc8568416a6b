import type { Counter, Gauge, ServiceMetrics } from '@tidewatch/observability';

type LagSource = () => Promise<{ topic: string; partition: number; lag: number }[]>;

/**
 * What every bus user exports: messages in, out, dead-lettered (by error class) and retried
 * batches, by topic, plus consumer lag per topic read at scrape time.
 * `tidewatch_<service>_bus_consumed_messages_total{topic}` and so on.
 */
export class BusMetrics {
  readonly consumed: Counter<'topic'>;
  readonly produced: Counter<'topic'>;
  readonly deadLettered: Counter<'topic' | 'error'>;
  readonly retried: Counter<'topic'>;
  readonly lag: Gauge<'topic'>;
  readonly #lagSources = new Set<LagSource>();

  private constructor(metrics: ServiceMetrics) {
    this.consumed = metrics.counter({
      what: 'bus_consumed',
      unit: 'messages',
      help: 'Messages handled by consumers (committed or ready to commit), by topic.',
      labelNames: ['topic'],
    });
    this.produced = metrics.counter({
      what: 'bus_produced',
      unit: 'messages',
      help: 'Messages written by producers, by topic.',
      labelNames: ['topic'],
    });
    this.deadLettered = metrics.counter({
      what: 'bus_dead_lettered',
      unit: 'messages',
      help: 'Messages sent to <topic>.dlq, by original topic and error class.',
      labelNames: ['topic', 'error'],
    });
    this.retried = metrics.counter({
      what: 'bus_retried',
      unit: 'batches',
      help: 'Batch attempts that failed and were retried without committing, by topic.',
      labelNames: ['topic'],
    });
    const sources = this.#lagSources;
    const lag: Gauge<'topic'> = metrics.gauge({
      what: 'bus_consumer_lag',
      unit: 'messages',
      help: 'Messages behind the end of the log for the running consumers, by topic.',
      labelNames: ['topic'],
      collect: async () => {
        const totals = new Map<string, number>();
        for (const source of sources) {
          try {
            for (const p of await source()) totals.set(p.topic, (totals.get(p.topic) ?? 0) + p.lag);
          } catch {
            // A scrape while the broker is unreachable: the previous values stay.
          }
        }
        for (const [topic, value] of totals) lag.set({ topic }, value);
      },
    });
    this.lag = lag;
  }

  static readonly #byRegistry = new WeakMap<ServiceMetrics, BusMetrics>();

  /** One set per ServiceMetrics, shared by every bus of the process. */
  static for(metrics: ServiceMetrics): BusMetrics {
    let bus = BusMetrics.#byRegistry.get(metrics);
    if (!bus) {
      bus = new BusMetrics(metrics);
      BusMetrics.#byRegistry.set(metrics, bus);
    }
    return bus;
  }

  /** Counts a running consumer's lag at scrape time; returns the function that stops counting it. */
  trackLag(source: LagSource): () => void {
    this.#lagSources.add(source);
    return () => this.#lagSources.delete(source);
  }
}
