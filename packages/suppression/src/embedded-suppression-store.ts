import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SuppressionRule, SuppressionStore } from './rules.ts';

interface LogLine {
  id: string;
  doc?: SuppressionRule;
  deleted?: true;
}

/**
 * Rules in `<dir>/suppressions.jsonl`, the query API's embedded document log (`{id, doc}` or
 * `{id, deleted: true}` per line, last write wins). Another process (or another store instance in
 * the one-process mode) may append to it, so reads re-parse the file whenever its size or mtime
 * changed. Writes append one line.
 */
export class EmbeddedSuppressionStore implements SuppressionStore {
  readonly file: string;
  private cache: Map<string, SuppressionRule> = new Map();
  private seen = '';

  constructor(private readonly dir: string) {
    this.file = join(dir, 'suppressions.jsonl');
  }

  private async load(): Promise<Map<string, SuppressionRule>> {
    let sig: string;
    try {
      const s = await stat(this.file);
      sig = `${s.size}:${s.mtimeMs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.cache = new Map();
        this.seen = '';
        return this.cache;
      }
      throw e;
    }
    if (sig === this.seen) return this.cache;
    const map = new Map<string, SuppressionRule>();
    for (const line of (await readFile(this.file, 'utf8')).split('\n')) {
      if (!line) continue;
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue; // torn last line: never acknowledged to its writer
      }
      if (parsed.deleted) map.delete(parsed.id);
      else if (parsed.doc) map.set(parsed.id, parsed.doc);
    }
    this.cache = map;
    this.seen = sig;
    return map;
  }

  async list(): Promise<SuppressionRule[]> {
    const m = await this.load();
    return [...m.keys()].sort().map((k) => structuredClone(m.get(k) as SuppressionRule));
  }

  async get(id: string): Promise<SuppressionRule | null> {
    const r = (await this.load()).get(id);
    return r ? structuredClone(r) : null;
  }

  async put(rule: SuppressionRule): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await appendFile(this.file, `${JSON.stringify({ id: rule.id, doc: rule })}\n`);
  }

  async delete(id: string): Promise<boolean> {
    const exists = (await this.load()).has(id);
    if (exists) await appendFile(this.file, `${JSON.stringify({ id, deleted: true })}\n`);
    return exists;
  }

  async close(): Promise<void> {}
}
