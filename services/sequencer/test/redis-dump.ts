import type { Redis } from 'ioredis';

/**
 * Every key under `prefix` (prefix cut off) with its type, value (hashes as sorted field lists,
 * anything else as base64 bytes, so HyperLogLogs compare byte for byte) and whether it expires:
 * what two script versions must leave identical.
 */
export async function dumpKeys(redis: Redis, prefix: string): Promise<Map<string, unknown>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  const out = new Map<string, unknown>();
  for (const key of keys.sort()) {
    const type = await redis.type(key);
    const ttl = await redis.ttl(key);
    const value =
      type === 'hash'
        ? Object.entries(await redis.hgetall(key)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        : (await redis.getBuffer(key))?.toString('base64');
    out.set(key.slice(prefix.length), { type, expires: ttl > 0, value });
  }
  return out;
}
