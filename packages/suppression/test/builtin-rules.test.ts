import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_RULES, GROUP_DESTINATION_RULE, matchBuiltinRule } from '../src/index.ts';

const to = (dst_ip: string) => ({ src_ip: '10.0.0.7', dst_ip });

describe('built-in suppression rules', () => {
  it('match a multicast group or the broadcast address as the responder', () => {
    for (const dst of [
      '224.0.0.251', // mDNS
      '224.0.0.252', // LLMNR
      '239.255.255.250', // SSDP
      '255.255.255.255',
      'ff02::fb',
      'ff02::16', // MLDv2 reports
      'ff02::1:ff3e:adf4', // solicited-node (neighbour discovery)
      'FF05::1:3',
      '::ffff:224.0.0.1',
    ])
      assert.equal(matchBuiltinRule(to(dst))?.id, 'builtin:multicast-broadcast', dst);
  });

  it('leave unicast responders, a subnet ".255" host and text that is no address alone', () => {
    for (const dst of [
      '10.0.0.255',
      '192.168.2.1',
      '8.8.8.8',
      '223.255.255.255',
      'fe80::1',
      '2001:db8::1',
      'host.example',
      '',
    ])
      assert.equal(matchBuiltinRule(to(dst)), null, dst);
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
