/**
 * ATT&CK v18.1 enterprise tactic names and the technique the product proposes per tactic when the
 * model's manifest carries no learned table (`technique_by_tactic`). The technique is the one the
 * training labels map to most often for that tactic (scans → T1046, brute force → T1110, ...).
 */
export const TACTIC_NAMES: Readonly<Record<string, string>> = {
  TA0043: 'Reconnaissance',
  TA0042: 'Resource Development',
  TA0001: 'Initial Access',
  TA0002: 'Execution',
  TA0003: 'Persistence',
  TA0004: 'Privilege Escalation',
  TA0005: 'Defense Evasion',
  TA0006: 'Credential Access',
  TA0007: 'Discovery',
  TA0008: 'Lateral Movement',
  TA0009: 'Collection',
  TA0011: 'Command and Control',
  TA0010: 'Exfiltration',
  TA0040: 'Impact',
};

export interface TechniqueGuess {
  id: string;
  name: string;
  /** P(technique | tactic) prior. */
  prior: number;
}

export const DEFAULT_TECHNIQUE_BY_TACTIC: Readonly<Record<string, TechniqueGuess[]>> = {
  TA0043: [{ id: 'T1595', name: 'Active Scanning', prior: 1 }],
  TA0007: [{ id: 'T1046', name: 'Network Service Discovery', prior: 1 }],
  TA0006: [{ id: 'T1110', name: 'Brute Force', prior: 1 }],
  TA0011: [{ id: 'T1071', name: 'Application Layer Protocol', prior: 1 }],
  TA0010: [{ id: 'T1048', name: 'Exfiltration Over Alternative Protocol', prior: 1 }],
  TA0040: [{ id: 'T1498', name: 'Network Denial of Service', prior: 1 }],
  TA0001: [{ id: 'T1190', name: 'Exploit Public-Facing Application', prior: 1 }],
  TA0008: [{ id: 'T1021', name: 'Remote Services', prior: 1 }],
  TA0002: [{ id: 'T1059', name: 'Command and Scripting Interpreter', prior: 1 }],
};
