import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlowRecord } from '@tidewatch/contracts';
import { detectFormat, FileFormatError } from '../src/index.ts';
import { errors, fixtures, flows, rows } from './helpers.ts';

// Public research datasets by their published column layouts (no sample is shipped in ../shared).
const fixture = fixtures('tw-datasets-');

describe('ToN_IoT network dataset', () => {
  const header =
    'ts,src_ip,src_port,dst_ip,dst_port,proto,service,duration,src_bytes,dst_bytes,conn_state,missed_bytes,src_pkts,src_ip_bytes,dst_pkts,dst_ip_bytes,dns_query,dns_qclass,dns_qtype,dns_rcode,dns_AA,dns_RD,dns_RA,dns_rejected,ssl_version,ssl_cipher,ssl_resumed,ssl_established,ssl_subject,ssl_issuer,http_trans_depth,http_method,http_uri,http_version,http_request_body_len,http_response_body_len,http_status_code,http_user_agent,http_orig_mime_types,http_resp_mime_types,weird_name,weird_addl,weird_notice,label,type';
  // dns_query … weird_notice: 27 columns between the counters and the label
  const dns = '-,0,0,0,-,-,-,-,-,-,-,-,-,-,-,-,-,0,0,0,-,-,-,-,-,-,-';

  it('Zeek conn records with renamed columns: payload bytes, label 0/1, the attack type', async () => {
    const path = fixture(
      'Train_Test_Network.csv',
      [
        header,
        `1554198358,3.122.49.24,1883,192.168.1.152,52976,tcp,-,80549.53026,1762852,41933215,OTH,0,252181,14883595,251877,54029628,${dns},0,normal`,
        `1556000000,192.168.1.30,41616,192.168.1.1,22,tcp,ssh,1.1e-05,0,0,S0,0,1,44,0,0,${dns},1,scanning`,
        `1556000001,192.168.1.30,8,192.168.1.1,0,icmp,-,0,64,64,OTH,0,1,92,1,92,${dns},1,scanning`, // Zeek: ICMP type and code as ports
        `1556000002,192.168.1.30,41618,not-an-ip,22,tcp,-,0,0,0,S0,0,1,44,0,0,${dns},1,scanning`,
      ].join('\n'),
    );
    assert.equal(await detectFormat(path), 'ton-iot');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 4, imported: 3, rejected: 1, skipped: 0 });
    const [mqtt, syn, ping] = flows(r.rows) as [FlowRecord, FlowRecord, FlowRecord];
    assert.deepEqual(
      [
        mqtt.source_format,
        mqtt.start_ms,
        mqtt.end_ms,
        mqtt.src_ip,
        mqtt.src_port,
        mqtt.dst_port,
        mqtt.protocol,
      ],
      ['zeek_conn', 1_554_198_358_000, 1_554_198_358_000 + 80_549_530, '3.122.49.24', 1883, 52_976, 6],
    );
    assert.deepEqual(
      [mqtt.fwd_bytes, mqtt.bwd_bytes, mqtt.fwd_pkts, mqtt.bwd_pkts, mqtt.label, mqtt.attack],
      [1_762_852, 41_933_215, 252_181, 251_877, 0, null],
    );
    assert.deepEqual([mqtt.extra?.['conn_state'], mqtt.extra?.['orig_ip_bytes']], ['OTH', '14883595']);
    assert.deepEqual(
      [syn.end_ms - syn.start_ms, syn.label, syn.attack, syn.extra?.['service']],
      [0, 1, 'scanning', 'ssh'],
    );
    assert.deepEqual([ping.protocol, ping.icmp_type, ping.icmp_code], [1, 8, 0]);
    assert.deepEqual(errors(r.rows), [`${path}:5: id.resp_h 'not-an-ip' is not an IPv4 or IPv6 address`]);
  });

  it('a header without the addresses fails the file, naming the columns', async () => {
    const path = fixture(
      'ton-bad.csv',
      'ts,src_port,dst_port,proto,src_bytes,dst_bytes,conn_state\n1,2,3,tcp,0,0,S0\n',
    );
    await assert.rejects(
      rows(path, 'ton-iot'),
      (e: unknown) => e instanceof FileFormatError && /lacks src_ip, dst_ip/.test(e.message),
    );
  });
});

describe('UNSW-NB15 record files', () => {
  const record = (
    over: Partial<Record<'src' | 'sport' | 'dst' | 'dsport' | 'proto' | 'cat' | 'label', string>>,
  ) =>
    [
      over.src ?? '59.166.0.0',
      over.sport ?? '1390',
      over.dst ?? '149.171.126.6',
      over.dsport ?? '53',
      over.proto ?? 'udp',
      'CON',
      '0.001055',
      '132',
      '164',
      '31',
      '29',
      '0',
      '0',
      'dns',
      '500473.9375',
      '621800.9375',
      '2',
      '2',
      '0',
      '0',
      '0',
      '0',
      '66',
      '82',
      '0',
      '0',
      '0',
      '0',
      '1421927414',
      '1421927414',
      '0.017',
      '0.013',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '3',
      '7',
      '1',
      '3',
      '1',
      '1',
      '1',
      over.cat ?? '',
      over.label ?? '0',
    ].join(',');

  it('headerless as published: Argus biflows, hex ports, the attack category on malicious rows', async () => {
    const path = fixture(
      'UNSW-NB15_1.csv',
      [
        record({}),
        record({
          src: '175.45.176.1',
          sport: '0x000c',
          dst: '149.171.126.16',
          dsport: '80',
          proto: 'tcp',
          cat: ' Fuzzers ',
          label: '1',
        }),
        record({ proto: 'arp' }),
        record({ dsport: '-', proto: 'ospf' }),
      ].join('\r\n'),
    );
    assert.equal(await detectFormat(path), 'unsw-nb15');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 4, imported: 3, rejected: 1, skipped: 0 });
    const [dnsFlow, fuzz, ospf] = flows(r.rows) as [FlowRecord, FlowRecord, FlowRecord];
    assert.deepEqual(
      [
        dnsFlow.source_format,
        dnsFlow.start_ms,
        dnsFlow.end_ms,
        dnsFlow.protocol,
        dnsFlow.src_port,
        dnsFlow.dst_port,
      ],
      ['argus', 1_421_927_414_000, 1_421_927_414_001, 17, 1390, 53],
    );
    assert.deepEqual(
      [
        dnsFlow.fwd_bytes,
        dnsFlow.bwd_bytes,
        dnsFlow.fwd_pkts,
        dnsFlow.bwd_pkts,
        dnsFlow.label,
        dnsFlow.attack,
      ],
      [132, 164, 2, 2, 0, null],
    );
    assert.deepEqual(dnsFlow.extra, { state: 'CON', service: 'dns' });
    assert.deepEqual([fuzz.src_port, fuzz.protocol, fuzz.label, fuzz.attack], [12, 6, 1, 'Fuzzers']);
    assert.deepEqual([ospf.protocol, ospf.dst_port], [89, 0]);
    assert.deepEqual(errors(r.rows), [`${path}:3: unknown protocol 'arp'`]);
  });

  it('with the feature list as a header (mixed case, "ct_src_ ltm"), and a short header line fails', async () => {
    const names =
      'srcip,sport,dstip,dsport,proto,state,dur,sbytes,dbytes,sttl,dttl,sloss,dloss,service,Sload,Dload,Spkts,Dpkts,swin,dwin,stcpb,dtcpb,smeansz,dmeansz,trans_depth,res_bdy_len,Sjit,Djit,Stime,Ltime,Sintpkt,Dintpkt,tcprtt,synack,ackdat,is_sm_ips_ports,ct_state_ttl,ct_flw_http_mthd,is_ftp_login,ct_ftp_cmd,ct_srv_src,ct_srv_dst,ct_dst_ltm,ct_src_ ltm,ct_src_dport_ltm,ct_dst_sport_ltm,ct_dst_src_ltm,attack_cat,Label';
    const path = fixture('unsw-header.csv', `${names}\n${record({ label: '1', cat: 'Exploits' })}\n`);
    assert.equal(await detectFormat(path), 'unsw-nb15');
    const f = flows((await rows(path)).rows)[0];
    assert.deepEqual([f?.fwd_pkts, f?.label, f?.attack], [2, 1, 'Exploits']);
    const short = fixture('unsw-short.csv', '59.166.0.0,1390,149.171.126.6,53,udp\n');
    await assert.rejects(
      rows(short, 'unsw-nb15'),
      (e: unknown) => e instanceof FileFormatError && /have 49 columns, found 5/.test(e.message),
    );
  });
});

describe('nProbe NetFlow-named CSV (NF-* datasets)', () => {
  it('v3: biflows with their own times, flags and ICMP type; Label and Attack', async () => {
    const header =
      'FLOW_START_MILLISECONDS,FLOW_END_MILLISECONDS,IPV4_SRC_ADDR,L4_SRC_PORT,IPV4_DST_ADDR,L4_DST_PORT,PROTOCOL,L7_PROTO,IN_BYTES,IN_PKTS,OUT_BYTES,OUT_PKTS,TCP_FLAGS,CLIENT_TCP_FLAGS,SERVER_TCP_FLAGS,FLOW_DURATION_MILLISECONDS,ICMP_TYPE,ICMP_IPV4_TYPE,Label,Attack';
    const path = fixture(
      'NF-UNSW-NB15-v3.csv',
      [
        header,
        '1424242192000,1424242193250,59.166.0.2,4894,149.171.126.3,80,6,7.0,1540,10,10360,12,27,27,26,1250,0,0,0,Benign',
        '1424242200000,1424242200000,175.45.176.1,0,149.171.126.16,0,1,0,84,1,0,0,0,0,0,0,2048,8,1,Reconnaissance',
        '1424242201000,1424242200000,175.45.176.1,0,149.171.126.16,0,1,0,84,1,0,0,0,0,0,0,2048,8,1,Reconnaissance',
      ].join('\n'),
    );
    assert.equal(await detectFormat(path), 'nprobe');
    const r = await rows(path);
    assert.deepEqual(r.stats, { rows: 3, imported: 2, rejected: 1, skipped: 0 });
    const [http, ping] = flows(r.rows) as [FlowRecord, FlowRecord];
    assert.deepEqual(
      [
        http.source_format,
        http.start_ms,
        http.end_ms,
        http.fwd_bytes,
        http.fwd_pkts,
        http.bwd_bytes,
        http.bwd_pkts,
      ],
      ['nprobe_csv', 1_424_242_192_000, 1_424_242_193_250, 1540, 10, 10_360, 12],
    );
    assert.deepEqual(
      [http.tcp_flags, http.label, http.attack, http.extra],
      [27, 0, null, { l7_proto: '7.0' }],
    );
    assert.deepEqual(
      [ping.protocol, ping.icmp_type, ping.icmp_code, ping.label, ping.attack],
      [1, 8, 0, 1, 'Reconnaissance'],
    );
    assert.deepEqual(errors(r.rows), [
      `${path}:4: FLOW_END_MILLISECONDS 1424242200000 is before FLOW_START_MILLISECONDS 1424242201000`,
    ]);
  });

  it('v1 / v2 files carry no flow times: refused with the reason, not windowed at made-up times', async () => {
    const path = fixture(
      'NF-UNSW-NB15-v2.csv',
      'IPV4_SRC_ADDR,L4_SRC_PORT,IPV4_DST_ADDR,L4_DST_PORT,PROTOCOL,L7_PROTO,IN_BYTES,IN_PKTS,OUT_BYTES,OUT_PKTS,TCP_FLAGS,FLOW_DURATION_MILLISECONDS,Label,Attack\n59.166.0.2,4894,149.171.126.3,80,6,7.0,1540,10,10360,12,27,1250,0,Benign\n',
    );
    assert.equal(await detectFormat(path), 'nprobe');
    await assert.rejects(
      rows(path),
      (e: unknown) => e instanceof FileFormatError && /without FLOW_START_MILLISECONDS/.test(e.message),
    );
  });
});
