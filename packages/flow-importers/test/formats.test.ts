import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { detectFormat, FileFormatError, type ImportFormat, readFlowFile } from '../src/index.ts';
import { errors, fixtures, flows, rows } from './helpers.ts';

const fixture = fixtures('tw-importers-');

describe('AWS VPC flow logs', () => {
  it('default v2 without a header; NODATA/SKIPDATA are skipped, not rows', async () => {
    const path = fixture(
      'aws-v2.log',
      [
        '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
        '2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK',
        '2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA',
        '2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA',
        '2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK',
      ].join('\n'),
    );
    assert.equal(await detectFormat(path), 'aws');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 3, imported: 3, rejected: 0, skipped: 2 });
    assert.deepEqual(
      r.rows.map((x) => [x.row, x.line]),
      [
        [0, 1],
        [1, 2],
        [2, 5],
      ],
    );
    assert.deepEqual(flows(r.rows)[0], {
      exporter: 'eni-1235b8ca123456789',
      observation_domain: 0,
      source_format: 'aws_vpc',
      start_ms: 1_418_530_010_000,
      end_ms: 1_418_530_070_000,
      protocol: 6,
      src_ip: '172.31.16.139',
      dst_ip: '172.31.16.21',
      src_port: 20641,
      dst_port: 22,
      fwd_bytes: 4249,
      fwd_pkts: 20,
      bwd_bytes: 0,
      bwd_pkts: 0,
      tcp_flags: 0,
      sampling_rate: 1,
      label: null,
      attack: null,
      extra: { 'account-id': '123456789010', 'interface-id': 'eni-1235b8ca123456789', action: 'ACCEPT' },
    });
    assert.equal(flows(r.rows)[1]!.extra?.['action'], 'REJECT');
    assert.equal(flows(r.rows)[2]!.src_ip, '2001:db8:1234:a100:8d6e:3477:df66:f105');
  });

  it('v5 custom format with a header line, tcp-flags and flow-direction', async () => {
    const path = fixture(
      'aws-v5.log',
      [
        'version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path',
        '5 vpc-0a1b2c3d subnet-aaaa1111 i-0123456789abcdef0 eni-0f0e0d0c0b0a09080 123456789012 IPv4 10.0.1.5 52.94.133.131 50432 443 10.0.1.5 52.94.133.131 6 5521 17 1620140661 1620140721 ACCEPT 19 OK egress 8',
      ].join('\n'),
    );
    assert.equal(await detectFormat(path), 'aws');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 1, imported: 1, rejected: 0, skipped: 0 });
    const f = flows(r.rows)[0]!;
    assert.deepEqual(
      [f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.protocol, f.fwd_bytes, f.fwd_pkts, f.tcp_flags],
      ['10.0.1.5', 50432, '52.94.133.131', 443, 6, 5521, 17, 19],
    );
    assert.equal(f.extra?.['flow-direction'], 'egress');
    assert.equal(f.extra?.['traffic-path'], '8');
    assert.equal(f.extra?.['vpc-id'], 'vpc-0a1b2c3d');
  });

  it('reports bad rows with file, line and what was wrong', async () => {
    const path = fixture(
      'aws-bad.log',
      [
        'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
        '2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 100 160 ACCEPT OK',
        '2 1 eni-1 10.0.0.300 10.0.0.2 1 2 6 3 4 100 160 ACCEPT OK',
        '2 1 eni-1 10.0.0.1 10.0.0.2 1 70000 6 3 4 100 160 ACCEPT OK',
        '2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 200 160 ACCEPT OK',
        '2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 100 160 ACCEPT',
      ].join('\n'),
    );
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 5, imported: 1, rejected: 4, skipped: 0 });
    assert.deepEqual(errors(r.rows), [
      `${path}:3: srcaddr '10.0.0.300' is not an IPv4 or IPv6 address`,
      `${path}:4: dstport 70000 is out of range (max 65535)`,
      `${path}:5: end 160 is before start 200`,
      `${path}:6: expected 14 space-separated fields, found 13`,
    ]);
  });
});

describe('GCP VPC flow logs', () => {
  const entry = {
    insertId: 'x1',
    jsonPayload: {
      bytes_sent: '1820',
      connection: {
        dest_ip: '10.128.0.9',
        dest_port: 443,
        protocol: 6,
        src_ip: '10.128.0.2',
        src_port: 51232,
      },
      end_time: '2024-05-02T10:15:31.462180171Z',
      packets_sent: '9',
      reporter: 'SRC',
      rtt_msec: '2',
      src_instance: { vm_name: 'web-1', zone: 'us-central1-a' },
      start_time: '2024-05-02T10:15:30.101040123Z',
    },
    resource: { labels: { subnetwork_name: 'default' }, type: 'gce_subnetwork' },
    timestamp: '2024-05-02T10:15:40Z',
  };

  it('JSON lines', async () => {
    const path = fixture(
      'gcp.jsonl',
      `${JSON.stringify(entry)}\n\n{"jsonPayload":{"connection":{}}}\nnot json\n`,
    );
    assert.equal(await detectFormat(path), 'gcp');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 3, imported: 1, rejected: 2, skipped: 0 });
    const f = flows(r.rows)[0]!;
    assert.deepEqual(
      [
        f.exporter,
        f.start_ms,
        f.end_ms,
        f.src_ip,
        f.src_port,
        f.dst_ip,
        f.dst_port,
        f.protocol,
        f.fwd_bytes,
        f.fwd_pkts,
      ],
      [
        'gcp:default',
        Date.UTC(2024, 4, 2, 10, 15, 30, 101),
        Date.UTC(2024, 4, 2, 10, 15, 31, 462),
        '10.128.0.2',
        51232,
        '10.128.0.9',
        443,
        6,
        1820,
        9,
      ],
    );
    assert.deepEqual(f.extra, { reporter: 'SRC', rtt_msec: '2', src_instance: 'web-1' });
    assert.equal(errors(r.rows)[0], `${path}:3: connection.src_ip '' is not an IPv4 or IPv6 address`);
    assert.match(errors(r.rows)[1]!, new RegExp(`^${path}:4: invalid JSON: `));
  });

  it('a JSON array (gcloud logging read --format=json)', async () => {
    const path = fixture(
      'gcp.json',
      JSON.stringify([entry, { ...entry, jsonPayload: { connection: null } }]),
    );
    const r = await rows(path);
    assert.equal(r.format, 'gcp');
    assert.deepEqual(r.stats, { rows: 2, imported: 1, rejected: 1, skipped: 0 });
    assert.equal(errors(r.rows)[0], `${path}:2: entry 2: jsonPayload.connection is missing`);
  });
});

describe('Argus', () => {
  it('CTU-13 binetflow: labels, hex ICMP ports, totals without a direction split', async () => {
    const path = fixture(
      'capture.binetflow',
      [
        'StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label',
        '2011/08/10 09:46:53.047277,3550.182373,udp,212.50.71.179,39678,  <->,147.32.84.229,13363,CON,0,0,12,875,413,flow=Background-UDP-Established',
        '2011/08/10 09:46:59.607825,0.000000,icmp,147.32.84.165,0x0008,  ->,147.32.84.255,0x0303,ECO,0,,1,98,98,flow=From-Botnet-V42-ICMP',
        '2011/08/10 09:47:00.000000,1.5,tcp,147.32.84.170,50000,  ->,147.32.84.1,80,FSA_FSA,0,0,10,2000,600,flow=From-Normal-V42-HTTP',
        '2011/08/10 09:47:01.000000,1.5,tcp,147.32.84.170,50000,  ->,bad-ip,80,FSA_FSA,0,0,10,2000,600,flow=From-Normal-V42-HTTP',
      ].join('\n'),
    );
    assert.equal(await detectFormat(path), 'argus');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 4, imported: 3, rejected: 1, skipped: 0 });
    const [bg, icmp, normal] = flows(r.rows) as [FlowRecord, FlowRecord, FlowRecord];
    assert.equal(bg.start_ms, Date.UTC(2011, 7, 10, 9, 46, 53, 47));
    assert.equal(
      bg.end_ms,
      Math.floor((Date.UTC(2011, 7, 10, 9, 46, 53) * 1000 + 47_277 + 3_550_182_373) / 1000),
    );
    assert.deepEqual(
      [bg.fwd_bytes, bg.bwd_bytes, bg.fwd_pkts, bg.bwd_pkts, bg.label],
      [413, 462, 12, 0, null],
    );
    assert.equal(bg.extra?.['pkts_direction'], 'unknown');
    assert.deepEqual(
      [icmp.protocol, icmp.src_port, icmp.dst_port, icmp.icmp_type, icmp.icmp_code, icmp.label],
      [1, 8, 0x0303, 3, 3, 1],
    );
    assert.equal(icmp.attack, 'flow=From-Botnet-V42-ICMP');
    assert.equal(normal.label, 0);
    assert.deepEqual(errors(r.rows), [`${path}:5: DstAddr 'bad-ip' is not an IPv4 or IPv6 address`]);
  });

  it('ra -c , output with per-direction packets and bytes', async () => {
    const path = fixture(
      'ra.csv',
      [
        'StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,SrcPkts,DstPkts,SrcBytes,DstBytes,State',
        '2024-01-02 03:04:05.250000,2.000000,tcp,10.0.0.1,40000,->,10.0.0.2,22,10,8,1200,3400,FIN',
      ].join('\n'),
    );
    const r = await rows(path, 'argus');
    const f = flows(r.rows)[0]!;
    assert.deepEqual(
      [f.start_ms, f.end_ms, f.fwd_pkts, f.bwd_pkts, f.fwd_bytes, f.bwd_bytes],
      [Date.UTC(2024, 0, 2, 3, 4, 5, 250), Date.UTC(2024, 0, 2, 3, 4, 7, 250), 10, 8, 1200, 3400],
    );
  });
});

describe('nfdump CSV', () => {
  it('nfdump 1.7 -o csv: flags, router, summary trailer not counted', async () => {
    const header =
      'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr';
    const tail =
      '0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000';
    const path = fixture(
      'nfdump.csv',
      [
        header,
        `2015-03-30 14:44:49,2015-03-30 14:44:57,8.220,192.168.56.1,192.168.56.103,55470,22,TCP,...AP.SF,0,0,26,4249,0,0,3,4,65000,65001,0,0,${tail},10.0.0.254,17/1,0,2026-11-23 05:04:29.175`,
        `2015-03-30 14:44:50,2015-03-30 14:44:50,0.000,10.1.1.1,10.1.1.2,0,8.0,ICMP,........,0,0,1,84,0,0,0,0,0,0,0,0,${tail},0.0.0.0,0/0,0,2026-11-23 05:04:29.175`,
        `2015-03-30 14:44:51,2015-03-30 14:44:51,x,10.1.1.1,10.1.1.2,0,53,UDP,........,0,0,1,84,0,0,0,0,0,0,0,0,${tail},0.0.0.0,0/0,0,2026-11-23 05:04:29.175`,
        'Summary',
        'flows,bytes,packets,avg_bps,avg_pps,avg_bpp',
        '22,77967,431,8898,6,180',
      ].join('\n'),
    );
    assert.equal(await detectFormat(path), 'nfdump');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 3, imported: 2, rejected: 1, skipped: 0 });
    const [tcp, icmp] = flows(r.rows) as [FlowRecord, FlowRecord];
    assert.deepEqual(
      [tcp.exporter, tcp.start_ms, tcp.end_ms, tcp.protocol, tcp.tcp_flags, tcp.fwd_pkts, tcp.fwd_bytes],
      [
        '10.0.0.254',
        Date.UTC(2015, 2, 30, 14, 44, 49),
        Date.UTC(2015, 2, 30, 14, 44, 57, 220),
        6,
        0x1b,
        26,
        4249,
      ],
    );
    assert.deepEqual([tcp.in_if, tcp.out_if, tcp.src_as, tcp.dst_as], [3, 4, 65000, 65001]);
    assert.deepEqual(
      [icmp.exporter, icmp.protocol, icmp.icmp_type, icmp.icmp_code],
      ['file:nfdump.csv', 1, 8, 0],
    );
    assert.deepEqual(errors(r.rows), [`${path}:4: td 'x' is not a non-negative number of seconds`]);
  });
});

describe('Tempo CSV', () => {
  it('every timestamp form, protocol by name or number, label and attack', async () => {
    const path = fixture(
      'tempo.csv',
      [
        'timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts,label,protocol,attack',
        '2017-07-07 13:39:36.267908,1.5,10.0.0.1,10.0.0.2,1234,80,100,200,3,4,1,tcp,Botnet',
        '2017-07-07T13:39:36.5+02:00,0,10.0.0.1,10.0.0.2,1234,80,100,200,3,4,0,17,',
        '1499434776.25,0.000001,10.0.0.1,10.0.0.2,1234,80,100,200,3,4,,6,',
        '1499434776250,2,10.0.0.1,10.0.0.2,1234,80,100,200,3,4,0,,',
        '2017-13-07 13:39:36,1,10.0.0.1,10.0.0.2,1234,80,100,200,3,4,0,6,',
        'yesterday,1,10.0.0.1,10.0.0.2,1234,80,100,200,3,4,0,6,',
        '2017-07-07 13:39:36,1,10.0.0.1,10.0.0.2,1234,80,-5,200,3,4,0,6,',
        '2017-07-07 13:39:36,1,10.0.0.1,10.0.0.2,1234,80,5,200,3,4,maybe,6,',
        '2017-07-07 13:39:36,1,10.0.0.1,10.0.0.2,1234,80,5,200,3,4,0,xyz,',
        '2017-07-07 13:39:36,1,10.0.0.1',
      ].join('\r\n'),
    );
    assert.equal(await detectFormat(path), 'tempo');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 10, imported: 4, rejected: 6, skipped: 0 });
    const f = flows(r.rows);
    assert.deepEqual(
      f.map((x) => [x.start_ms, x.end_ms, x.protocol, x.label, x.attack]),
      [
        [Date.UTC(2017, 6, 7, 13, 39, 36, 267), Date.UTC(2017, 6, 7, 13, 39, 37, 767), 6, 1, 'Botnet'],
        [Date.UTC(2017, 6, 7, 11, 39, 36, 500), Date.UTC(2017, 6, 7, 11, 39, 36, 500), 17, 0, null],
        [1_499_434_776_250, 1_499_434_776_250, 6, null, null],
        [1_499_434_776_250, 1_499_434_778_250, 0, 0, null],
      ],
    );
    assert.deepEqual(errors(r.rows), [
      `${path}:6: timestamp '2017-13-07 13:39:36' is not a valid date and time`,
      `${path}:7: timestamp 'yesterday' is not "YYYY-MM-DD HH:MM:SS[.ffffff]", ISO 8601 or epoch seconds/milliseconds`,
      `${path}:8: fwd_bytes '-5' is not a non-negative integer`,
      `${path}:9: label 'maybe' is not 0/1, benign/malicious`,
      `${path}:10: unknown protocol 'xyz'`,
      `${path}:11: expected 13 columns, found 3`,
    ]);
  });

  it('an optional tcp_flags column: decimal or 0x hex, empty is 0, out of range is refused', async () => {
    const path = fixture(
      'tempo-flags.csv',
      [
        'timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts,label,protocol,attack,tcp_flags',
        '1499434776.25,1,10.0.0.1,10.0.0.2,1234,22,100,200,3,4,0,6,,27',
        '1499434776.25,1,10.0.0.1,10.0.0.2,1235,22,100,200,3,4,0,6,,0x12',
        '1499434776.25,1,10.0.0.1,10.0.0.2,1236,53,100,200,1,1,0,17,,',
        '1499434776.25,1,10.0.0.1,10.0.0.2,1237,22,100,200,3,4,0,6,,256',
        '1499434776.25,1,10.0.0.1,10.0.0.2,1238,22,100,200,3,4,0,6,,SA',
      ].join('\n'),
    );
    const r = await rows(path, 'tempo');
    assert.deepEqual(r.stats, { rows: 5, imported: 3, rejected: 2, skipped: 0 });
    assert.deepEqual(
      flows(r.rows).map((x) => [x.src_port, x.tcp_flags]),
      [
        [1234, 27],
        [1235, 0x12],
        [1236, 0],
      ],
    );
    assert.deepEqual(errors(r.rows), [
      `${path}:5: tcp_flags 256 is out of range (max 255)`,
      `${path}:6: tcp_flags 'SA' is not a non-negative integer`,
    ]);
  });

  it('a header without the required columns fails the file, naming them', async () => {
    const path = fixture('not-tempo.csv', 'timestamp,src_ip,dest_ip\n1,10.0.0.1,10.0.0.2\n');
    await assert.rejects(rows(path, 'tempo'), (e: unknown) => {
      assert.ok(e instanceof FileFormatError);
      assert.equal(
        e.message,
        `${path}:1: Tempo CSV header lacks column(s) flow_dur, src_port, dest_port, fwd_bytes, bwd_bytes, total_fwd_pkts, total_bwd_pkts`,
      );
      return true;
    });
  });
});

describe('Zeek conn.log edge cases', () => {
  it('wrong field count and unknown proto are rejected with their line', async () => {
    const path = fixture(
      'conn.log',
      [
        '#separator \\x09',
        '#unset_field\t-',
        '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\tresp_bytes\torig_pkts\tresp_pkts',
        '1.5\tC1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t-\t-\t1\t0',
        '1.5\tC1\t10.0.0.1\t1\t10.0.0.2\t2\tsctpx\t-\t-\t-\t1\t0',
        '1.5\tC1\t10.0.0.1\t1\t10.0.0.2',
        '#close\t2020-01-01-00-00-00',
      ].join('\n'),
    );
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 3, imported: 1, rejected: 2, skipped: 0 });
    assert.deepEqual(errors(r.rows), [
      `${path}:5: unknown protocol 'sctpx'`,
      `${path}:6: expected 12 fields, found 5`,
    ]);
    assert.deepEqual([flows(r.rows)[0]!.start_ms, flows(r.rows)[0]!.end_ms], [1500, 1500]);
  });

  it('an unknown format is refused by name', async () => {
    assert.throws(() => readFlowFile('x', { format: 'netflow' as ImportFormat }), /unknown format 'netflow'/);
    const path = fixture('mystery.txt', 'hello world\n');
    await assert.rejects(detectFormat(path), /cannot tell the format from its first line; pass --format/);
  });
});

describe('importFiles', () => {
  it('imports files in order into a sink and accounts for every row; an unreadable file fails alone', async () => {
    const { importFiles, formatSummary } = await import('../src/index.ts');
    const good = fixture(
      'good.csv',
      'timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts\n' +
        '1,0,10.0.0.1,10.0.0.2,1,2,3,4,5,6\n1,0,10.0.0.1,10.0.0.x,1,2,3,4,5,6\n2,0,10.0.0.3,10.0.0.2,1,2,3,4,5,6\n',
    );
    const seen: string[] = [];
    const rejected: string[] = [];
    const summaries = await importFiles(
      [good, `${dirname(good)}/missing.csv`],
      'tempo',
      { write: (f) => void seen.push(f.src_ip) },
      { onRejected: (e) => rejected.push(e) },
    );
    assert.deepEqual(seen, ['10.0.0.1', '10.0.0.3']);
    assert.deepEqual(rejected, [`${good}:3: dest_ip '10.0.0.x' is not an IPv4 or IPv6 address`]);
    assert.equal(formatSummary(summaries[0]!), `${good} [tempo]: rows read 3 = imported 2 + rejected 1`);
    assert.match(formatSummary(summaries[1]!), /missing\.csv: FAILED: ENOENT/);
  });
});
