import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (the folder holding pnpm-workspace.yaml). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The shared data folder beside every checkout (`../shared`), or TIDEWATCH_SHARED_DIR.
 * Tests read it in place; its files are never copied into the repository.
 */
export function sharedDir(): string {
  const dir = process.env['TIDEWATCH_SHARED_DIR'] ?? join(REPO_ROOT, '..', 'shared');
  return resolve(dir);
}

export function sharedPath(...parts: string[]): string {
  return join(sharedDir(), ...parts);
}

export function hasShared(): boolean {
  return existsSync(join(sharedDir(), 'testdata'));
}

/** A unique prefix for topics, groups and Redis keys so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export interface ServiceEndpoints {
  kafkaBrokers: string[];
  redisUrl: string;
}

/**
 * Endpoints of the real Kafka and Redis the harness started (scripts/services.sh exports
 * KAFKA_BROKERS and REDIS_URL). Returns null when absent; in CI that is a failure, not a skip.
 */
export function serviceEndpoints(): ServiceEndpoints | null {
  const brokers = process.env['KAFKA_BROKERS'];
  const redisUrl = process.env['REDIS_URL'];
  if (brokers && redisUrl) return { kafkaBrokers: brokers.split(',').map((b) => b.trim()), redisUrl };
  if (process.env['CI'] === 'true') {
    throw new Error('KAFKA_BROKERS and REDIS_URL must be set in CI: the harness did not start Kafka/Redis');
  }
  console.warn(
    '\n!!! KAFKA_BROKERS/REDIS_URL not set: skipping tests that need real Kafka and Redis (run `npm test` to start them) !!!\n',
  );
  return null;
}

/** `it` options that skip, loudly, when the real services are absent outside CI. */
export function needsServices(): { skip: string | false } {
  return serviceEndpoints() ? { skip: false } : { skip: 'Kafka/Redis not running (outside CI only)' };
}

export function needsShared(): { skip: string | false } {
  if (hasShared()) return { skip: false };
  if (process.env['CI'] === 'true') throw new Error(`shared data folder not found at ${sharedDir()}`);
  return { skip: `shared data not found at ${sharedDir()}` };
}

/** Polls until `check` returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
  throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
}

/**
 * Reproducible pseudo-random numbers in [0, 1) (mulberry32) for test and benchmark data: the same
 * seed gives the same sequence on every run and machine (model/bench_inputs.py mirrors it).
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export { freePort } from './ports.ts';
