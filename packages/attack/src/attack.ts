/** ATT&CK Enterprise v18.1: the tactics and the techniques Tidewatch can predict from flows. */
export const ATTACK_VERSION = '18.1';

export interface Tactic {
  id: string;
  name: string;
  /** The STIX `x_mitre_shortname` (e.g. `command-and-control`). */
  shortname: string;
}

export interface Technique {
  id: string;
  /** The name as ATT&CK lists it; sub-techniques without their parent (see fullName). */
  name: string;
  /** Tactic ids (TA....), in ATT&CK's order. */
  tactics: string[];
  subtechnique: boolean;
  platforms?: string[];
}

/** The 14 Enterprise tactics in kill-chain order (the order of the model's tactic_probs). */
export const TACTICS: readonly Tactic[] = [
  { id: 'TA0043', name: 'Reconnaissance', shortname: 'reconnaissance' },
  { id: 'TA0042', name: 'Resource Development', shortname: 'resource-development' },
  { id: 'TA0001', name: 'Initial Access', shortname: 'initial-access' },
  { id: 'TA0002', name: 'Execution', shortname: 'execution' },
  { id: 'TA0003', name: 'Persistence', shortname: 'persistence' },
  { id: 'TA0004', name: 'Privilege Escalation', shortname: 'privilege-escalation' },
  { id: 'TA0005', name: 'Defense Evasion', shortname: 'defense-evasion' },
  { id: 'TA0006', name: 'Credential Access', shortname: 'credential-access' },
  { id: 'TA0007', name: 'Discovery', shortname: 'discovery' },
  { id: 'TA0008', name: 'Lateral Movement', shortname: 'lateral-movement' },
  { id: 'TA0009', name: 'Collection', shortname: 'collection' },
  { id: 'TA0011', name: 'Command and Control', shortname: 'command-and-control' },
  { id: 'TA0010', name: 'Exfiltration', shortname: 'exfiltration' },
  { id: 'TA0040', name: 'Impact', shortname: 'impact' },
];

/** Techniques visible in flow telemetry (scans, brute force, DoS, C2 patterns, exfiltration...). */
export const TECHNIQUES: readonly Technique[] = [
  { id: 'T1595', name: 'Active Scanning', tactics: ['TA0043'], subtechnique: false },
  { id: 'T1595.001', name: 'Scanning IP Blocks', tactics: ['TA0043'], subtechnique: true },
  { id: 'T1595.002', name: 'Vulnerability Scanning', tactics: ['TA0043'], subtechnique: true },
  { id: 'T1595.003', name: 'Wordlist Scanning', tactics: ['TA0043'], subtechnique: true },
  { id: 'T1046', name: 'Network Service Discovery', tactics: ['TA0007'], subtechnique: false },
  { id: 'T1018', name: 'Remote System Discovery', tactics: ['TA0007'], subtechnique: false },
  { id: 'T1110', name: 'Brute Force', tactics: ['TA0006'], subtechnique: false },
  { id: 'T1110.001', name: 'Password Guessing', tactics: ['TA0006'], subtechnique: true },
  { id: 'T1110.003', name: 'Password Spraying', tactics: ['TA0006'], subtechnique: true },
  { id: 'T1110.004', name: 'Credential Stuffing', tactics: ['TA0006'], subtechnique: true },
  { id: 'T1190', name: 'Exploit Public-Facing Application', tactics: ['TA0001'], subtechnique: false },
  { id: 'T1498', name: 'Network Denial of Service', tactics: ['TA0040'], subtechnique: false },
  { id: 'T1498.001', name: 'Direct Network Flood', tactics: ['TA0040'], subtechnique: true },
  { id: 'T1498.002', name: 'Reflection Amplification', tactics: ['TA0040'], subtechnique: true },
  { id: 'T1499', name: 'Endpoint Denial of Service', tactics: ['TA0040'], subtechnique: false },
  { id: 'T1499.002', name: 'Service Exhaustion Flood', tactics: ['TA0040'], subtechnique: true },
  { id: 'T1071', name: 'Application Layer Protocol', tactics: ['TA0011'], subtechnique: false },
  { id: 'T1071.001', name: 'Web Protocols', tactics: ['TA0011'], subtechnique: true },
  { id: 'T1071.002', name: 'File Transfer Protocols', tactics: ['TA0011'], subtechnique: true },
  { id: 'T1071.004', name: 'DNS', tactics: ['TA0011'], subtechnique: true },
  { id: 'T1095', name: 'Non-Application Layer Protocol', tactics: ['TA0011'], subtechnique: false },
  { id: 'T1105', name: 'Ingress Tool Transfer', tactics: ['TA0011'], subtechnique: false },
  { id: 'T1571', name: 'Non-Standard Port', tactics: ['TA0011'], subtechnique: false },
  { id: 'T1572', name: 'Protocol Tunneling', tactics: ['TA0011'], subtechnique: false },
  { id: 'T1573', name: 'Encrypted Channel', tactics: ['TA0011'], subtechnique: false },
  { id: 'T1090', name: 'Proxy', tactics: ['TA0011'], subtechnique: false },
  { id: 'T1041', name: 'Exfiltration Over C2 Channel', tactics: ['TA0010'], subtechnique: false },
  { id: 'T1048', name: 'Exfiltration Over Alternative Protocol', tactics: ['TA0010'], subtechnique: false },
  {
    id: 'T1048.003',
    name: 'Exfiltration Over Unencrypted Non-C2 Protocol',
    tactics: ['TA0010'],
    subtechnique: true,
  },
  { id: 'T1021', name: 'Remote Services', tactics: ['TA0008'], subtechnique: false },
  { id: 'T1021.001', name: 'Remote Desktop Protocol', tactics: ['TA0008'], subtechnique: true },
  { id: 'T1021.002', name: 'SMB/Windows Admin Shares', tactics: ['TA0008'], subtechnique: true },
  { id: 'T1021.004', name: 'SSH', tactics: ['TA0008'], subtechnique: true },
  { id: 'T1047', name: 'Windows Management Instrumentation', tactics: ['TA0002'], subtechnique: false },
];

const tacticsById = new Map(TACTICS.map((t) => [t.id, t]));
const tacticsByShortname = new Map(TACTICS.map((t) => [t.shortname, t]));
const techniquesById = new Map(TECHNIQUES.map((t) => [t.id, t]));

/** A tactic by id (TA0011) or shortname (command-and-control). */
export function tactic(idOrShortname: string): Tactic | undefined {
  return tacticsById.get(idOrShortname) ?? tacticsByShortname.get(idOrShortname);
}

/** One of the techniques the product predicts, by id. */
export function technique(id: string): Technique | undefined {
  return techniquesById.get(id);
}

/** `T1110.001` → `T1110`; a parent technique is its own parent. */
export function parentTechniqueId(id: string): string {
  return id.split('.')[0]!;
}

/**
 * The display name ATT&CK uses: `Brute Force: Password Guessing` for a sub-technique, resolved in
 * the given list (the built-in one by default).
 */
export function fullName(t: Technique, within: readonly Technique[] = TECHNIQUES): string {
  if (!t.subtechnique) return t.name;
  const parentId = parentTechniqueId(t.id);
  const parent = within.find((x) => x.id === parentId);
  return parent ? `${parent.name}: ${t.name}` : t.name;
}
