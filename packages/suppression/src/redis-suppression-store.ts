import type { Redis } from 'ioredis';
import type { SuppressionRule, SuppressionStore } from './rules.ts';

/** Rules in one Redis hash `<namespace>:doc:suppressions` (id → JSON), the query API's layout. */
export class RedisSuppressionStore implements SuppressionStore {
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    namespace: string,
  ) {
    this.key = `${namespace}:doc:suppressions`;
  }

  async list(): Promise<SuppressionRule[]> {
    const all = await this.redis.hgetall(this.key);
    return Object.keys(all)
      .sort()
      .map((k) => JSON.parse(all[k] as string) as SuppressionRule);
  }

  async get(id: string): Promise<SuppressionRule | null> {
    const raw = await this.redis.hget(this.key, id);
    return raw === null ? null : (JSON.parse(raw) as SuppressionRule);
  }

  async put(rule: SuppressionRule): Promise<void> {
    await this.redis.hset(this.key, rule.id, JSON.stringify(rule));
  }

  async delete(id: string): Promise<boolean> {
    return (await this.redis.hdel(this.key, id)) === 1;
  }

  async close(): Promise<void> {}
}
