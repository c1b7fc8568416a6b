import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { hasShared, sharedPath } from '@tidewatch/testing';
import { decodeFlowFiles } from '../../src/capture/flow-files.ts';

/**
 * tshark as an independent reference decoder: for every pcap sample, the flows tshark's cflow
 * and sflow dissectors find must be exactly ours (addresses, ports, protocol, bytes, packets,
 * start and end times). tshark keeps templates per capture file, so each sample's pcaps are
 * concatenated with mergecap first.
 */

// biome-ignore lint/suspicious/noExplicitAny: tshark JSON is free-form
type Json = any;

const haveTshark = spawnSync('tshark', ['--version']).status === 0;
const skip = !hasShared() ? 'needs ../shared' : !haveTshark ? 'needs tshark (scripts/system-deps.sh)' : false;
const ROOT = hasShared() ? sharedPath('testdata', 'flows') : '';
const work = mkdtempSync(join(tmpdir(), 'tw-tshark-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Sample {
  name: string;
  files: string[];
  port: number;
  sflow: boolean;
}

function pcapSamples(): Sample[] {
  if (!ROOT) return [];
  const out: Sample[] = [];
  for (const name of readdirSync(ROOT).sort()) {
    if (name.endsWith('.md')) continue;
    const e = JSON.parse(readFileSync(join(ROOT, name, 'expected.json'), 'utf8'));
    const packets: Json[] = e.input.packets;
    if (!packets.every((p) => typeof p.file === 'string' && p.file.endsWith('.pcap'))) continue;
    const udp: string = packets[0].udp?.[0] ?? '';
    const port = Number(udp.split(':').pop());
    out.push({
      name,
      files: packets.map((p) => join(ROOT, name, p.file)),
      port,
      sflow: name.includes('sflow'),
    });
  }
  return out;
}

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

/** "Jun  4, 2025 15:09:00.450000000 UTC" → epoch ms. */
function tsharkDate(s: string): number {
  const m = /^(\w{3})\s+(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? UTC$/.exec(s);
  assert.ok(m, `unexpected tshark time ${s}`);
  const ms = Number(((m[7] ?? '') + '000').slice(0, 3));
  return (
    Date.UTC(
      Number(m[3]),
      MONTHS[m[1] as string] as number,
      Number(m[2]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
    ) + ms
  );
}

function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === 'string' ? v : undefined;
}

/** Seconds with 9 decimals → integer milliseconds, without float drift. */
function secToMs(s: string): number {
  const [i, f = ''] = s.split('.');
  return Number(i) * 1000 + Number((f + '000').slice(0, 3));
}

function collectFlows(node: Json, out: Json[]): void {
  if (node === null || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if ((k.startsWith('Flow ') || k.startsWith('pdu ')) && v && typeof v === 'object') out.push(v);
    else if (typeof v === 'object') collectFlows(v, out);
  }
}

function pick(flow: Json, key: string): string | undefined {
  if (key in flow) return first(flow[key]);
  for (const v of Object.values(flow))
    if (v && typeof v === 'object' && !Array.isArray(v) && key in (v as Json)) return first((v as Json)[key]);
  return undefined;
}

function tsharkTuples(file: string, port: number): string[] {
  const out = execFileSync(
    'tshark',
    ['-r', file, '-d', `udp.port==${port},cflow`, '-T', 'json', '--no-duplicate-keys'],
    {
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const tuples: string[] = [];
  for (const pkt of JSON.parse(out.toString('utf8')) as Json[]) {
    const layer = pkt._source.layers.cflow;
    if (!layer) continue;
    const hdr = Array.isArray(layer) ? layer[0] : layer;
    const unixSecs = pick(hdr, 'cflow.unix_secs');
    const unixNsecs = pick(hdr, 'cflow.unix_nsecs') ?? '0';
    const uptime = first(hdr['cflow.sysuptime']);
    const flows: Json[] = [];
    collectFlows(hdr, flows);
    for (const f of flows) {
      const v4s = pick(f, 'cflow.srcaddr');
      const v6s = pick(f, 'cflow.srcaddrv6');
      if (v4s === undefined && v6s === undefined) continue; // options data
      const v4d = pick(f, 'cflow.dstaddr');
      const v6d = pick(f, 'cflow.dstaddrv6');
      const src = v4s !== undefined && (v6s === undefined || v6s === '::') ? v4s : v6s;
      const dst = v4d !== undefined && (v6d === undefined || v6d === '::') ? v4d : v6d;
      const bytes = pick(f, 'cflow.octets') ?? pick(f, 'cflow.octets64') ?? '0';
      const pkts = pick(f, 'cflow.packets') ?? pick(f, 'cflow.packets64') ?? '0';
      let start = '';
      let end = '';
      const absStart = pick(f, 'cflow.abstimestart');
      const relStart = pick(f, 'cflow.timestart');
      if (absStart !== undefined) {
        start = String(tsharkDate(absStart));
        end = String(tsharkDate(pick(f, 'cflow.abstimeend') ?? absStart));
      } else if (relStart !== undefined && unixSecs !== undefined && uptime !== undefined) {
        const exportMs = Number(unixSecs) * 1000 + Math.floor(Number(unixNsecs) / 1e6);
        start = String(exportMs - (secToMs(uptime) - secToMs(relStart)));
        end = String(exportMs - (secToMs(uptime) - secToMs(pick(f, 'cflow.timeend') ?? relStart)));
      }
      tuples.push(
        [
          src,
          dst,
          pick(f, 'cflow.srcport') ?? '0',
          pick(f, 'cflow.dstport') ?? '0',
          pick(f, 'cflow.protocol') ?? '0',
          bytes,
          pkts,
          start,
          end,
        ].join(' '),
      );
    }
  }
  return tuples;
}

function ourTuple(r: FlowRecord, withTimes: boolean): string {
  return [
    r.src_ip,
    r.dst_ip,
    r.src_port,
    r.dst_port,
    r.protocol,
    r.fwd_bytes,
    r.fwd_pkts,
    withTimes ? r.start_ms : '',
    withTimes ? r.end_ms : '',
  ].join(' ');
}

function sflowFields(file: string, port: number): { frameLengths: number[]; rates: number[] } {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-d',
      `udp.port==${port},sflow`,
      '-T',
      'fields',
      '-E',
      'occurrence=a',
      '-E',
      'aggregator=;',
      '-e',
      'sflow_245.header.frame_length',
      '-e',
      'sflow.flow_sample.sampling_rate',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  ).toString('utf8');
  const frameLengths: number[] = [];
  const rates: number[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const [fl = '', sr = ''] = line.split('\t');
    frameLengths.push(...fl.split(';').filter(Boolean).map(Number));
    rates.push(...sr.split(';').filter(Boolean).map(Number));
  }
  return { frameLengths, rates };
}

/**
 * Samples where tshark's cflow dissector yields no flow tuple to compare: records that carry only
 * a sampled frame (IE 315, whose addresses tshark leaves inside the frame bytes), and a capture
 * whose first data sets reference templates sent before the capture started.
 */
const NOT_COMPARABLE = new Set([
  'ak-ipfix-evpn-eompls-cw',
  'ak-ipfix-juniper-cpid-drop',
  'ak-ipfix-juniper-datalink-315',
  'ak-ipfix-juniper-srv6-315',
  'pm-ipfix-cisco-options-reassignment',
]);

const sorted = (a: (string | number)[]) => [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

describe('tshark agrees with decode', { skip }, () => {
  for (const s of pcapSamples().filter((x) => !NOT_COMPARABLE.has(x.name))) {
    test(s.name, async () => {
      const merged = join(work, `${s.name}.pcap`);
      execFileSync('mergecap', ['-a', '-F', 'pcap', '-w', merged, ...s.files]);
      const ours: FlowRecord[] = [];
      await decodeFlowFiles([merged], (r) => ours.push(r));
      if (s.sflow) {
        const t = sflowFields(merged, s.port);
        const withHeader = ours.filter((r) => r.extra?.ipTotalLength !== undefined);
        assert.ok(t.frameLengths.length > 0, 'tshark found no sampled headers');
        assert.deepEqual(sorted(withHeader.map((r) => r.fwd_bytes)), sorted(t.frameLengths), 'frame lengths');
        assert.deepEqual(
          sorted(ours.map((r) => r.sampling_rate)),
          sorted(t.rates.slice(0, ours.length)),
          'sampling rates',
        );
        return;
      }
      const theirs = tsharkTuples(merged, s.port);
      assert.ok(theirs.length > 0, 'tshark decoded no flow');
      const withTimes = theirs.every((t) => !t.endsWith('  '));
      const mine = ours.map((r) => ourTuple(r, withTimes));
      if (s.name.includes('data-before-template')) {
        // tshark drops data that precedes its template; we hold it and decode it once the template arrives
        const left = [...mine];
        for (const t of theirs) {
          const k = left.indexOf(t);
          assert.ok(k >= 0, `tshark flow ${t} not among ours`);
          left.splice(k, 1);
        }
        assert.ok(mine.length > theirs.length);
      } else
        assert.deepEqual(
          sorted(mine),
          sorted(withTimes ? theirs : theirs.map((t) => t.replace(/ \S* \S*$/, '  '))),
        );
    });
  }
});
