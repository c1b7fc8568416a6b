import type { Finding } from '@tidewatch/contracts';
import { ADDRESS_SCOPES, addressScopeIndex } from '@tidewatch/features';
import spec from '../spec/builtin-rules.json' with { type: 'json' };

/**
 * A rule that ships with the product (`spec/builtin-rules.json`, read by the Python evaluation
 * too). It matches on the finding's own fields (no example, no analyst) and is recorded like a
 * stored rule: status `suppressed`, `suppressed_by` = its id.
 */
export interface BuiltinRule {
  id: string;
  reason: string;
  matches(finding: Pick<Finding, 'src_ip' | 'dst_ip'>): boolean;
}

function scopeRule(id: string, reason: string, scopes: readonly string[]): BuiltinRule {
  const wanted = scopes.map((s) => {
    const i = ADDRESS_SCOPES.indexOf(s);
    if (i < 0) throw new Error(`builtin rule ${id}: unknown address scope "${s}"`);
    return i;
  });
  return { id, reason, matches: (finding) => wanted.includes(addressScopeIndex(finding.dst_ip)) };
}

/**
 * Traffic to a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8) or to 255.255.255.255 is a host
 * announcing itself or asking its segment (mDNS, SSDP, LLMNR, IPv6 neighbour and router discovery,
 * MLD reports, DHCP): nobody answers as the responder of a conversation, so flows to a group look
 * like unanswered probes to a model and to the scan rules. On the labelled IoT-23 honeypot
 * captures these were 155 of the 233 false positives. The attacks that matter reach a unicast
 * responder (a poisoner's LLMNR answer, a reflector's flood), so nothing an analyst needs is hidden.
 */
export const BUILTIN_RULES: readonly BuiltinRule[] = spec.rules.map((r) =>
  scopeRule(r.id, r.reason, r.responder_scopes),
);

export const GROUP_DESTINATION_RULE = BUILTIN_RULES.find(
  (r) => r.id === 'builtin:multicast-broadcast',
) as BuiltinRule;

/** The first built-in rule that matches, or null. */
export function matchBuiltinRule(
  finding: Pick<Finding, 'src_ip' | 'dst_ip'>,
  rules: readonly BuiltinRule[] = BUILTIN_RULES,
): BuiltinRule | null {
  for (const rule of rules) if (rule.matches(finding)) return rule;
  return null;
}
