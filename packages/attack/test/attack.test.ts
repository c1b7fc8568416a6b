import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { needsShared, sharedPath } from '@tidewatch/testing';
import {
  AttackCatalogueError,
  fullName,
  loadAttackCatalogue,
  TACTICS,
  TECHNIQUES,
  tactic,
  technique,
} from '../src/index.ts';

const REQUIRED = [
  'T1595',
  'T1595.001',
  'T1595.002',
  'T1046',
  'T1018',
  'T1110',
  'T1110.001',
  'T1110.003',
  'T1190',
  'T1498',
  'T1499',
  'T1071',
  'T1071.001',
  'T1071.004',
  'T1095',
  'T1105',
  'T1571',
  'T1572',
  'T1041',
  'T1048',
  'T1021',
  'T1021.002',
  'T1047',
];

describe('built-in ATT&CK data', () => {
  it('has the 14 enterprise tactics with unique ids and shortnames', () => {
    assert.equal(TACTICS.length, 14);
    assert.equal(new Set(TACTICS.map((t) => t.id)).size, 14);
    assert.equal(new Set(TACTICS.map((t) => t.shortname)).size, 14);
    assert.deepEqual(tactic('command-and-control'), {
      id: 'TA0011',
      name: 'Command and Control',
      shortname: 'command-and-control',
    });
    assert.equal(tactic('TA0040')?.name, 'Impact');
  });

  it('covers every technique the product predicts, each under known tactics', () => {
    for (const id of REQUIRED) assert.ok(technique(id), id);
    for (const t of TECHNIQUES) {
      for (const tid of t.tactics) assert.ok(tactic(tid), `${t.id} → ${tid}`);
      assert.equal(t.subtechnique, t.id.includes('.'));
    }
    assert.equal(fullName(technique('T1110.003')!), 'Brute Force: Password Spraying');
    assert.equal(fullName(technique('T1046')!), 'Network Service Discovery');
  });
});

describe('loadAttackCatalogue (ATT&CK v18.1 in ../shared)', { skip: needsShared().skip }, () => {
  const json = () =>
    loadAttackCatalogue(sharedPath('data', 'attack', 'attack-enterprise-v18.1.compact.json'));
  const tsv = () =>
    loadAttackCatalogue(sharedPath('data', 'attack', 'attack-enterprise-v18.1.techniques.tsv'));

  it('reads the compact JSON: 14 tactics and every active technique', () => {
    const catalogue = json();
    assert.match(catalogue.source ?? '', /ATT&CK v18\.1 Enterprise/);
    assert.equal(catalogue.tactics.length, 14);
    assert.equal(catalogue.techniques.length, 691);
    assert.deepEqual(catalogue.skipped, []);
    assert.deepEqual(catalogue.technique('T1021.002'), {
      id: 'T1021.002',
      name: 'SMB/Windows Admin Shares',
      tactics: ['TA0008'],
      subtechnique: true,
      platforms: ['Windows'],
    });
  });

  it('agrees with the built-in tactics and techniques (ids, names, tactic ids, order)', () => {
    const catalogue = json();
    assert.deepEqual(catalogue.tactics, [...TACTICS]);
    for (const t of TECHNIQUES) {
      const full = catalogue.technique(t.id);
      assert.ok(full, `${t.id} is in ATT&CK v18.1`);
      assert.deepEqual({ ...full, platforms: undefined }, { ...t, platforms: undefined }, t.id);
    }
  });

  it('reads the TSV to the same techniques as the JSON', () => {
    const a = json();
    const b = tsv();
    assert.deepEqual(b.skipped, []);
    assert.equal(b.techniques.length, a.techniques.length);
    for (const t of b.techniques) {
      const { platforms: _p, ...fromJson } = a.technique(t.id)!;
      assert.deepEqual(t, fromJson, t.id);
    }
    assert.deepEqual(b.technique('T1037')?.tactics, ['TA0003', 'TA0004']);
  });
});

describe('loadAttackCatalogue on bad files', () => {
  it('skips malformed rows with the reason and rejects unreadable or malformed files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-attack-'));
    try {
      const tsvPath = join(dir, 'bad.tsv');
      writeFileSync(
        tsvPath,
        'technique_id\tname\ttactics\tis_subtechnique\nT1046\tNetwork Service Discovery\tdiscovery\tfalse\nX1\tOops\tdiscovery\tfalse\nT1001\tData Obfuscation\tnot-a-tactic\tfalse\n',
      );
      const catalogue = loadAttackCatalogue(tsvPath);
      assert.deepEqual(
        catalogue.techniques.map((t) => t.id),
        ['T1046'],
      );
      assert.deepEqual(catalogue.skipped, [
        { at: 3, reason: 'invalid technique id "X1"' },
        { at: 4, reason: 'T1001: unknown tactic "not-a-tactic"' },
      ]);
      const jsonPath = join(dir, 'bad.json');
      writeFileSync(jsonPath, '{"tactics": 1}');
      assert.throws(() => loadAttackCatalogue(jsonPath), {
        name: 'AttackCatalogueError',
        message: `${jsonPath}: expected an object with "tactics" and "techniques" arrays`,
      });
      assert.throws(() => loadAttackCatalogue(join(dir, 'missing.json')), AttackCatalogueError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
