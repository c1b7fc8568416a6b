import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import spec from '../spec/builtin-rules.json' with { type: 'json' };
import { BUILTIN_RULES, GROUP_DESTINATION_RULE, matchBuiltinRule } from '../src/index.ts';

const to = (dst_ip: string) => ({ src_ip: '10.0.0.7', dst_ip });

describe('built-in suppression rules', () => {
  it('match the responder of every case in spec/builtin-rules.json (model/tests checks the same cases)', () => {
    assert.ok(spec.cases.length >= 10);
    for (const c of spec.cases) assert.equal(matchBuiltinRule(to(c.dst_ip))?.id ?? null, c.rule, c.dst_ip);
  });

  it('look at the responder only', () => {
    assert.equal(matchBuiltinRule({ src_ip: '224.0.0.251', dst_ip: '10.0.0.1' }), null);
  });

  it('are listed with their id and reason, and none applies from an empty list', () => {
    assert.deepEqual(
      BUILTIN_RULES.map((r) => r.id),
      ['builtin:multicast-broadcast'],
    );
    assert.match(GROUP_DESTINATION_RULE.reason, /multicast group or the broadcast address/);
    assert.equal(matchBuiltinRule(to('224.0.0.251'), []), null);
  });
});
