import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import spec from '../spec/builtin-rules.json' with { type: 'json' };
import { BUILTIN_RULES, LOCAL_DISCOVERY_RULE, matchBuiltinRule, networkRule } from '../src/index.ts';

const to = (dst_ip: string) => ({ src_ip: '10.0.0.7', dst_ip });

describe('built-in suppression rules', () => {
  it('match the responder of every case in spec/builtin-rules.json (model/tests checks the same cases)', () => {
    assert.ok(spec.cases.length >= 20);
    for (const c of spec.cases) assert.equal(matchBuiltinRule(to(c.dst_ip))?.id ?? null, c.rule, c.dst_ip);
  });

  it('look at the responder only', () => {
    assert.equal(matchBuiltinRule({ src_ip: '224.0.0.251', dst_ip: '10.0.0.1' }), null);
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

  it('name a malformed network of the spec', () => {
    for (const bad of ['224.0.0.0/33', '224.0.0.0', 'ff02::/129', 'nowhere/8'])
      assert.throws(() => networkRule('builtin:x', 'r', [bad]), {
        message: `builtin rule builtin:x: "${bad}" is not an IPv4 or IPv6 network (address/prefix)`,
      });
  });

  it('are listed with their id and reason, and none applies from an empty list', () => {
    assert.deepEqual(
      BUILTIN_RULES.map((r) => r.id),
      ['builtin:local-discovery'],
    );
    assert.match(LOCAL_DISCOVERY_RULE.reason, /link-local multicast group/);
    assert.equal(matchBuiltinRule(to('224.0.0.251'), []), null);
  });
});
