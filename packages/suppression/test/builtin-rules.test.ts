import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import spec from '../spec/builtin-rules.json' with { type: 'json' };
import { BUILTIN_RULES, LOCAL_DISCOVERY_RULE, matchBuiltinRule, networkRule } from '../src/index.ts';

const PACKET = { fwd_bytes: 76, fwd_pkts: 1, bwd_bytes: 76, bwd_pkts: 1 };
const to = (dst_ip: string, protocols: number[] = [17], dst_ports: number[] = [9]) => ({
  src_ip: '10.0.0.7',
  dst_ip,
  protocols,
  dst_ports,
  ...PACKET,
});

describe('built-in suppression rules', () => {
  it('match the responder of every case in spec/builtin-rules.json (model/tests checks the same cases)', () => {
    assert.ok(spec.cases.length >= 20);
    type Case = Partial<typeof PACKET> & {
      dst_ip: string;
      protocols?: number[];
      dst_ports?: number[];
      flagged?: boolean;
      rule: string | null;
    };
    for (const c of spec.cases as Case[]) {
      const { dst_ip, protocols, dst_ports, flagged, rule, ...counters } = c;
      const finding = { ...to(dst_ip, protocols, dst_ports), ...counters };
      assert.equal(matchBuiltinRule(finding, flagged ?? false)?.id ?? null, rule, JSON.stringify(c));
    }
  });

  it('look at the responder only', () => {
    assert.equal(matchBuiltinRule({ ...to('10.0.0.1'), src_ip: '224.0.0.251' }, false), null);
    assert.equal(matchBuiltinRule({ ...to('10.0.0.1'), src_ip: '10.0.0.255' }, false), null);
  });

  it('match prefixes of any length, IPv4 and IPv6', () => {
    const rule = networkRule('t', 'test', ['10.1.2.128/25', '2001:db8:8000::/33', '0.0.0.0/0']);
    assert.ok(rule.matches(to('10.1.2.200'), false));
    assert.ok(rule.matches(to('192.0.2.1'), false), '/0 holds every IPv4 address');
    assert.ok(rule.matches(to('2001:db8:ffff::1'), false));
    assert.ok(!rule.matches(to('2001:db8:7fff::1'), false));
    assert.ok(!rule.matches(to('2001:db9::1'), false));
    const narrow = networkRule('t', 'test', ['10.1.2.128/25']);
    assert.ok(!narrow.matches(to('10.1.2.127'), false));
    assert.ok(narrow.matches(to('::ffff:10.1.2.129'), false));
  });

  it('a subnet broadcast: host bits all ones, inside the networks, every protocol listed', () => {
    const rule = networkRule('t', 'test', ['10.0.0.0/8'], { hostOnes: 7, protocols: [17, 1] });
    assert.ok(rule.matches(to('10.1.2.127'), false), 'a /25 broadcast');
    assert.ok(rule.matches(to('10.1.2.255', [1, 17]), false));
    assert.ok(!rule.matches(to('10.1.2.126'), false));
    assert.ok(!rule.matches(to('10.1.2.255', [6]), false), 'TCP is never broadcast');
    assert.ok(!rule.matches(to('10.1.2.255', [17, 6]), false), 'a TCP flow in the sequence');
    assert.ok(!rule.matches(to('10.1.2.255', []), false));
    assert.ok(!rule.matches(to('11.1.2.255'), false), 'outside the networks');
    assert.ok(!rule.matches(to('ff02::ff'), false), 'IPv6 has no broadcast');
    const netbios = networkRule('t', 'test', ['0.0.0.0/0'], { hostOnes: 8, dstPorts: [137, 138] });
    assert.ok(netbios.matches(to('198.51.100.255', [17], [138, 137]), false));
    assert.ok(!netbios.matches(to('198.51.100.255', [17], [137, 53]), false), 'every port must be listed');
    assert.ok(!netbios.matches(to('198.51.100.255', [17], []), false));
  });

  it('answered, bytes per packet and the model verdict alone', () => {
    const ping = networkRule('t', 'test', ['0.0.0.0/0'], {
      protocols: [1],
      answered: true,
      maxBytesPerPacket: 128,
      modelVerdictOnly: true,
    });
    const echo = (fwd_pkts: number, bwd_pkts: number, bytes: number) => ({
      ...to('192.0.2.1', [1], [0]),
      fwd_pkts,
      bwd_pkts,
      fwd_bytes: fwd_pkts * bytes,
      bwd_bytes: bwd_pkts * bytes,
    });
    assert.ok(ping.matches(echo(4, 4, 84), false));
    assert.ok(ping.matches(echo(1, 2, 128), false), 'a duplicate reply is still answered');
    assert.ok(!ping.matches(echo(4, 4, 84), true), 'a sub-score flagged it: not the model alone');
    assert.ok(!ping.matches(echo(4, 3, 84), false), 'one request unanswered');
    assert.ok(!ping.matches(echo(0, 0, 84), false));
    assert.ok(!ping.matches(echo(2, 2, 129), false), 'bigger than a ping: a tunnel is for the model');
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
        'builtin:name-time-client',
        'builtin:answered-ping',
      ],
    );
    assert.match(LOCAL_DISCOVERY_RULE.reason, /link-local multicast group/);
    assert.equal(matchBuiltinRule(to('224.0.0.251'), false, []), null);
  });
});
