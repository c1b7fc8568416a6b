import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import spec from '../spec/builtin-rules.json' with { type: 'json' };
import { BUILTIN_RULES, LOCAL_DISCOVERY_RULE, matchBuiltinRule, networkRule } from '../src/index.ts';

const to = (dst_ip: string, protocols: number[] = [17], dst_ports: number[] = [137]) => ({
  src_ip: '10.0.0.7',
  dst_ip,
  protocols,
  dst_ports,
});

describe('built-in suppression rules', () => {
  it('match the responder of every case in spec/builtin-rules.json (model/tests checks the same cases)', () => {
    assert.ok(spec.cases.length >= 20);
    type Case = { dst_ip: string; protocols?: number[]; dst_ports?: number[]; rule: string | null };
    for (const c of spec.cases as Case[])
      assert.equal(
        matchBuiltinRule(to(c.dst_ip, c.protocols, c.dst_ports))?.id ?? null,
        c.rule,
        `${c.dst_ip} ${c.protocols} ${c.dst_ports}`,
      );
  });

  it('look at the responder only', () => {
    assert.equal(matchBuiltinRule({ ...to('10.0.0.1'), src_ip: '224.0.0.251' }), null);
    assert.equal(matchBuiltinRule({ ...to('10.0.0.1'), src_ip: '10.0.0.255' }), null);
  });

  it('match prefixes of any length, IPv4 and IPv6', () => {
    const rule = networkRule('t', 'test', ['10.1.2.128/25', '2001:db8:8000::/33', '0.0.0.0/0']);
    assert.ok(rule.matches(to('10.1.2.200')));
    assert.ok(rule.matches(to('192.0.2.1')), '/0 holds every IPv4 address');
    assert.ok(rule.matches(to('2001:db8:ffff::1')));
    assert.ok(!rule.matches(to('2001:db8:7fff::1')));
    assert.ok(!rule.matches(to('2001:db9::1')));
    const narrow = networkRule('t', 'test', ['10.1.2.128/25']);
    assert.ok(!narrow.matches(to('10.1.2.127')));
    assert.ok(narrow.matches(to('::ffff:10.1.2.129')));
  });

  it('a subnet broadcast: host bits all ones, inside the networks, every protocol listed', () => {
    const rule = networkRule('t', 'test', ['10.0.0.0/8'], { hostOnes: 7, protocols: [17, 1] });
    assert.ok(rule.matches(to('10.1.2.127')), 'a /25 broadcast');
    assert.ok(rule.matches(to('10.1.2.255', [1, 17])));
    assert.ok(!rule.matches(to('10.1.2.126')));
    assert.ok(!rule.matches(to('10.1.2.255', [6])), 'TCP is never broadcast');
    assert.ok(!rule.matches(to('10.1.2.255', [17, 6])), 'a TCP flow in the sequence');
    assert.ok(!rule.matches(to('10.1.2.255', [])));
    assert.ok(!rule.matches(to('11.1.2.255')), 'outside the networks');
    assert.ok(!rule.matches(to('ff02::ff')), 'IPv6 has no broadcast');
    const netbios = networkRule('t', 'test', ['0.0.0.0/0'], { hostOnes: 8, dstPorts: [137, 138] });
    assert.ok(netbios.matches(to('198.51.100.255', [17], [138, 137])));
    assert.ok(!netbios.matches(to('198.51.100.255', [17], [137, 53])), 'every port must be listed');
    assert.ok(!netbios.matches(to('198.51.100.255', [17], [])));
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
      ['builtin:local-discovery', 'builtin:subnet-broadcast', 'builtin:netbios-broadcast'],
    );
    assert.match(LOCAL_DISCOVERY_RULE.reason, /link-local multicast group/);
    assert.equal(matchBuiltinRule(to('224.0.0.251'), []), null);
  });
});
