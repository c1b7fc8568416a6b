import { Counter, collectDefaultMetrics, Gauge, Histogram, type LabelValues, Registry } from 'prom-client';

const SEGMENT = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
/** Labels whose values are unbounded: one series per address would blow up Prometheus. */
const UNBOUNDED_LABELS = /(^|_)(ip|ips|addr|address|src|dst|host|key|id|sequence_id|user)$/;

export class MetricNameError extends Error {
  override name = 'MetricNameError';
}

/**
 * `tidewatch_<service>_<what>_<unit>`: lowercase snake case segments; counters get `_total`.
 * Throws MetricNameError for anything else.
 */
export function metricName(service: string, what: string, unit: string, kind?: 'counter'): string {
  for (const [part, value] of [
    ['service', service],
    ['what', what],
    ['unit', unit],
  ] as const) {
    if (!SEGMENT.test(value))
      throw new MetricNameError(`metric ${part} "${value}" is not lowercase snake_case`);
  }
  if (unit === 'total')
    throw new MetricNameError('name the unit (e.g. "messages"); counters get _total added');
  const name = `tidewatch_${service}_${what}_${unit}`;
  return kind === 'counter' ? `${name}_total` : name;
}

function checkLabels(name: string, labelNames: readonly string[]): void {
  for (const label of labelNames) {
    if (UNBOUNDED_LABELS.test(label)) {
      throw new MetricNameError(`${name}: label "${label}" is unbounded (never label by address or id)`);
    }
  }
}

export interface MetricSpec<L extends string> {
  what: string;
  unit: string;
  help: string;
  labelNames?: readonly L[];
}

/**
 * The metrics of one service: its own prom-client Registry (one per process in production; tests
 * build as many apps as they like) and factories that enforce the naming convention.
 */
export class ServiceMetrics {
  readonly registry = new Registry();

  constructor(
    readonly service: string,
    options: { defaultMetrics?: boolean } = {},
  ) {
    metricName(service, 'x', 'x');
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  counter<L extends string = never>(spec: MetricSpec<L>): Counter<L> {
    const name = metricName(this.service, spec.what, spec.unit, 'counter');
    checkLabels(name, spec.labelNames ?? []);
    return new Counter<L>({
      name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
    });
  }

  gauge<L extends string = never>(spec: MetricSpec<L> & { collect?: () => void | Promise<void> }): Gauge<L> {
    const name = metricName(this.service, spec.what, spec.unit);
    checkLabels(name, spec.labelNames ?? []);
    return new Gauge<L>({
      name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      ...(spec.collect ? { collect: spec.collect } : {}),
    });
  }

  histogram<L extends string = never>(spec: MetricSpec<L> & { buckets?: number[] }): Histogram<L> {
    const name = metricName(this.service, spec.what, spec.unit);
    checkLabels(name, spec.labelNames ?? []);
    return new Histogram<L>({
      name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      ...(spec.buckets ? { buckets: spec.buckets } : {}),
    });
  }

  /** The text exposition format served on /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

export type { Counter, Gauge, Histogram, LabelValues, Registry };
