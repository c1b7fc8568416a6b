import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import spec from '../spec/builtin-rules.json' with { type: 'json' };
import {
  BUILTIN_RULES,
  isInfrastructureRequest,
  LOCAL_DISCOVERY_RULE,
  matchBuiltinRule,
  networkRule,
} from '../src/index.ts';

const to = (dst_ip: string, protocols: number[] = [17], dst_ports: number[] = [9]) => ({
  src_ip: '10.0.0.7',
  dst_ip,
  protocols,
  dst_ports,
});
/** Raised by the model alone, over a sequence that is not only infrastructure requests. */
const MODEL = { flagged: false, infrastructureOnly: false };

describe('built-in suppression rules', () => {
  it('match the responder of every case in spec/builtin-rules.json (model/tests checks the same cases)', () => {
    assert.ok(spec.cases.length >= 20);
    type Case = {
      dst_ip: string;
      protocols?: number[];
      dst_ports?: number[];
      flagged?: boolean;
      flags?: string[];
      infrastructure_only?: boolean;
      fwd_bytes?: number;
      fwd_pkts?: number;
      by_model?: boolean;
      initiator_dsts?: number;
      rule: string | null;
    };
    for (const c of spec.cases as Case[]) {
      const raised = {
        flagged: c.flagged ?? false,
        ...(c.flags === undefined ? {} : { flags: c.flags }),
        infrastructureOnly: c.infrastructure_only ?? false,
        byModel: c.by_model ?? false,
        initiatorDsts: c.initiator_dsts ?? 1,
      };
      const finding = {
        ...to(c.dst_ip, c.protocols, c.dst_ports),
        fwd_bytes: c.fwd_bytes ?? 60,
        fwd_pkts: c.fwd_pkts ?? 1,
      };
      const got = matchBuiltinRule(finding, raised);
      assert.equal(got?.id ?? null, c.rule, JSON.stringify(c));
    }
  });

  it('tell an infrastructure request flow as every case in spec/builtin-rules.json says', () => {
    assert.ok(spec.infrastructure_request_cases.length >= 10);
    for (const c of spec.infrastructure_request_cases)
      assert.equal(
        isInfrastructureRequest(c.protocol, c.dst_port, c.fwd_bytes, c.fwd_pkts, c.bwd_bytes, c.bwd_pkts),
        c.infrastructure,
        JSON.stringify(c),
      );
  });

  it('look at the responder only', () => {
    assert.equal(matchBuiltinRule({ ...to('10.0.0.1'), src_ip: '224.0.0.251' }, MODEL), null);
    assert.equal(matchBuiltinRule({ ...to('10.0.0.1'), src_ip: '10.0.0.255' }, MODEL), null);
  });

  it('match prefixes of any length, IPv4 and IPv6', () => {
    const rule = networkRule('t', 'test', ['10.1.2.128/25', '2001:db8:8000::/33', '0.0.0.0/0']);
    assert.ok(rule.matches(to('10.1.2.200'), MODEL));
    assert.ok(rule.matches(to('192.0.2.1'), MODEL), '/0 holds every IPv4 address');
    assert.ok(rule.matches(to('2001:db8:ffff::1'), MODEL));
    assert.ok(!rule.matches(to('2001:db8:7fff::1'), MODEL));
    assert.ok(!rule.matches(to('2001:db9::1'), MODEL));
    const narrow = networkRule('t', 'test', ['10.1.2.128/25']);
    assert.ok(!narrow.matches(to('10.1.2.127'), MODEL));
    assert.ok(narrow.matches(to('::ffff:10.1.2.129'), MODEL));
  });

  it('a subnet broadcast: host bits all ones, inside the networks, every protocol listed', () => {
    const rule = networkRule('t', 'test', ['10.0.0.0/8'], { hostOnes: 7, protocols: [17, 1] });
    assert.ok(rule.matches(to('10.1.2.127'), MODEL), 'a /25 broadcast');
    assert.ok(rule.matches(to('10.1.2.255', [1, 17]), MODEL));
    assert.ok(!rule.matches(to('10.1.2.126'), MODEL));
    assert.ok(!rule.matches(to('10.1.2.255', [6]), MODEL), 'TCP is never broadcast');
    assert.ok(!rule.matches(to('10.1.2.255', [17, 6]), MODEL), 'a TCP flow in the sequence');
    assert.ok(!rule.matches(to('10.1.2.255', []), MODEL));
    assert.ok(!rule.matches(to('11.1.2.255'), MODEL), 'outside the networks');
    assert.ok(!rule.matches(to('ff02::ff'), MODEL), 'IPv6 has no broadcast');
    const netbios = networkRule('t', 'test', ['0.0.0.0/0'], { hostOnes: 8, dstPorts: [137, 138] });
    assert.ok(netbios.matches(to('198.51.100.255', [17], [138, 137]), MODEL));
    assert.ok(!netbios.matches(to('198.51.100.255', [17], [137, 53]), MODEL), 'every port must be listed');
    assert.ok(!netbios.matches(to('198.51.100.255', [17], []), MODEL));
  });

  it('infrastructure only and the model verdict alone', () => {
    const chatter = networkRule('t', 'test', ['0.0.0.0/0'], {
      infrastructureOnly: true,
      modelVerdictOnly: true,
    });
    const ping = to('192.0.2.1', [1], [0]);
    assert.ok(chatter.matches(ping, { flagged: false, infrastructureOnly: true }));
    assert.ok(!chatter.matches(ping, { flagged: true, infrastructureOnly: true }), 'a sub-score flagged it');
    assert.ok(!chatter.matches(ping, MODEL), 'a flow that is not an infrastructure request');
  });

  it('flags within a list: only those sub-scores flagged it (the model may have too); unknown names never match', () => {
    const rhythm = networkRule('t', 'test', ['0.0.0.0/0'], {
      infrastructureOnly: true,
      flagsWithin: ['beacon'],
    });
    const dns = to('192.168.1.1', [17], [53]);
    const infra = (flags?: string[]) => ({
      flagged: (flags?.length ?? 1) > 0,
      ...(flags === undefined ? {} : { flags }),
      infrastructureOnly: true,
    });
    assert.ok(rhythm.matches(dns, infra(['beacon'])));
    assert.ok(rhythm.matches(dns, infra([])), 'the model verdict alone');
    assert.ok(!rhythm.matches(dns, infra(['beacon', 'exfiltration'])), 'data moved through DNS');
    assert.ok(!rhythm.matches(dns, infra(['scan'])));
    assert.ok(!rhythm.matches(dns, infra()), 'flagged by sub-scores it was not told');
    assert.ok(!rhythm.matches(dns, { ...infra(['beacon']), infrastructureOnly: false }));
  });

  it("the initiator's bytes per packet: lookups carry a name, tunnels their data in it", () => {
    const rule = networkRule('t', 'test', ['0.0.0.0/0'], { maxFwdBytesPerPkt: 85 });
    const dns = (fwd_bytes?: number, fwd_pkts?: number) => ({
      ...to('192.168.1.210', [17], [53]),
      ...(fwd_bytes === undefined ? {} : { fwd_bytes }),
      ...(fwd_pkts === undefined ? {} : { fwd_pkts }),
    });
    assert.ok(rule.matches(dns(850, 10), MODEL), '85 bytes a packet');
    assert.ok(!rule.matches(dns(851, 10), MODEL), "dnscat2's 92-byte queries");
    assert.ok(!rule.matches(dns(0, 0), MODEL), 'nothing sent');
    assert.ok(!rule.matches(dns(), MODEL), 'no counts to read');
    assert.throws(() => networkRule('builtin:x', 'r', ['0.0.0.0/0'], { maxFwdBytesPerPkt: 0 }), {
      message: 'builtin rule builtin:x: max_fwd_bytes_per_pkt 0 is not a positive number',
    });
  });

  it("sub-score flags alone, and the initiator's fan-out; unknown verdicts and fan-outs never match", () => {
    const poller = networkRule('t', 'test', ['10.0.0.0/8'], {
      flagsWithin: ['beacon'],
      subScoresOnly: true,
      minInitiatorDsts: 20,
    });
    const scrape = to('10.0.1.10', [6], [9100]);
    const beacon = {
      flagged: true,
      flags: ['beacon'],
      byModel: false,
      initiatorDsts: 50,
      infrastructureOnly: false,
    };
    assert.ok(poller.matches(scrape, beacon));
    assert.ok(!poller.matches(scrape, { ...beacon, byModel: true }), 'the model raised it too');
    assert.ok(!poller.matches(scrape, { ...beacon, flagged: false, flags: [] }), 'the model alone');
    assert.ok(!poller.matches(scrape, { ...beacon, initiatorDsts: 19 }));
    const { byModel: _v, initiatorDsts: _d, ...unknown } = beacon;
    assert.ok(!poller.matches(scrape, unknown), 'neither the verdict nor the fan-out told');
    assert.throws(() => networkRule('builtin:x', 'r', ['10.0.0.0/8'], { minInitiatorDsts: 0.5 }), {
      message: 'builtin rule builtin:x: min_initiator_dsts 0.5 is not a positive integer',
    });
  });

  it('at most so many destinations, and networks the rule leaves out; an unknown fan-out is not few', () => {
    const clock = networkRule('t', 'test', ['0.0.0.0/0', '::/0'], {
      maxInitiatorDsts: 64,
      exceptNetworks: ['192.168.0.0/16', 'fe80::/10'],
    });
    const ntp = (ip: string) => to(ip, [17], [123]);
    const scan = {
      flagged: true,
      flags: ['scan'],
      byModel: false,
      initiatorDsts: 64,
      infrastructureOnly: true,
    };
    assert.ok(clock.matches(ntp('216.239.35.12'), scan));
    assert.ok(clock.matches(ntp('2001:4860:4806::'), scan));
    assert.ok(!clock.matches(ntp('216.239.35.12'), { ...scan, initiatorDsts: 65 }));
    assert.ok(!clock.matches(ntp('192.168.2.1'), scan), 'a left-out network');
    assert.ok(!clock.matches(ntp('::ffff:192.168.2.1'), scan), 'IPv4-mapped, as its IPv4 address');
    assert.ok(!clock.matches(ntp('fe80::1'), scan));
    const { initiatorDsts: _d, ...unknown } = scan;
    assert.ok(!clock.matches(ntp('216.239.35.12'), unknown), 'the fan-out not told');
    assert.throws(() => networkRule('builtin:x', 'r', ['0.0.0.0/0'], { maxInitiatorDsts: 0 }), {
      message: 'builtin rule builtin:x: max_initiator_dsts 0 is not a positive integer',
    });
    assert.throws(() => networkRule('builtin:x', 'r', ['0.0.0.0/0'], { exceptNetworks: ['10.0.0.0'] }), {
      message: 'builtin rule builtin:x: "10.0.0.0" is not an IPv4 or IPv6 network (address/prefix)',
    });
  });

  it('name a malformed network or condition of the spec', () => {
    assert.throws(() => networkRule('builtin:x', 'r', ['10.0.0.0/8'], { hostOnes: 32 }), {
      message: 'builtin rule builtin:x: responder_host_ones 32 is not 1-31',
    });
    assert.throws(() => networkRule('builtin:x', 'r', ['ff02::/16'], { hostOnes: 8 }), {
      message: 'builtin rule builtin:x: responder_host_ones needs IPv4 networks only (IPv6 has no broadcast)',
    });
    for (const bad of ['224.0.0.0/33', '224.0.0.0', 'ff02::/129', 'nowhere/8'])
      assert.throws(() => networkRule('builtin:x', 'r', [bad]), {
        message: `builtin rule builtin:x: "${bad}" is not an IPv4 or IPv6 network (address/prefix)`,
      });
  });

  it('are listed with their id and reason, and none applies from an empty list', () => {
    assert.deepEqual(
      BUILTIN_RULES.map((r) => r.id),
      [
        'builtin:local-discovery',
        'builtin:subnet-broadcast',
        'builtin:netbios-broadcast',
        'builtin:infrastructure-chatter',
        'builtin:infrastructure-rhythm',
        'builtin:internal-poller',
        'builtin:clock-sync-retries',
      ],
    );
    assert.match(LOCAL_DISCOVERY_RULE.reason, /link-local multicast group/);
    assert.equal(matchBuiltinRule(to('224.0.0.251'), MODEL, []), null);
  });
});
