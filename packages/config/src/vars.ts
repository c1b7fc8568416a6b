import { z } from 'zod';

/*
 * Schemas for one environment variable each. Input is the raw string (or undefined when unset);
 * `error` texts say what was expected — loadConfig adds the variable name and what it got.
 */

const PORT = 'expected an integer 0-65535';

/** A TCP/UDP port; 0 means "disabled" (UDP listeners) or "any free port" (tests). */
export function port(fallback?: number) {
  const schema = z
    .string({ error: PORT })
    .trim()
    .regex(/^\d{1,5}$/, { error: PORT })
    .transform(Number)
    .refine((n) => n <= 65_535, { error: PORT });
  return fallback === undefined ? schema : schema.default(fallback);
}

/** The range in an `expected` text; an infinite max reads `>= min`. */
function range(min: number, max: number): string {
  return max === Number.POSITIVE_INFINITY ? `>= ${min}` : `${min}-${max}`;
}

/** An integer in [min, max]; `max` may be Infinity (message: `expected an integer >= 1`). */
export function integer(min: number, max: number, fallback?: number) {
  const expected = `expected an integer ${range(min, max)}`;
  const schema = z
    .string({ error: expected })
    .trim()
    .regex(/^-?\d+$/, { error: expected })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: expected });
  return fallback === undefined ? schema : schema.default(fallback);
}

/** A finite number in [min, max]; either bound may be infinite. */
export function number(min: number, max: number, fallback?: number) {
  const expected =
    min === Number.NEGATIVE_INFINITY && max === Number.POSITIVE_INFINITY
      ? 'expected a number'
      : `expected a number ${range(min, max)}`;
  const schema = z
    .string({ error: expected })
    .trim()
    .regex(/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i, { error: expected })
    .transform(Number)
    .refine((n) => Number.isFinite(n) && n >= min && n <= max, { error: expected });
  return fallback === undefined ? schema : schema.default(fallback);
}

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  '1': true,
  yes: true,
  false: false,
  '0': false,
  no: false,
};

export function boolean(fallback?: boolean) {
  const expected = 'expected true or false (or 1/0, yes/no)';
  const schema = z
    .string({ error: expected })
    .transform((s) => BOOLEAN_WORDS[s.trim().toLowerCase()])
    .refine((b) => b !== undefined, { error: expected })
    .transform((b) => b as boolean);
  return fallback === undefined ? schema : schema.default(fallback);
}

/** Exactly 1, 0, true or false (case-sensitive, no yes/no): for switches that never took more. */
export function flag(fallback?: boolean) {
  const expected = 'expected 1, 0, true or false';
  const schema = z
    .string({ error: expected })
    .refine((s) => s === '1' || s === '0' || s === 'true' || s === 'false', { error: expected })
    .transform((s) => s === '1' || s === 'true');
  return fallback === undefined ? schema : schema.default(fallback);
}

export function text(fallback?: string) {
  const schema = z.string({ error: 'expected a value' }).min(1, { error: 'expected a non-empty value' });
  return fallback === undefined ? schema : schema.default(fallback);
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, fallback?: T[number]) {
  const expected = `expected one of ${values.join(', ')}`;
  const schema = z.enum(values, { error: expected });
  return fallback === undefined ? schema : schema.default(fallback as never);
}

/** The items of a comma-separated value, each trimmed, empty ones dropped. */
function commaItems(s: string): string[] {
  return s
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A comma-separated list of free-form items, each trimmed, empty items dropped; unset is []. */
export function list() {
  return z.string({ error: 'expected a comma-separated list' }).transform(commaItems).default([]);
}

/**
 * A comma-separated subset of `values` (each trimmed, repeats dropped), or `none` for the empty set;
 * unset is `fallback`.
 */
export function subsetOf<const T extends readonly [string, ...string[]]>(
  values: T,
  fallback: readonly T[number][],
) {
  const expected = `expected a comma-separated list of ${values.join(', ')}, or none`;
  const known: readonly string[] = values;
  return z
    .string({ error: expected })
    .transform(commaItems)
    .refine(
      (items) =>
        (items.length === 1 && items[0] === 'none') ||
        (items.length > 0 && items.every((i) => known.includes(i))),
      { error: expected },
    )
    .transform((items) => (items[0] === 'none' ? [] : [...new Set(items)]) as T[number][])
    .default([...fallback] as T[number][]);
}

/**
 * Comma-separated `name=number` pairs, each name one of `values` (once) and each number within
 * [min, max] (e.g. `beacon=0.9,scan=0.85`); unset or `none` is no pair.
 */
export function numbersFor<const T extends readonly [string, ...string[]]>(
  values: T,
  min: number,
  max: number,
) {
  const expected = `expected comma-separated name=number pairs, names among ${values.join(', ')}, numbers ${min}-${max}`;
  const known: readonly string[] = values;
  return z
    .string({ error: expected })
    .transform(commaItems)
    .refine(
      (items) =>
        (items.length === 1 && items[0] === 'none') ||
        (items.length > 0 &&
          new Set(items.map((i) => i.split('=')[0]?.trim())).size === items.length &&
          items.every((i) => {
            const m = /^([a-z_]+)\s*=\s*(\S+)$/.exec(i);
            const n = m ? Number(m[2]) : Number.NaN;
            return m !== null && known.includes(m[1] as string) && Number.isFinite(n) && n >= min && n <= max;
          })),
      { error: expected },
    )
    .transform((items) => {
      const out: Record<string, number> = {};
      if (items[0] === 'none') return out;
      for (const i of items) {
        const [name, value] = i.split('=') as [string, string];
        out[name.trim()] = Number(value.trim());
      }
      return out;
    })
    .default({} as Record<string, number>);
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** A comma-separated host:port list (KAFKA_BROKERS). */
export function hostPortList(fallback?: string[]) {
  const expected = 'expected a comma-separated list of host:port';
  const schema = z
    .string({ error: expected })
    .transform((s) =>
      s
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    )
    .refine((list) => list.length > 0 && list.every((b) => HOST_PORT.test(b)), { error: expected });
  return fallback === undefined ? schema : schema.default(fallback);
}

/** A URL with one of the given schemes (e.g. redis:, rediss:). */
export function url(protocols: readonly string[], fallback?: string) {
  const expected = `expected a ${protocols.map((p) => `${p}//`).join(' or ')} URL`;
  const schema = z.string({ error: expected }).refine(
    (s) => {
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    },
    { error: expected },
  );
  return fallback === undefined ? schema : schema.default(fallback);
}

/** A secret (API key, password): at least `minLength` characters; masked in logs by its name. */
export function secret(minLength = 16) {
  return z.string({ error: `expected a secret of at least ${minLength} characters` }).min(minLength, {
    error: `expected a secret of at least ${minLength} characters`,
  });
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The runtime names every service honours (DESIGN.md), with their defaults. Services compose
 * their schema from these: `z.object({ TIDEWATCH_HTTP_PORT: RUNTIME_VARS.TIDEWATCH_HTTP_PORT, ... })`.
 * Infrastructure URLs are optional here: absent means the embedded/one-process backend.
 */
export const RUNTIME_VARS = {
  TIDEWATCH_HTTP_PORT: port(8080),
  TIDEWATCH_DATA_DIR: text('./data'),
  /** Bootstrap admin API key; also read from TIDEWATCH_ADMIN_KEY_FILE (see loadConfig). */
  TIDEWATCH_ADMIN_KEY: secret(16).optional(),
  TIDEWATCH_NETFLOW_PORT: port(2055),
  TIDEWATCH_IPFIX_PORT: port(4739),
  TIDEWATCH_SFLOW_PORT: port(6343),
  KAFKA_BROKERS: hostPortList().optional(),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  QDRANT_URL: url(['http:', 'https:']).optional(),
  SCHEMA_REGISTRY_URL: url(['http:', 'https:']).optional(),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
} as const;

export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/**
 * How services reach a secured Kafka (beside KAFKA_BROKERS). SASL needs all three SASL variables;
 * createMessageBus (@tidewatch/bus) reports the one that is missing.
 */
export const KAFKA_VARS = {
  KAFKA_CLIENT_ID: text().optional(),
  KAFKA_TLS: boolean(false),
  /** PEM file of the CA that signed the brokers' certificates (default: the system CAs). */
  KAFKA_TLS_CA_FILE: text().optional(),
  KAFKA_SASL_MECHANISM: oneOf(KAFKA_SASL_MECHANISMS).optional(),
  KAFKA_SASL_USERNAME: text().optional(),
  KAFKA_SASL_PASSWORD: secret(1).optional(),
} as const;
