import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { type ImportFormat, type ImportRow, readFlowFile } from '../src/index.ts';

/** A `fixture(name, text)` writer into a temporary folder removed after the test file. */
export function fixtures(prefix: string): (name: string, text: string) => string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return (name, text) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
}

/** Every row of a file as the reader gives it, its counts and the format it used. */
export async function rows(path: string, format?: ImportFormat) {
  const reader = readFlowFile(path, format ? { format } : {});
  const out: ImportRow[] = [];
  for await (const r of reader) out.push(r);
  return { rows: out, stats: reader.stats, format: reader.format };
}

export const flows = (rs: ImportRow[]): FlowRecord[] => rs.flatMap((r) => (r.flow ? [r.flow] : []));
export const errors = (rs: ImportRow[]): string[] => rs.flatMap((r) => (r.error ? [r.error] : []));
