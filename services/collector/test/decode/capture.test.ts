import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hasShared, REPO_ROOT, sharedPath } from '@tidewatch/testing';
import { newCaptureStats, readCapture, readPcap, splitRawDatagrams } from '../../src/capture/index.ts';

const skip = hasShared() ? false : 'needs ../shared';
const haveEditcap = spawnSync('editcap', ['-h']).status === 0;
const work = mkdtempSync(join(tmpdir(), 'tw-capture-'));
after(() => rmSync(work, { recursive: true, force: true }));
const flows = (...p: string[]) => sharedPath('testdata', 'flows', ...p);

/** Rewrites a little-endian classic pcap as big-endian (file header and record headers). */
function toBigEndian(le: Buffer): Buffer {
  const b = Buffer.from(le);
  b.writeUInt32BE(le.readUInt32LE(0), 0);
  b.writeUInt16BE(le.readUInt16LE(4), 4);
  b.writeUInt16BE(le.readUInt16LE(6), 6);
  for (const o of [8, 12, 16, 20]) b.writeUInt32BE(le.readUInt32LE(o), o);
  let o = 24;
  while (o + 16 <= le.length) {
    const capLen = le.readUInt32LE(o + 8);
    for (const k of [0, 4, 8, 12]) b.writeUInt32BE(le.readUInt32LE(o + k), o + k);
    o += 16 + capLen;
  }
  return b;
}

/** Same packets under another link layer: `reframe` maps each Ethernet frame to the new framing. */
function relink(le: Buffer, linkType: number, reframe: (frame: Buffer) => Buffer): Buffer {
  const head = Buffer.from(le.subarray(0, 24));
  head.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [head];
  let o = 24;
  while (o + 16 <= le.length) {
    const capLen = le.readUInt32LE(o + 8);
    const frame = reframe(le.subarray(o + 16, o + 16 + capLen));
    const rh = Buffer.from(le.subarray(o, o + 16));
    rh.writeUInt32LE(frame.length, 8);
    rh.writeUInt32LE(frame.length, 12);
    parts.push(rh, frame);
    o += 16 + capLen;
  }
  return Buffer.concat(parts);
}

describe('capture reader', { skip }, () => {
  const pcapFile = () => flows('ak-nf9-juniper-mx960-data-before-template', 'data+templates.pcap');

  test('classic pcap: Ethernet/IPv4/UDP datagram with addresses, ports, time and payload', () => {
    const [d, ...rest] = readCapture(readFileSync(pcapFile()));
    assert.equal(rest.length, 0);
    assert.ok(d);
    const tsharkView = execFileSync(
      'tshark',
      [
        '-r',
        pcapFile(),
        '-T',
        'fields',
        '-e',
        'ip.src',
        '-e',
        'udp.srcport',
        '-e',
        'ip.dst',
        '-e',
        'udp.dstport',
        '-e',
        'frame.time_epoch',
        '-e',
        'udp.length',
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
      .trim()
      .split('\t');
    const [src, sport, dst, dport, epoch, udpLen] = tsharkView;
    assert.deepEqual([d.srcIp, d.srcPort, d.dstIp, d.dstPort], [src, Number(sport), dst, Number(dport)]);
    assert.equal(d.timestampMs, Math.floor(Number(epoch) * 1000));
    assert.equal(d.payload.length, Number(udpLen) - 8);
    assert.equal(d.payload.readUInt16BE(0), 9);
  });

  test('big-endian pcap reads the same datagrams', () => {
    const le = readFileSync(pcapFile());
    assert.deepEqual(readPcap(toBigEndian(le)), readPcap(le));
  });

  test('pcapng and nanosecond pcap (editcap conversions) read the same datagrams', {
    skip: haveEditcap ? false : 'needs editcap',
  }, () => {
    const src = flows('ak-sflow-basic', 'data-1140.pcap');
    const expected = readCapture(readFileSync(src));
    for (const format of ['pcapng', 'nsecpcap']) {
      const out = join(work, `conv.${format}`);
      execFileSync('editcap', ['-F', format, src, out]);
      assert.deepEqual(readCapture(readFileSync(out)), expected, format);
    }
  });

  test('Linux cooked (SLL) and raw IP link layers', () => {
    const le = readFileSync(pcapFile());
    const expected = readPcap(le);
    const sll = relink(le, 113, (f) => {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0x0800, 14);
      return Buffer.concat([h, f.subarray(14)]);
    });
    assert.deepEqual(readPcap(sll), expected);
    assert.deepEqual(readPcap(relink(le, 101, (f) => f.subarray(14))), expected);
  });

  test('IPv4 fragments and non-UDP packets are skipped and counted', () => {
    const le = readFileSync(pcapFile());
    const frag = relink(le, 1, (f) => {
      const c = Buffer.from(f);
      c.writeUInt16BE(0x2000, 14 + 6); // more-fragments
      return c;
    });
    const stats = newCaptureStats();
    assert.deepEqual(readPcap(frag, stats), []);
    assert.deepEqual(stats.skipped, { ip_fragment: 1 });
    const tcp = relink(le, 1, (f) => {
      const c = Buffer.from(f);
      c[14 + 9] = 6;
      return c;
    });
    const s2 = newCaptureStats();
    readPcap(tcp, s2);
    assert.deepEqual(s2.skipped, { not_udp: 1 });
  });

  test('raw files holding several datagrams are split by their own headers', () => {
    const nf5 = splitRawDatagrams(readFileSync(flows('ls-nf5-softflowd', 'netflow5.dat')));
    assert.deepEqual(
      nf5.map((d) => d.length),
      [120, 216, 216, 216, 120, 120, 120, 120, 120, 120, 120, 120],
    );
    const ipfix = splitRawDatagrams(readFileSync(flows('ls-ipfix-softflowd', 'ipfix.dat')));
    assert.deepEqual(
      ipfix.map((d) => d.length),
      [484, 64, 240],
    );
    const single = readFileSync(flows('ls-nf9-softflowd', 'netflow9_test_valid01.dat'));
    assert.equal(splitRawDatagrams(single).length, 1);
  });

  test('a file that is no capture is refused with a clear error', () => {
    assert.throws(() => readCapture(Buffer.from('hello world, not a pcap')), /not a pcap or pcapng file/);
    assert.throws(() => readPcap(Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 0, 0])), /pcap file header truncated/);
  });
});

describe('tidewatch decode CLI', { skip }, () => {
  const cli = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'packages/cli/src/main.ts'), 'decode', ...args],
      {
        encoding: 'utf8',
        cwd: REPO_ROOT,
      },
    );

  test('prints one JSON flow record per line and a summary on stderr', () => {
    const r = cli(
      flows('ls-nf9-softflowd', 'netflow9_test_valid01.dat'),
      '--exporter',
      '198.51.100.7',
      '--received-at',
      '1700000000000',
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 7);
    const first = JSON.parse(lines[0] as string);
    assert.deepEqual(
      [first.exporter, first.source_format, first.src_ip, first.dst_ip, first.src_port, first.fwd_bytes],
      ['198.51.100.7', 'netflow9', '172.16.32.100', '172.16.32.248', 123, 76],
    );
    assert.match(r.stderr, /1 datagrams, 7 records/);
  });

  test('templates carry across files given in order', () => {
    const dir = flows('ak-nf9-icmp');
    const r = cli(join(dir, 'icmp-template.pcap'), join(dir, 'icmp-data.pcap'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 4);
    assert.ok(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .every((l) => JSON.parse(l).exporter === '192.168.117.35'),
    );
  });

  test('unreadable input exits non-zero with a message', () => {
    const r = cli(join(work, 'missing.pcap'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read .*missing\.pcap: no such file/);
    const broken = join(work, 'broken.pcap');
    writeFileSync(broken, Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 1, 2]));
    const b = cli(broken);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /pcap file header truncated/);
  });
});
