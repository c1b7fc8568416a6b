import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, ApiKeyStore, Scope } from './stores/domain.ts';

export interface Principal {
  keyId: string;
  name: string;
  scopes: Scope[];
}

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

/** Scopes are hierarchical: admin implies write implies read. */
export function hasScope(principal: Principal, needed: Scope): boolean {
  return principal.scopes.some((s) => RANK[s] >= RANK[needed]);
}

function digest(salt: string, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret).digest();
}

/**
 * API keys look like `tw_<id>_<secret>`: the id finds the record, the secret is checked against a
 * salted sha256 with a constant-time compare (the secret carries 192 random bits, so a slow KDF
 * adds nothing but latency). Verified records are cached briefly; revocation shows within the TTL.
 */
export class ApiKeyService {
  readonly #cache = new Map<string, { record: ApiKeyRecord | null; at: number }>();
  readonly #admin: { salt: string; hash: Buffer } | null;

  constructor(
    private readonly store: ApiKeyStore,
    adminKey: string | null,
    private readonly cacheTtlMs = 5_000,
  ) {
    if (adminKey) {
      const salt = randomBytes(16).toString('hex');
      this.#admin = { salt, hash: digest(salt, adminKey) };
    } else this.#admin = null;
  }

  async create(name: string, scopes: Scope[]): Promise<{ key: string; record: ApiKeyRecord }> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const salt = randomBytes(16).toString('hex');
    const record: ApiKeyRecord = {
      id,
      name,
      scopes,
      salt,
      hash: digest(salt, secret).toString('hex'),
      created_at_ms: Date.now(),
      revoked_at_ms: null,
    };
    await this.store.put(record);
    return { key: `tw_${id}_${secret}`, record };
  }

  async revoke(id: string): Promise<ApiKeyRecord | null> {
    const record = await this.store.get(id);
    if (!record) return null;
    record.revoked_at_ms ??= Date.now();
    await this.store.put(record);
    this.#cache.delete(id);
    return record;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.store.list();
  }

  async authenticate(presented: string): Promise<Principal | null> {
    if (this.#admin && timingSafeEqual(digest(this.#admin.salt, presented), this.#admin.hash))
      return { keyId: 'bootstrap-admin', name: 'bootstrap admin', scopes: ['admin'] };
    const m = /^tw_([0-9a-f]{16})_([A-Za-z0-9_-]{32})$/.exec(presented);
    if (!m) return null;
    const id = m[1] as string;
    const record = await this.#record(id);
    if (!record || record.revoked_at_ms !== null) return null;
    const expected = Buffer.from(record.hash, 'hex');
    const actual = digest(record.salt, m[2] as string);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
    return { keyId: record.id, name: record.name, scopes: record.scopes };
  }

  async #record(id: string): Promise<ApiKeyRecord | null> {
    const hit = this.#cache.get(id);
    if (hit && Date.now() - hit.at < this.cacheTtlMs) return hit.record;
    const record = await this.store.get(id);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(id, { record, at: Date.now() });
    return record;
  }
}
