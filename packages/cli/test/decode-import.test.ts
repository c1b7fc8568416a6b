import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeFlowFiles } from '@tidewatch/collector/capture/flow-files';
import { FlowDecoder } from '@tidewatch/collector/decode';
import type { FlowRecord } from '@tidewatch/contracts';
import { detectFormat, type ImportRow, readFlowFile } from '@tidewatch/flow-importers';
import { needsShared, sharedPath } from '@tidewatch/testing';

const skip = needsShared().skip;

async function importRows(path: string): Promise<ImportRow[]> {
  const out: ImportRow[] = [];
  for await (const r of readFlowFile(path)) out.push(r);
  return out;
}

describe('decode output imports back as the flows format', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tw-decode-import-'));
  });
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('every record decoded from every vendor sample comes back unchanged', { skip }, async () => {
    const root = sharedPath('testdata/flows');
    let samples = 0;
    let records = 0;
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      if (!statSync(dir).isDirectory()) continue;
      const files = readdirSync(dir)
        .filter((f) => /\.(pcap|pcapng|dat|bin)$/.test(f))
        .sort()
        .map((f) => join(dir, f));
      if (files.length === 0) continue;
      const decoded: FlowRecord[] = [];
      try {
        await decodeFlowFiles(files, (r) => decoded.push(r), {
          decoder: new FlowDecoder(),
          receivedAtMs: 1_700_000_000_000,
        });
      } catch {
        continue; // a sample the decoder refuses as a whole (the invalid-packet ones) prints nothing to import
      }
      if (decoded.length === 0) continue;
      // What `tidewatch decode` prints: one JSON.stringify per record.
      const lines = decoded.map((r) => JSON.stringify(r));
      const path = join(tmp, `${name}.jsonl`);
      await writeFile(path, `${lines.join('\n')}\n`);
      assert.equal(await detectFormat(path), 'flows', name);
      const rows = await importRows(path);
      assert.deepEqual(
        rows.map((r) => r.error ?? null).filter(Boolean),
        [],
        `${name}: rows the importer refused`,
      );
      assert.deepEqual(
        rows.map((r) => JSON.parse(JSON.stringify(r.flow))),
        lines.map((l) => JSON.parse(l)),
        name,
      );
      samples++;
      records += decoded.length;
    }
    assert.ok(samples >= 50, `${samples} vendor samples round-tripped`);
    assert.ok(records >= 700, `${records} records round-tripped`);
  });

  it('a bad field is refused with its name, the other rows go through', async () => {
    const good = {
      exporter: '192.0.2.1',
      observation_domain: 0,
      source_format: 'netflow9',
      start_ms: 1_700_000_000_000,
      end_ms: 1_700_000_000_500,
      protocol: 6,
      src_ip: '10.0.0.1',
      dst_ip: '2001:db8::1',
      src_port: 51000,
      dst_port: 443,
      fwd_bytes: 1200,
      fwd_pkts: 8,
      bwd_bytes: 0,
      bwd_pkts: 0,
      tcp_flags: 0x1b,
      sampling_rate: 1,
      vlan: null,
      label: 1,
      attack: 'C&C',
      extra: { flowEndReason: '3' },
    };
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...good, dst_port: 70000 }, /dst_port 70000 is not an integer in 0\.\.65535/],
      [{ ...good, src_ip: '10.0.0.300' }, /src_ip "10\.0\.0\.300" is not an IPv4 or IPv6 address/],
      [{ ...good, source_format: 'netflow8' }, /source_format "netflow8" is not one of/],
      [{ ...good, fwd_bytes: -1 }, /fwd_bytes -1 is not an integer/],
      [{ ...good, fwd_pkts: '8' }, /fwd_pkts "8" is not an integer/],
      [{ ...good, label: 2 }, /label 2 is not 0, 1 or null/],
      [{ ...good, vlan: 5000 }, /vlan 5000 is not an integer in 0\.\.4095/],
      [{ ...good, extra: { a: 1 } }, /extra\.a 1 is not a string/],
      [{ ...good, protocol: undefined }, /protocol is missing/],
    ];
    const path = join(tmp, 'mixed.jsonl');
    await writeFile(
      path,
      `${[good, ...bad.map(([r]) => r), good].map((r) => JSON.stringify(r)).join('\n')}\nnot json\n`,
    );
    const reader = readFlowFile(path);
    const rows: ImportRow[] = [];
    for await (const r of reader) rows.push(r);
    assert.deepEqual(reader.stats, {
      rows: bad.length + 3,
      imported: 2,
      rejected: bad.length + 1,
      skipped: 0,
    });
    assert.deepEqual(rows[0]?.flow, good);
    assert.deepEqual(rows.at(-2)?.flow, good);
    for (const [i, [, message]] of bad.entries()) {
      assert.match(rows[i + 1]?.error ?? '', message);
      assert.match(rows[i + 1]?.error ?? '', new RegExp(`mixed\\.jsonl:${i + 2}: `));
    }
    assert.match(rows.at(-1)?.error ?? '', /not JSON/);
  });
});
