import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageBus } from '@tidewatch/bus';
import { conversationKey, type FlowRecord } from '@tidewatch/contracts';
import { needsShared, sharedPath, uniqueName, waitFor } from '@tidewatch/testing';
import { type CollectorApp, createApp, DEFAULT_CONFIG } from '../src/index.ts';
import {
  collectTopic,
  diff,
  flowKey,
  Nfcapd,
  nfdumpFlows,
  type ReferenceFlow,
  recordKey,
  runTool,
  sflowFlowSamples,
  testBus,
  UdpTee,
} from './peers.ts';

const pcap = (name: string) => sharedPath('testdata', 'pcaps', name);
const work = mkdtempSync(join(tmpdir(), 'tw-peers-'));

/**
 * Runs pmacctd over a pcap with these config lines. At the end of a pcap, pmacctd 1.7.7 races its
 * plugin's orderly exit and, in 7 of 22 runs here, exits 1 with "connection lost to
 * '…'; … no more plugins active. Shutting down." after the plugin has flushed its export ("Shutting
 * down on user request."). The tests then compare every exported record with an oracle, so that
 * exit is tolerated; any other failure is not.
 */
async function pmacctd(name: string, lines: string[]): Promise<void> {
  const conf = join(work, `${name}.conf`);
  const log = join(work, `${name}.log`);
  writeFileSync(conf, ['daemonize: false', ...lines, `logfile: ${log}`].join('\n'));
  try {
    await runTool('pmacctd', ['-f', conf]);
  } catch (e) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '(no log)';
    const pluginFlushed = /Shutting down on user request/.test(text);
    if (!pluginFlushed || !/no more plugins active\. Shutting down/.test(text))
      throw new Error(`pmacctd ${name} failed: ${(e as Error).message}\n${text}`);
  }
}

/**
 * softflowd 1.1.0 blocks forever in accept() on its control socket when the socket path is longer
 * than 12 characters (found here: /tmp/abc.ctl1 hangs, /tmp/ab.ctl1 does not), so it gets a short
 * unique path in /tmp.
 */
function softflowdControlPath(): string {
  for (;;) {
    const path = `/tmp/sf${randomBytes(3).toString('hex').slice(0, 5)}`;
    if (!existsSync(path)) return path;
  }
}

describe(
  'real exporters feed the running collector; every flow arrives on flows.v1 once',
  needsShared(),
  () => {
    let bus: MessageBus;
    let app: CollectorApp;
    let topic: string;
    let sink: Awaited<ReturnType<typeof collectTopic>>;
    const files: Record<string, string> = {};
    const nfcapds: Nfcapd[] = [];

    before(async () => {
      ({ bus } = testBus());
      topic = uniqueName('flows.v1.test');
      app = createApp(
        {
          ...DEFAULT_CONFIG,
          netflowPort: 0,
          ipfixPort: 0,
          sflowPort: 0,
          host: '127.0.0.1',
          httpPort: 0,
          recvBufferBytes: 4 * 1024 * 1024,
          topicPartitions: 4,
          publisher: { topic, lingerMs: 5, concurrency: 2 },
        },
        { bus },
      );
      await app.start();
      sink = await collectTopic(bus, topic);
    });

    after(async () => {
      await sink?.stop();
      await app?.stop();
      await bus?.close();
      for (const n of nfcapds) n.cleanup();
      rmSync(work, { recursive: true, force: true });
    });

    /** Sends an exporter's datagrams through a tee to the collector and to nfcapd; returns nfdump's view. */
    async function viaTee(
      sourceIp: string,
      collectorPort: number | null,
      send: (teePort: number) => Promise<unknown>,
    ) {
      const nfcapd = new Nfcapd();
      nfcapds.push(nfcapd);
      const nfPort = await nfcapd.start();
      const tee = new UdpTee(sourceIp, collectorPort === null ? [nfPort] : [collectorPort, nfPort]);
      const teePort = await tee.start();
      let file: string;
      try {
        await send(teePort);
        await tee.settle();
      } finally {
        await tee.stop();
        file = await nfcapd.stop();
      }
      return { expected: await nfdumpFlows(file), file, datagrams: tee.datagrams };
    }

    /** Waits until everything the collector decoded from `exporter` was published and consumed. */
    async function arrived(exporter: string, atLeast: number) {
      await waitFor(
        () => {
          const decoded = app.decoder.stats.entries().filter((d) => d.exporter === exporter);
          const records = decoded.reduce((n, d) => n + d.records, 0);
          const got = sink.byExporter.get(exporter)?.length ?? 0;
          return records >= atLeast && app.publisher.pending === 0 && got === records;
        },
        { timeoutMs: 30_000, what: `${atLeast} flows from ${exporter} on ${topic}` },
      );
      return sink.byExporter.get(exporter) ?? [];
    }

    function assertSame(exporter: string, got: string[], expected: ReferenceFlow[], times = true) {
      const d = diff(
        got,
        expected.map((f) => flowKey(f, times)),
      );
      assert.deepEqual(d, { missing: [], unexpected: [] }, `${exporter}: collector vs nfdump`);
      assert.equal(got.length, expected.length);
    }

    /** Pairs flows by everything but time and checks start/end agree within `toleranceMs`. */
    function assertTimesClose(got: FlowRecord[], reference: ReferenceFlow[], toleranceMs: number) {
      const byKey = new Map<string, ReferenceFlow[]>();
      for (const r of reference) byKey.set(flowKey(r, false), [...(byKey.get(flowKey(r, false)) ?? []), r]);
      for (const f of got) {
        assert.ok(f.start_ms <= f.end_ms, `start after end: ${recordKey(f)}`);
        const candidates = byKey.get(recordKey(f, false)) ?? [];
        assert.ok(candidates.length > 0, `no reference flow for ${recordKey(f)}`);
        const near = candidates.filter(
          (r) =>
            r.start_ms === 0 ||
            (Math.abs(r.start_ms - f.start_ms) < toleranceMs && Math.abs(r.end_ms - f.end_ms) < toleranceMs),
        );
        assert.ok(
          near.length > 0,
          `times of ${recordKey(f)} differ from ${candidates.map((c) => flowKey(c)).join(', ')}`,
        );
      }
      assert.equal(got.length, reference.length);
    }

    /**
     * No decode errors and (unless `sequence` is false) no sequence gaps. softflowd 1.1.0's IPFIX
     * sequence number counts the records of the message itself, so every template refresh (a
     * message with fewer records, each 16 messages) shows as an apparent gap that the decoder
     * rightly counts: its IPFIX runs skip the gap check.
     */
    function assertNoErrors(exporter: string, sequence = true) {
      for (const d of app.decoder.stats.entries().filter((e) => e.exporter === exporter)) {
        assert.deepEqual(d.errors, {}, `${exporter} decode errors`);
        if (sequence)
          assert.equal(d.sequenceLostDatagrams + d.sequenceLostRecords, 0, `${exporter} sequence gaps`);
      }
    }

    async function softflowd(pcapName: string, version: 5 | 9 | 10, target: string, extra: string[] = []) {
      const ctl = softflowdControlPath();
      const pid = join(work, `${uniqueName('sf')}.pid`);
      const args = [
        '-d',
        '-a',
        '-r',
        pcap(pcapName),
        '-n',
        target,
        '-v',
        String(version),
        '-p',
        pid,
        '-c',
        ctl,
      ];
      try {
        return await runTool('softflowd', [...args, ...extra]);
      } finally {
        rmSync(ctl, { force: true });
      }
    }

    for (const [version, pcapName, source, records] of [
      [5, 'zeek_ssh_sshguess.pcap', '127.0.0.11', 22],
      [9, 'slips_test7-malicious_hide-and-seek.pcap', '127.0.0.12', 349],
      [10, 'ppa_synscan.pcapng', '127.0.0.13', 2002],
    ] as const) {
      it(`softflowd ${version === 10 ? 'IPFIX' : `NetFlow v${version}`} from ${pcapName}: values match nfdump`, async () => {
        const port = version === 10 ? app.ports.ipfix! : app.ports.netflow!;
        const { expected, file } = await viaTee(source, port, (tee) =>
          softflowd(pcapName, version, `127.0.0.1:${tee}`),
        );
        files[`v${version}`] = file;
        assert.equal(expected.length, records, 'softflowd exported the README record count');
        const got = await arrived(source, expected.length);
        if (version === 10) {
          // nfdump 1.7.1 swaps first/last (or zeroes them) for some of softflowd's IPFIX records
          // (flowStart/EndSysUpTime against systemInitTimeMilliseconds), so it is the oracle for
          // everything but the times here. The times are checked against nfdump's reading of
          // softflowd's NetFlow v9 export of the same capture (the same flows), which is exact
          // only to the second: v9 carries uptime in ms but the export time in whole seconds.
          assertSame(
            source,
            got.map((f) => recordKey(f, false)),
            expected,
            false,
          );
          const v9 = await viaTee('127.0.0.17', null, (tee) => softflowd(pcapName, 9, `127.0.0.1:${tee}`));
          assertTimesClose(got, v9.expected, 1000);
        } else
          assertSame(
            source,
            got.map((f) => recordKey(f)),
            expected,
          );
        assertNoErrors(source, version !== 10);
        const format = { 5: 'netflow5', 9: 'netflow9', 10: 'ipfix' }[version];
        assert.ok(got.every((f) => f.source_format === format && f.sampling_rate >= 1));
        // Published keyed by the canonical conversation key.
        const sample = got[0]!;
        assert.ok(sink.keys.includes(conversationKey(sample.src_ip, sample.dst_ip)));
      });
    }

    it('softflowd IPFIX over TCP: the same flows as over UDP', async () => {
      const before = sink.byExporter.get('127.0.0.1')?.length ?? 0;
      assert.equal(before, 0);
      await softflowd('ppa_synscan.pcapng', 10, `127.0.0.1:${app.ports.ipfixTcp}`, ['-P', 'tcp']);
      const udp = (sink.byExporter.get('127.0.0.13') ?? []).map((f) => recordKey(f));
      assert.equal(udp.length, 2002);
      const got = await arrived('127.0.0.1', udp.length);
      assert.deepEqual(
        diff(
          got.map((f) => recordKey(f)),
          udp,
        ),
        { missing: [], unexpected: [] },
      );
      assertNoErrors('127.0.0.1', false);
    });

    it('pmacctd (nfprobe plugin, IPFIX) reading a pcap: values match nfdump', async () => {
      const source = '127.0.0.15';
      const { expected } = await viaTee(source, app.ports.ipfix!, async (tee) => {
        await pmacctd('nfprobe', [
          `pcap_savefile: ${pcap('zeek_ftp_bruteforce.pcap')}`,
          'plugins: nfprobe',
          `nfprobe_receiver: 127.0.0.1:${tee}`,
          'nfprobe_version: 10',
        ]);
      });
      assert.ok(expected.length >= 30, `pmacctd exported ${expected.length} flows`);
      const got = await arrived(source, expected.length);
      assertSame(
        source,
        got.map((f) => recordKey(f)),
        expected,
      );
      assertNoErrors(source);
    });

    it("nfdump's nfreplay replaying the captured v9 export: values match nfdump", async () => {
      const original = files['v9'];
      assert.ok(original, 'the softflowd v9 test ran first and left its nfcapd file');
      const source = '127.0.0.16';
      const { expected } = await viaTee(source, app.ports.netflow!, (tee) =>
        runTool('nfreplay', ['-r', original, '-H', '127.0.0.1', '-p', String(tee), '-v', '9']),
      );
      const before = await nfdumpFlows(original);
      assert.deepEqual(
        diff(
          expected.map((f) => flowKey(f)),
          before.map((f) => flowKey(f)),
        ),
        { missing: [], unexpected: [] },
      );
      const got = await arrived(source, expected.length);
      assertSame(
        source,
        got.map((f) => recordKey(f)),
        expected,
      );
      assertNoErrors(source);
    });

    it('pmacctd (sfprobe plugin, sFlow v5): every flow sample becomes one record matching a packet tshark reads', async () => {
      const source = '127.0.0.18';
      const file = pcap('zeek_ssh_sshguess.pcap');
      let samples = 0;
      const tee = new UdpTee(source, [app.ports.sflow!], (d) => {
        samples += sflowFlowSamples(d);
      });
      const teePort = await tee.start();
      try {
        await pmacctd('sfprobe', [
          `pcap_savefile: ${file}`,
          'plugins: sfprobe',
          `sfprobe_receiver: 127.0.0.1:${teePort}`,
        ]);
        await tee.settle();
      } finally {
        await tee.stop();
      }
      const fields = await runTool('tshark', [
        '-r',
        file,
        '-T',
        'fields',
        '-e',
        'ip.src',
        '-e',
        'ip.dst',
        '-e',
        'tcp.srcport',
        '-e',
        'tcp.dstport',
        '-e',
        'ip.proto',
        '-e',
        'frame.len',
      ]);
      const expected = fields
        .split('\n')
        .filter((l) => l.includes('\t'))
        .map((l) => {
          // sFlow's frame_length counts the 4-byte FCS that a capture file does not hold
          const [src, dst, sport, dport, proto, frameLen] = l.split('\t');
          return [src, dst, sport, dport, proto, Number(frameLen) + 4].join('|');
        });
      assert.equal(expected.length, 431);
      // pmacctd does not sample every packet of the file (a couple go unsampled); the collector
      // must turn every flow sample pmacctd did send into exactly one record matching a packet.
      assert.ok(samples >= 400 && samples <= 431, `pmacctd sent ${samples} flow samples`);
      const got = await arrived(source, samples);
      assert.equal(got.length, samples);
      const keys = got.map((f) =>
        [f.src_ip, f.dst_ip, f.src_port, f.dst_port, f.protocol, f.fwd_bytes].join('|'),
      );
      assert.deepEqual(diff(keys, expected).unexpected, []);
      assert.ok(got.every((f) => f.source_format === 'sflow5' && f.fwd_pkts === 1));
      assertNoErrors(source);
    });

    it('fprobe (NetFlow v5, live capture on lo): the flows of traffic we sent, values match nfdump', async () => {
      // fprobe cannot read a capture file, so it watches loopback while we send known UDP flows.
      const source = '127.0.0.19';
      const talker = '127.0.0.20';
      const sink = createSocket('udp4');
      await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
      const port = sink.address().port;
      const sent = [5, 7, 9].map((packets, i) => ({
        packets,
        sizes: Array.from({ length: packets }, (_, k) => 60 + 10 * i + k),
      }));
      const { expected } = await viaTee(source, app.ports.netflow!, async (tee) => {
        const fprobe = spawn(
          'fprobe',
          [
            '-l',
            '2',
            '-i',
            'lo',
            '-f',
            `udp and src host ${talker} and dst port ${port}`,
            '-d',
            '1',
            '-s',
            '1',
            '-e',
            '60',
            '-n',
            '5',
            `127.0.0.1:${tee}`,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let log = '';
        const onLog = (d: Buffer) => {
          log += String(d);
        };
        fprobe.stdout.on('data', onLog); // `-l 2` logs to stdout
        fprobe.stderr.on('data', onLog);
        const exited = new Promise((r) => fprobe.once('exit', r));
        try {
          await waitFor(() => log.includes('collector #1'), {
            timeoutMs: 10_000,
            what: `fprobe to start (${log})`,
          });
          await new Promise((r) => setTimeout(r, 500)); // the capture handle is open once it logs its collector
          for (const { sizes } of sent) {
            const s = createSocket('udp4');
            await new Promise<void>((r) => s.bind(0, talker, () => r()));
            for (const n of sizes) await new Promise((r) => s.send(Buffer.alloc(n), port, '127.0.0.1', r));
            s.close();
          }
          await new Promise((r) => setTimeout(r, 1000));
        } finally {
          fprobe.kill('SIGTERM'); // fprobe emits its flow cache on SIGTERM
          await exited;
          sink.close();
        }
      });
      assert.equal(expected.length, 3, `fprobe exported ${expected.length} flows`);
      const got = await arrived(source, 3);
      assertSame(
        source,
        got.map((f) => recordKey(f)),
        expected,
      );
      // and the values are those of the traffic itself (IP length = UDP payload + 28)
      assert.deepEqual(
        got
          .map((f) => [f.src_ip, f.dst_ip, f.dst_port, f.protocol, f.fwd_pkts, f.fwd_bytes])
          .sort((a, b) => Number(a[4]) - Number(b[4])),
        sent.map(({ packets, sizes }) => [
          talker,
          '127.0.0.1',
          port,
          17,
          packets,
          sizes.reduce((n, x) => n + x + 28, 0),
        ]),
      );
      assert.ok(got.every((f) => f.source_format === 'netflow5'));
      assertNoErrors(source);
    });

    it('metrics account for every exporter and nothing was dropped', async () => {
      const res = await fetch(`http://127.0.0.1:${app.ports.http}/metrics`);
      const text = await res.text();
      assert.match(
        text,
        /tidewatch_collector_records_total\{exporter="127\.0\.0\.13",protocol="ipfix"\} 2002/,
      );
      assert.match(text, /tidewatch_collector_dropped_records_total\{reason="queue_full"\} 0/);
      assert.equal((await fetch(`http://127.0.0.1:${app.ports.http}/readyz`)).status, 200);
      assert.equal(app.publisher.stats.refused, 0);
    });
  },
);
