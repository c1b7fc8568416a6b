import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

/**
 * Keyed JSON documents grouped in collections: the one primitive every query-api store (API keys,
 * cases, feedback, device types, webhooks and deliveries, settings, evidence) is built on. Two
 * backends pass one contract suite: RedisDocumentStore (production) and EmbeddedDocumentStore
 * (an append-only JSON-lines log per collection under TIDEWATCH_DATA_DIR, the one-process mode).
 */
export interface DocumentStore {
  get<T>(collection: string, id: string): Promise<T | null>;
  getMany<T>(collection: string, ids: string[]): Promise<(T | null)[]>;
  put<T>(collection: string, id: string, doc: T): Promise<void>;
  /** Writes only when the id is absent; true when written. */
  putIfAbsent<T>(collection: string, id: string, doc: T): Promise<boolean>;
  delete(collection: string, id: string): Promise<boolean>;
  /** Every document of a collection, in id order. */
  list<T>(collection: string): Promise<T[]>;
  count(collection: string): Promise<number>;
  close(): Promise<void>;
}

export class RedisDocumentStore implements DocumentStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  #key(collection: string): string {
    return `${this.prefix}:doc:${collection}`;
  }

  async get<T>(collection: string, id: string): Promise<T | null> {
    const raw = await this.redis.hget(this.#key(collection), id);
    return raw === null ? null : (JSON.parse(raw) as T);
  }

  async getMany<T>(collection: string, ids: string[]): Promise<(T | null)[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.hmget(this.#key(collection), ...ids);
    return raws.map((r) => (r === null ? null : (JSON.parse(r) as T)));
  }

  async put<T>(collection: string, id: string, doc: T): Promise<void> {
    await this.redis.hset(this.#key(collection), id, JSON.stringify(doc));
  }

  async putIfAbsent<T>(collection: string, id: string, doc: T): Promise<boolean> {
    return (await this.redis.hsetnx(this.#key(collection), id, JSON.stringify(doc))) === 1;
  }

  async delete(collection: string, id: string): Promise<boolean> {
    return (await this.redis.hdel(this.#key(collection), id)) === 1;
  }

  async list<T>(collection: string): Promise<T[]> {
    const all = await this.redis.hgetall(this.#key(collection));
    return Object.keys(all)
      .sort()
      .map((k) => JSON.parse(all[k] as string) as T);
  }

  async count(collection: string): Promise<number> {
    return this.redis.hlen(this.#key(collection));
  }

  async close(): Promise<void> {}
}

interface LogLine {
  id: string;
  doc?: unknown;
  deleted?: true;
}

/**
 * One append-only log file per collection (`<dir>/<collection>.jsonl`), replayed into memory on
 * first use and compacted when the log holds more than twice the live documents. Writes are
 * serialised per collection so the log order is the write order.
 */
export class EmbeddedDocumentStore implements DocumentStore {
  readonly #collections = new Map<string, Promise<Map<string, unknown>>>();
  readonly #tails = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {}

  #file(collection: string): string {
    if (!/^[a-z0-9_-]+$/i.test(collection)) throw new Error(`invalid collection name "${collection}"`);
    return join(this.dir, `${collection}.jsonl`);
  }

  #open(collection: string): Promise<Map<string, unknown>> {
    let m = this.#collections.get(collection);
    if (!m) {
      m = this.#load(collection);
      this.#collections.set(collection, m);
    }
    return m;
  }

  async #load(collection: string): Promise<Map<string, unknown>> {
    await mkdir(this.dir, { recursive: true });
    const map = new Map<string, unknown>();
    let text = '';
    try {
      text = await readFile(this.#file(collection), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    let lines = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      lines++;
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue; // a torn last line after a crash: the write it held was never acknowledged
      }
      if (parsed.deleted) map.delete(parsed.id);
      else map.set(parsed.id, parsed.doc);
    }
    if (lines > 2 * map.size + 100) await this.#compact(collection, map);
    return map;
  }

  async #compact(collection: string, map: Map<string, unknown>): Promise<void> {
    const tmp = `${this.#file(collection)}.tmp`;
    const body = [...map].map(([id, doc]) => JSON.stringify({ id, doc })).join('\n');
    await writeFile(tmp, body ? `${body}\n` : '');
    await rename(tmp, this.#file(collection));
  }

  #append(collection: string, line: LogLine): Promise<void> {
    const prev = this.#tails.get(collection) ?? Promise.resolve();
    const next = prev.then(() => appendFile(this.#file(collection), `${JSON.stringify(line)}\n`));
    this.#tails.set(
      collection,
      next.catch(() => {}),
    );
    return next;
  }

  async get<T>(collection: string, id: string): Promise<T | null> {
    const m = await this.#open(collection);
    const doc = m.get(id);
    return doc === undefined ? null : (structuredClone(doc) as T);
  }

  async getMany<T>(collection: string, ids: string[]): Promise<(T | null)[]> {
    const m = await this.#open(collection);
    return ids.map((id) => {
      const doc = m.get(id);
      return doc === undefined ? null : (structuredClone(doc) as T);
    });
  }

  async put<T>(collection: string, id: string, doc: T): Promise<void> {
    const m = await this.#open(collection);
    const copy = structuredClone(doc);
    m.set(id, copy);
    await this.#append(collection, { id, doc: copy });
  }

  async putIfAbsent<T>(collection: string, id: string, doc: T): Promise<boolean> {
    const m = await this.#open(collection);
    if (m.has(id)) return false;
    const copy = structuredClone(doc);
    m.set(id, copy);
    await this.#append(collection, { id, doc: copy });
    return true;
  }

  async delete(collection: string, id: string): Promise<boolean> {
    const m = await this.#open(collection);
    if (!m.delete(id)) return false;
    await this.#append(collection, { id, deleted: true });
    return true;
  }

  async list<T>(collection: string): Promise<T[]> {
    const m = await this.#open(collection);
    return [...m.keys()].sort().map((k) => structuredClone(m.get(k)) as T);
  }

  async count(collection: string): Promise<number> {
    return (await this.#open(collection)).size;
  }

  async close(): Promise<void> {
    await Promise.all(this.#tails.values());
  }
}
