import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Sequence, SequenceFlow } from '@tidewatch/contracts';
import {
  FEATURES_V1,
  FLOW_FEATURE_COUNT,
  type SubScoreVersion,
  sequenceFeatures,
  subScores,
} from '@tidewatch/features';
import { EmbeddedStore, findingOfRow } from '@tidewatch/vector-store';
import {
  Detector,
  FeatureSpecMismatchError,
  type NeighbourIndex,
  lengthBuckets,
  ModelHost,
  ModelNotFoundError,
  severityOf,
  tacticCandidates,
  techniqueCandidates,
  techniqueTable,
  withInboundScan,
  withReflection,
  workerIntraOpThreads,
} from '../src/index.ts';
import { copiedRepository, repository } from './model-fixture.ts';

function flow(i: number, over: Partial<SequenceFlow> = {}): SequenceFlow {
  return {
    start_ms: 1_700_000_000_000 + i * 1500,
    end_ms: 1_700_000_000_000 + i * 1500 + 40 + i,
    protocol: 6,
    src_port: 40000 + i,
    dst_port: i % 3 === 0 ? 22 : 443,
    fwd_bytes: 300 + 17 * i,
    fwd_pkts: 3 + (i % 4),
    bwd_bytes: i % 5 === 0 ? 0 : 1200 + i,
    bwd_pkts: i % 5 === 0 ? 0 : 4,
    tcp_flags: 0x1b,
    label: null,
    attack: null,
    origin: `test:${i}`,
    ...over,
  };
}

export function sequence(n: number, seed = 0): Sequence {
  return {
    sequence_id: `00000000-0000-5000-8000-${(seed * 1000 + n).toString(16).padStart(12, '0')}`,
    src_ip: '10.0.0.1',
    dst_ip: '10.0.0.2',
    window_start_ms: 1_700_000_000_000,
    window_end_ms: 1_700_000_300_000,
    part: 0,
    flows: Array.from({ length: n }, (_, i) => flow(i + seed)),
    context: { distinct_dsts: 1 + seed, distinct_dst_ports: 2, connections: n },
  };
}

describe('model repository and loading', () => {
  it('lists versions with the default marked and loads the default', async () => {
    const versions = await repository.list();
    const def = await repository.defaultVersion();
    assert.ok(versions.some((v) => v.version === def && v.is_default));
    const model = await repository.load();
    assert.equal(model.version, def);
    assert.deepEqual(model.buckets, lengthBuckets(model.manifest.max_len));
    await model.release();
  });

  it('refuses a model whose feature spec hash differs, naming both hashes', async () => {
    const repo = await copiedRepository(['stale'], (m) => {
      m['feature_spec_hash'] = 'deadbeef';
    });
    try {
      await assert.rejects(repo.load('stale'), (e: unknown) => {
        assert.ok(e instanceof FeatureSpecMismatchError);
        assert.match(
          e.message,
          /model stale .* hash deadbeef, but @tidewatch\/features implements features\.v1 \([0-9a-f]{64}\), features\.v2 \([0-9a-f]{64}\)/,
        );
        return true;
      });
    } finally {
      await rm(repo.root, { recursive: true, force: true });
    }
  });

  it('selects the feature implementation by the manifest hash, and refuses a name that contradicts it', async () => {
    const repo = await copiedRepository(['v1-model', 'misnamed'], (m, v) => {
      m['feature_spec_hash'] = FEATURES_V1.hash;
      m['feature_spec'] = v === 'misnamed' ? 'features.v2' : 'features.v1';
    });
    try {
      const model = await repo.load('v1-model');
      assert.equal(model.featureSpec, FEATURES_V1);
      assert.equal(model.allocate(3, 2).contextWidth, 4);
      await model.release();
      await assert.rejects(repo.load('misnamed'), FeatureSpecMismatchError);
    } finally {
      await rm(repo.root, { recursive: true, force: true });
    }
  });

  it('names a missing version', async () => {
    await assert.rejects(repository.load('no-such-version'), ModelNotFoundError);
  });
});

describe('bucketed inference', () => {
  it('pads to the length bucket only, and padding never changes a result', async () => {
    const model = await repository.load();
    try {
      const lengths = [1, 2, 3, 5, 9, 17, 1, 4, Math.min(40, model.manifest.max_len)];
      const seqs = lengths.map((n, i) => sequence(n, i));
      const feats = seqs.map((s) => sequenceFeatures(s, model.featureSpec));
      const batched = await model.run(feats);
      for (let i = 0; i < seqs.length; i++) {
        const f = feats[i];
        assert.ok(f);
        assert.equal(f.flow.length, (lengths[i] as number) * FLOW_FEATURE_COUNT);
        assert.ok(
          model.bucketFor(f.length) < model.manifest.max_len || f.length > model.manifest.max_len / 2,
        );
        const [alone] = await model.runPadded([f], f.length);
        const b = batched[i];
        assert.ok(alone && b);
        assert.ok(
          Math.abs(alone.score - b.score) < 1e-4,
          `score of length ${f.length}: ${alone.score} vs ${b.score}`,
        );
        assert.ok(Math.abs(alone.anomaly - b.anomaly) < 1e-4);
        for (let j = 0; j < b.embedding.length; j++) {
          assert.ok(Math.abs((alone.embedding[j] as number) - (b.embedding[j] as number)) < 1e-4);
        }
      }
    } finally {
      await model.release();
    }
  });
});

describe('Detector', () => {
  it('builds findings with the fields in the stored payload order (the JSON text of a point)', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      const scored = await new Detector(host, { flagThreshold: 0 }).score([sequence(1), sequence(7, 2)]);
      for (const s of scored) {
        assert.deepEqual(Object.keys(s.finding), [
          ...['sequence_id', 'window_start_ms', 'window_end_ms', 'first_seen_ms', 'last_seen_ms'],
          ...['src_ip', 'dst_ip', 'dst_ports', 'protocols', 'connections', 'fwd_bytes', 'bwd_bytes'],
          ...['fwd_pkts', 'bwd_pkts', 'label', 'score', 'anomaly', 'verdict', 'tactics', 'techniques'],
          ...['severity', 'model_version', 'status', 'explanation', 'suppressed_by', 'scored_at_ms'],
        ]);
        assert.deepEqual(Object.keys(s.finding.explanation), ['subscores', 'top_features', 'neighbours']);
      }
    } finally {
      await host.close();
    }
  });

  it('maps outputs to findings: threshold verdict, trained tactics only, severity, explanation', async () => {
    const host = await ModelHost.open(repository);
    try {
      const det = new Detector(host, { clock: () => 42 });
      const seqs = [sequence(1), sequence(6, 1), sequence(30, 2)];
      const scored = await det.score(seqs);
      const manifest = host.current.manifest;
      assert.equal(scored.length, 3);
      for (const [i, s] of scored.entries()) {
        const f = s.finding;
        assert.equal(f.sequence_id, seqs[i]?.sequence_id);
        assert.equal(f.connections, seqs[i]?.flows.length);
        assert.ok(f.score >= 0 && f.score <= 1);
        assert.equal(f.verdict, f.score >= manifest.thresholds.score ? 'malicious' : 'benign');
        assert.equal(f.model_version, manifest.version);
        assert.equal(f.scored_at_ms, 42);
        assert.equal(f.status, 'new');
        assert.equal(s.embedding.length, manifest.embedding_dim);
        // A benign verdict names a tactic only when a rule's flag means one: here 10 SSH logins in
        // sequence(30) (subscores.v5's repeated-login term) mean Credential Access / Brute Force.
        if (f.verdict === 'benign')
          assert.deepEqual(
            f.tactics.map((t) => t.id),
            s.flags.includes('brute_force') ? ['TA0006'] : [],
          );
        if (f.verdict === 'benign' && s.flags.includes('brute_force'))
          assert.deepEqual(f.techniques, [{ id: 'T1110', name: 'Brute Force', probability: 1 }]);
        assert.equal(f.explanation.top_features.length, s.alert ? 5 : 0);
        assert.deepEqual(Object.keys(f.explanation.subscores).sort(), [
          'beacon',
          'brute_force',
          'exfiltration',
          'reflection',
          'scan',
        ]);
        assert.equal(s.alert, f.verdict === 'malicious' || s.flags.length > 0);
      }
    } finally {
      await host.close();
    }
  });

  it('flags and explains ICMP sweeps and repeated logins by default (subscores.v5, as v2); v1 on request', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      // One answered ping of an 18-host sweep, and 9 SSH login exchanges to one server.
      const ping = sequence(1, 50);
      ping.flows = [
        flow(0, {
          protocol: 1,
          src_port: 0,
          dst_port: 0,
          fwd_bytes: 28,
          fwd_pkts: 1,
          bwd_bytes: 28,
          bwd_pkts: 1,
        }),
      ];
      ping.context = { distinct_dsts: 18, distinct_dst_ports: 1, connections: 18 };
      const ssh = sequence(9, 51);
      ssh.flows = ssh.flows.map((f) => ({ ...f, dst_port: 22, fwd_pkts: 22, bwd_pkts: 15, bwd_bytes: 3124 }));
      const seqs = [ping, ssh];
      const v2 = await new Detector(host).score(seqs);
      const explicitV2 = await new Detector(host, { subScores: 'v2' }).score(seqs);
      const v1 = await new Detector(host, { subScores: 'v1' }).score(seqs);
      const rowAlerts = (await Promise.all(new Detector(host).scoreRunRows(seqs))).flatMap((r) => r.alerts);
      for (const [i, s] of seqs.entries()) {
        assert.deepEqual(v2[i]?.finding.explanation.subscores, subScores(s, 'v5'));
        assert.deepEqual(explicitV2[i]?.finding.explanation.subscores, subScores(s, 'v2'));
        assert.deepEqual(v1[i]?.finding.explanation.subscores, subScores(s, 'v1'));
        assert.equal(v2[i]?.alert, true);
        assert.equal(explicitV2[i]?.alert, true);
        // The batch path (subScoresInto) raises the same alerts.
        assert.ok(rowAlerts.some((a) => a.finding.sequence_id === s.sequence_id));
      }
      assert.equal(v2[0]?.finding.explanation.subscores.scan, 1);
      assert.ok(v2[0]?.flags.includes('scan') && !v1[0]?.flags.includes('scan'));
      assert.equal(v2[1]?.finding.explanation.subscores.brute_force, 1);
      assert.ok(v2[1]?.flags.includes('brute_force') && !v1[1]?.flags.includes('brute_force'));
    } finally {
      await host.close();
    }
  });

  it('flags reflection by default (subscores.v5, as v3), as Impact / Reflection Amplification; v2 and v1 do not', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      // A reflector's one unanswered SNMP reply toward a victim 4,276 initiators send to in the window,
      // and the same packet toward a responder of 30 initiators (a LAN's discovery answers).
      const reflector = (fanIn: number, seed: number): Sequence => {
        const s = sequence(1, seed);
        s.flows = [
          flow(0, {
            protocol: 17,
            src_port: 161,
            dst_port: 41000,
            fwd_bytes: 57,
            fwd_pkts: 1,
            bwd_bytes: 0,
            bwd_pkts: 0,
            tcp_flags: 0,
          }),
        ];
        s.context = { distinct_dsts: 1, distinct_dst_ports: 1, connections: 1, distinct_srcs: fanIn };
        return s;
      };
      const seqs = [reflector(4276, 60), reflector(30, 61)];
      const det = new Detector(host);
      const v3 = await det.score(seqs);
      const v2 = await new Detector(host, { subScores: 'v2' }).score(seqs);
      const v1 = await new Detector(host, { subScores: 'v1' }).score(seqs);
      const flood = v3[0] as (typeof v3)[number];
      assert.deepEqual(flood.finding.explanation.subscores, subScores(seqs[0] as Sequence, 'v5'));
      assert.equal(flood.finding.explanation.subscores.reflection, 1);
      assert.ok(flood.alert && flood.flags.includes('reflection'));
      assert.deepEqual(flood.finding.tactics[0], { id: 'TA0040', name: 'Impact', probability: 1 });
      assert.deepEqual(flood.finding.techniques[0], {
        id: 'T1498.002',
        name: 'Reflection Amplification',
        probability: 1,
      });
      assert.ok(!flood.finding.techniques.some((t) => t.id === 'T1498'));
      if (flood.finding.verdict === 'benign') assert.equal(flood.finding.severity, 'low');
      const lan = v3[1] as (typeof v3)[number];
      assert.equal(lan.finding.explanation.subscores.reflection, 0);
      assert.ok(!lan.flags.includes('reflection'));
      for (const old of [v2, v1]) {
        assert.equal(old[0]?.finding.explanation.subscores.reflection, 0);
        assert.ok(!old[0]?.flags.includes('reflection'));
        assert.ok(!old[0]?.finding.techniques.some((t) => t.id === 'T1498.002'));
      }
      // The batch path raises it too, with the same finding.
      const rows = (await Promise.all(det.scoreRunRows(seqs))).flatMap((r) => r.alerts);
      const row = rows.find((a) => a.finding.sequence_id === seqs[0]?.sequence_id);
      assert.deepEqual(row?.finding.tactics, flood.finding.tactics);
      assert.deepEqual(row?.finding.techniques, flood.finding.techniques);
    } finally {
      await host.close();
    }
  });

  it('flags a Kerberos password spray as Credential Access / Brute Force by default (subscores.v5); v4 does not', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      // 13 AS-REQs answered by KRB-ERRORs (130 B) and one ticket over TCP, as kerbrute's capture holds.
      const spray = sequence(14, 80);
      spray.flows = spray.flows.map((f, k) => ({
        ...f,
        protocol: k < 13 ? 17 : 6,
        dst_port: 88,
        fwd_bytes: 180,
        fwd_pkts: 1,
        bwd_bytes: k < 13 ? 130 : 1_557,
        bwd_pkts: k < 13 ? 1 : 2,
        tcp_flags: 0,
      }));
      const [v5] = await new Detector(host).score([spray]);
      const [v4] = await new Detector(host, { subScores: 'v4' }).score([spray]);
      assert.equal(v5?.finding.explanation.subscores.brute_force, 1);
      assert.ok(v5?.alert && v5.flags.includes('brute_force'));
      assert.ok(v5.finding.tactics.some((t) => t.id === 'TA0006' && t.probability === 1));
      assert.ok(v5.finding.techniques.some((t) => t.id === 'T1110' && t.probability === 1));
      assert.ok((v4?.finding.explanation.subscores.brute_force ?? 1) < 0.8);
      assert.ok(!v4?.flags.includes('brute_force'));
    } finally {
      await host.close();
    }
  });

  it('does not call one SSH session exported as a record per active timeout brute force by default (subscores.v6); v5 does', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      // One idle session, a router's active timeout of 60 s: five records of one port pair in the window.
      const session = sequence(5, 80);
      session.flows = session.flows.map((f, k) => ({
        ...f,
        start_ms: session.window_start_ms + 60_000 * k,
        end_ms: session.window_start_ms + 60_000 * k + 59_900,
        protocol: 6,
        src_port: 51_514,
        dst_port: 22,
        fwd_bytes: 156 + (k % 2) * 36,
        fwd_pkts: 3,
        bwd_bytes: 156,
        bwd_pkts: 3,
        tcp_flags: k === 0 ? 0x1a : 0x18,
      }));
      const [v6] = await new Detector(host).score([session]);
      const [v5] = await new Detector(host, { subScores: 'v5' }).score([session]);
      assert.equal(v5?.finding.explanation.subscores.brute_force, 0.8);
      assert.ok(v5?.flags.includes('brute_force'));
      assert.ok(v5.finding.tactics.some((t) => t.id === 'TA0006'));
      assert.equal(v6?.finding.explanation.subscores.brute_force, 0);
      assert.deepEqual(v6?.flags, []);
      assert.ok(!v6?.finding.tactics.some((t) => t.id === 'TA0006'));
      // The model read one connection: the explained feature means are the merged flow's (300 s long).
      const [records] = await new Detector(host, { modelInput: 'records', subScores: 'v5' }).score([session]);
      const duration = (x: typeof records) =>
        x?.finding.explanation.top_features.find((t) => t.name === 'log_duration_ms_mean')?.value ?? 0;
      assert.ok(Math.abs(duration(v5) - Math.log1p(299_900)) < 1e-3, `${duration(v5)}`);
      assert.ok(Math.abs(duration(records) - Math.log1p(59_900)) < 1e-3, `${duration(records)}`);
      // A guesser opens a connection per attempt: still brute force by default.
      const guessing = { ...session, flows: session.flows.map((f, k) => ({ ...f, src_port: 40_000 + k })) };
      const [g] = await new Detector(host).score([guessing]);
      assert.equal(g?.finding.explanation.subscores.brute_force, 0.8);
      assert.ok(g?.flags.includes('brute_force'));
    } finally {
      await host.close();
    }
  });

  it("does not call a client's many HTTPS connections to one server brute force by default (subscores.v5); v4 does", async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      // 30 short TLS connections of one client to one server in a window, and 30 to port 80.
      const conns = (port: number, seed: number): Sequence => {
        const s = sequence(30, seed);
        s.flows = s.flows.map((f) => ({
          ...f,
          dst_port: port,
          fwd_bytes: 620,
          fwd_pkts: 9,
          bwd_bytes: 4200,
          bwd_pkts: 8,
        }));
        return s;
      };
      const seqs = [conns(443, 70), conns(80, 71)];
      const v5 = await new Detector(host).score(seqs);
      const v4 = await new Detector(host, { subScores: 'v4' }).score(seqs);
      const [https, http] = v5;
      assert.equal(https?.finding.explanation.subscores.brute_force, 0.5);
      assert.ok(!https?.flags.includes('brute_force'));
      assert.equal(v4[0]?.finding.explanation.subscores.brute_force, 1);
      assert.ok(v4[0]?.flags.includes('brute_force'));
      // Plain HTTP keeps features.v1's weight: a web login brute force or a connection flood.
      assert.equal(http?.finding.explanation.subscores.brute_force, 1);
      assert.ok(http?.flags.includes('brute_force') && http.alert);
    } finally {
      await host.close();
    }
  });

  it('flags an inbound scan by default (subscores.v5, as v4), as Reconnaissance / Active Scanning; v3 does not', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      // A scanner's one dropped SYN toward a responder that 40 initiators probed in the window; the same
      // toward a responder of 2 probing initiators; a server's unanswered reply-shaped flow at fan-in 40.
      const probe = (probing: number, seed: number, over: Partial<SequenceFlow> = {}): Sequence => {
        const s = sequence(1, seed);
        s.flows = [
          flow(0, {
            src_port: 47000,
            dst_port: 23,
            fwd_bytes: 60,
            fwd_pkts: 1,
            bwd_bytes: 0,
            bwd_pkts: 0,
            tcp_flags: 0x02,
            ...over,
          }),
        ];
        s.context = {
          distinct_dsts: 1,
          distinct_dst_ports: 1,
          connections: 1,
          distinct_srcs: probing,
          distinct_probe_srcs: probing,
        };
        return s;
      };
      const seqs = [probe(40, 70), probe(2, 71), probe(40, 72, { src_port: 80, dst_port: 51000 })];
      const det = new Detector(host);
      const v4 = await det.score(seqs);
      const v3 = await new Detector(host, { subScores: 'v3' }).score(seqs);
      const scan = v4[0] as (typeof v4)[number];
      assert.deepEqual(scan.finding.explanation.subscores, subScores(seqs[0] as Sequence, 'v5'));
      assert.equal(scan.finding.explanation.subscores.scan, 1);
      assert.ok(scan.alert && scan.flags.includes('scan'));
      assert.ok(
        scan.finding.tactics.some(
          (t) => t.id === 'TA0043' && t.name === 'Reconnaissance' && t.probability === 1,
        ),
      );
      assert.ok(
        scan.finding.techniques.some(
          (t) => t.id === 'T1595' && t.name === 'Active Scanning' && t.probability === 1,
        ),
      );
      if (scan.finding.verdict === 'benign') {
        assert.equal(scan.finding.severity, 'low');
        assert.deepEqual(scan.finding.tactics, [{ id: 'TA0043', name: 'Reconnaissance', probability: 1 }]);
        assert.deepEqual(scan.finding.techniques, [{ id: 'T1595', name: 'Active Scanning', probability: 1 }]);
      }
      for (const k of [1, 2]) {
        const quiet = v4[k] as (typeof v4)[number];
        assert.equal(quiet.finding.explanation.subscores.scan, 0);
        assert.ok(!quiet.flags.includes('scan'));
        assert.deepEqual(quiet.finding.tactics, v3[k]?.finding.tactics);
      }
      // v3 has no inbound term: the same SYN scores 0 and gets what the model alone says.
      const old = v3[0] as (typeof v3)[number];
      assert.equal(old.finding.explanation.subscores.scan, 0);
      assert.ok(!old.flags.includes('scan'));
      // The batch path raises it too, with the same finding.
      const rows = (await Promise.all(det.scoreRunRows(seqs))).flatMap((r) => r.alerts);
      const row = rows.find((a) => a.finding.sequence_id === seqs[0]?.sequence_id);
      assert.deepEqual(row?.finding.tactics, scan.finding.tactics);
      assert.deepEqual(row?.finding.techniques, scan.finding.techniques);
      assert.deepEqual(row?.finding.explanation.subscores, scan.finding.explanation.subscores);
    } finally {
      await host.close();
    }
  });

  it("adds Reconnaissance only for the inbound term; a scanner's own fan-out scan is Discovery under v5, as in v3 under v4", async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      // A vertical SYN scan (120 ports) from an initiator nobody else probes with: v3's scan is 1.
      const s = sequence(20, 73);
      s.flows = s.flows.map((f, i) => ({
        ...f,
        dst_port: 20 + 37 * i,
        bwd_bytes: 0,
        bwd_pkts: 0,
        tcp_flags: 0x02,
      }));
      s.context = { distinct_dsts: 3, distinct_dst_ports: 120, connections: 140, distinct_probe_srcs: 1 };
      const [v5] = await new Detector(host, { clock: () => 42 }).score([s]);
      const [v4] = await new Detector(host, { subScores: 'v4', clock: () => 42 }).score([s]);
      const [v3] = await new Detector(host, { subScores: 'v3', clock: () => 42 }).score([s]);
      assert.equal(v4?.finding.explanation.subscores.scan, 1);
      assert.ok(v4?.flags.includes('scan'));
      assert.deepEqual(v4?.finding, v3?.finding);
      // v5: Discovery / Network Service Discovery at the sub-score, never Reconnaissance.
      assert.ok(v5);
      assert.ok(v5.flags.includes('scan'));
      assert.ok(v5.finding.tactics.some((t) => t.id === 'TA0007' && t.probability === 1));
      assert.ok(v5.finding.techniques.some((t) => t.id === 'T1046' && t.probability === 1));
      assert.ok(!v5.finding.tactics.some((t) => t.id === 'TA0043'));
      const { tactics: _t, techniques: _k, ...rest5 } = v5.finding;
      const { tactics: _t4, techniques: _k4, ...rest4 } = v4?.finding ?? v5.finding;
      assert.deepEqual(rest5, rest4);
    } finally {
      await host.close();
    }
  });

  it('refuses an unknown sub-score version, naming it and the known ones', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      assert.throws(
        () => new Detector(host, { subScores: 'v8' as SubScoreVersion }),
        new Error('Detector subScores "v8": expected one of v1, v2, v3, v4, v5, v6, v7'),
      );
      assert.throws(
        () => new Detector(host, { modelInput: 'flows' as 'records' }),
        new Error('Detector modelInput "flows": expected connections or records'),
      );
    } finally {
      await host.close();
    }
  });

  it('an inbound-scan flag merges Reconnaissance and Active Scanning into the model candidates', () => {
    const tactics = [
      { id: 'TA0011', name: 'Command and Control', probability: 0.9 },
      { id: 'TA0043', name: 'Reconnaissance', probability: 0.3 },
    ];
    const techniques = [
      { id: 'T1071', name: 'Application Layer Protocol', probability: 0.9 },
      { id: 'T1595.001', name: 'Scanning IP Blocks', probability: 0.3 },
    ];
    assert.deepEqual(withInboundScan(tactics, techniques, 0.8500001), {
      tactics: [
        { id: 'TA0011', name: 'Command and Control', probability: 0.9 },
        { id: 'TA0043', name: 'Reconnaissance', probability: 0.85 },
      ],
      techniques: [
        { id: 'T1071', name: 'Application Layer Protocol', probability: 0.9 },
        { id: 'T1595', name: 'Active Scanning', probability: 0.85 },
        { id: 'T1595.001', name: 'Scanning IP Blocks', probability: 0.3 },
      ],
    });
    const strong = withInboundScan(
      [{ id: 'TA0043', name: 'Reconnaissance', probability: 0.97 }],
      [{ id: 'T1595', name: 'Active Scanning', probability: 0.97 }],
      0.8,
    );
    assert.deepEqual(strong.tactics, [{ id: 'TA0043', name: 'Reconnaissance', probability: 0.97 }]);
    assert.deepEqual(strong.techniques, [{ id: 'T1595', name: 'Active Scanning', probability: 0.97 }]);
  });

  it('a reflection flag merges Impact into the model tactics and replaces T1498 by T1498.002', () => {
    const tactics = [
      { id: 'TA0043', name: 'Reconnaissance', probability: 0.9 },
      { id: 'TA0040', name: 'Impact', probability: 0.3 },
    ];
    const techniques = [
      { id: 'T1595', name: 'Active Scanning', probability: 0.9 },
      { id: 'T1498', name: 'Network Denial of Service', probability: 0.3 },
    ];
    assert.deepEqual(withReflection(tactics, techniques, 0.8500001), {
      tactics: [
        { id: 'TA0043', name: 'Reconnaissance', probability: 0.9 },
        { id: 'TA0040', name: 'Impact', probability: 0.85 },
      ],
      techniques: [
        { id: 'T1595', name: 'Active Scanning', probability: 0.9 },
        { id: 'T1498.002', name: 'Reflection Amplification', probability: 0.85 },
      ],
    });
    const strong = withReflection([{ id: 'TA0040', name: 'Impact', probability: 0.97 }], [], 0.8);
    assert.deepEqual(strong.tactics, [{ id: 'TA0040', name: 'Impact', probability: 0.97 }]);
    assert.deepEqual(strong.techniques, [
      { id: 'T1498.002', name: 'Reflection Amplification', probability: 0.8 },
    ]);
  });

  it('tactic candidates skip untrained heads; techniques follow the tactic table', () => {
    const manifest = {
      version: 't',
      created_at: '',
      feature_spec: 'features.v1',
      feature_spec_hash: 'x',
      sequencing_spec: 'sequencing.v1',
      tactics: ['TA0043', 'TA0006', 'TA0040'],
      thresholds: { score: 0.5 },
      embedding_dim: 4,
      max_len: 8,
    };
    const probs = new Float32Array([0.3, 0.1, 0.95]);
    const c = tacticCandidates(probs, manifest, new Set(['TA0043', 'TA0006']));
    assert.deepEqual(
      c.map((t) => [t.id, t.name]),
      [['TA0043', 'Reconnaissance']],
    );
    const tech = techniqueCandidates(c, techniqueTable(manifest));
    assert.deepEqual(tech, [{ id: 'T1595', name: 'Active Scanning', probability: 0.3 }]);
  });

  it('severity follows the documented table', () => {
    assert.equal(severityOf('benign', 0.1, 0.9, null, false), 'info');
    assert.equal(severityOf('benign', 0.1, 0.9, null, true), 'low');
    assert.equal(severityOf('malicious', 0.99, 0.5, 'TA0040', false), 'critical');
    assert.equal(severityOf('malicious', 0.9, 0, 'TA0011', false), 'high');
    assert.equal(severityOf('malicious', 0.9, 0, 'TA0043', false), 'medium');
    assert.equal(severityOf('malicious', 0.55, 0, 'TA0043', false), 'low');
  });

  it('hot-swaps between batches, records the version, and rolls back', async () => {
    const repo = await copiedRepository(['va', 'vb']);
    const host = await ModelHost.open(repo);
    try {
      const det = new Detector(host);
      const seqs = [sequence(3), sequence(8, 1)];
      const a = await det.score(seqs);
      assert.ok(a.every((s) => s.finding.model_version === 'va'));
      const inFlight = det.score(seqs);
      await host.swap('vb');
      assert.ok((await inFlight).every((s) => s.finding.model_version === 'va'));
      const b = await det.score(seqs);
      assert.ok(b.every((s) => s.finding.model_version === 'vb'));
      assert.deepEqual(
        b.map((s) => s.finding.score),
        a.map((s) => s.finding.score),
      );
      assert.deepEqual(host.previousVersions, ['va']);
      await host.rollback();
      assert.equal(host.current.version, 'va');
      await assert.rejects(host.rollback(), /no previous model version/);
      await assert.rejects(host.swap('missing'), ModelNotFoundError);
      assert.equal(host.current.version, 'va');
    } finally {
      await host.close();
      await rm(repo.root, { recursive: true, force: true });
    }
  });

  it('gives the model worker half the CPUs for intra-op threads, leaving the event loop a core', async () => {
    assert.deepEqual(
      [1, 2, 3, 4, 8, 16].map((n) => workerIntraOpThreads(n)),
      [1, 1, 2, 2, 4, 8],
    );
    const onWorker = await ModelHost.open(repository);
    const local = await ModelHost.open(repository, undefined, { worker: false });
    const pinned = await ModelHost.open(repository, undefined, { intraOpThreads: 3 });
    try {
      assert.equal(onWorker.current.intraOpThreads, workerIntraOpThreads());
      assert.equal(local.current.intraOpThreads, undefined, "ORT's default on the calling thread");
      assert.equal(pinned.current.intraOpThreads, 3);
    } finally {
      await Promise.all([onWorker.close(), local.close(), pinned.close()]);
    }
  });

  it('scores identically with the model on its worker thread or on the calling thread, in any run size', async () => {
    const onWorker = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    const local = await ModelHost.open(repository, undefined, { intraOpThreads: 1, worker: false });
    const tiny = await ModelHost.open(repository, undefined, { intraOpThreads: 1, maxBatch: 2 });
    try {
      assert.equal(onWorker.current.onWorker, true);
      assert.equal(local.current.onWorker, false);
      const max = onWorker.current.manifest.max_len;
      const lengths = [1, 7, 1, 2, max + 5, 3, 1, 17, 2, 1, 40];
      const seqs = lengths.map((n, i) => sequence(n, i));
      const runs = await Promise.all(
        [onWorker, local, tiny].map((h) => new Detector(h, { clock: () => 1 }).score(seqs)),
      );
      const [a, b, c] = runs;
      assert.ok(a && b && c);
      assert.deepEqual(
        a.map((s) => s.finding.sequence_id),
        seqs.map((s) => s.sequence_id),
      );
      for (const other of [b, c]) {
        assert.deepEqual(
          other.map((s) => s.finding),
          a.map((s) => s.finding),
        );
        assert.deepEqual(
          other.map((s) => [...s.embedding]),
          a.map((s) => [...s.embedding]),
        );
      }
      // The truncated sequence (more flows than max_len) still explains itself from all its flows.
      assert.equal(a[4]?.finding.connections, max + 5);
      // Per-run delivery: runs of one length bucket each, at most maxBatch, the same findings
      // (top features follow run order there, so they may differ).
      const perRun = await Promise.all(new Detector(tiny, { clock: () => 1 }).scoreRuns(seqs));
      assert.ok(perRun.every((r) => r.length >= 1 && r.length <= 2));
      const byId = new Map(perRun.flat().map((s) => [s.finding.sequence_id, s]));
      assert.equal(byId.size, seqs.length);
      const plain = (s: (typeof a)[number]) => ({
        ...s.finding,
        explanation: { ...s.finding.explanation, top_features: [] },
      });
      for (const s of a) {
        const r = byId.get(s.finding.sequence_id);
        assert.ok(r);
        assert.deepEqual(plain(r), plain(s));
        assert.equal(r.finding.explanation.top_features.length, s.alert ? 5 : 0);
      }
    } finally {
      await Promise.all([onWorker.close(), local.close(), tiny.close()]);
    }
  });

  it('a run on a released model fails with a clear error', async () => {
    const model = await repository.load(undefined, { intraOpThreads: 1 });
    await model.release();
    const feats = [sequenceFeatures(sequence(2), model.featureSpec)];
    await assert.rejects(model.run(feats), /inference worker exited/);
  });

  it('alerts with identical embeddings share one neighbour query and never list themselves', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    try {
      const det = new Detector(host, { flagThreshold: 0, neighbourK: 2 });
      // Same flows and context, different ids: identical embeddings.
      const twins = [
        sequence(4, 3),
        { ...sequence(4, 3), sequence_id: '00000000-0000-5000-8000-0000000000aa' },
      ];
      const scored = await det.score([...twins, sequence(9, 5)]);
      assert.ok(scored.every((s) => s.alert));
      const stored = scored.map((s) => ({ id: s.finding.sequence_id, v: [...s.embedding] }));
      const queries: number[] = [];
      const index: NeighbourIndex = {
        similar: () => Promise.reject(new Error('similarMany is used when present')),
        similarMany: async (vectors, opts) => {
          queries.push(vectors.length);
          return vectors.map((q) =>
            stored
              .map((p) => ({
                id: p.id,
                similarity: p.v.reduce((acc, x, i) => acc + x * (q[i] as number), 0),
                payload: scored.find((s) => s.finding.sequence_id === p.id)?.finding as never,
              }))
              .sort((x, y) => y.similarity - x.similarity || (x.id < y.id ? -1 : 1))
              .slice(0, opts.k),
          );
        },
      };
      await det.explainNeighbours(scored, index);
      assert.deepEqual(queries, [2], 'one query per distinct embedding');
      const [t0, t1, other] = scored;
      assert.ok(t0 && t1 && other);
      assert.deepEqual(
        t0.finding.explanation.neighbours.map((n) => n.sequence_id),
        [t1.finding.sequence_id, other.finding.sequence_id],
      );
      assert.deepEqual(
        t1.finding.explanation.neighbours.map((n) => n.sequence_id),
        [t0.finding.sequence_id, other.finding.sequence_id],
      );
      assert.equal(t0.finding.explanation.neighbours[0]?.similarity, 1);
      assert.ok(
        other.finding.explanation.neighbours.every((n) => n.sequence_id !== other.finding.sequence_id),
      );
      assert.equal(other.finding.explanation.neighbours.length, 2);
    } finally {
      await host.close();
    }
  });

  it("neighbours from the store's evidence hits (verdict and label from its columns) equal those from decoded payloads", async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'tw-detector-evidence-'));
    const store = new EmbeddedStore({ dir, dim: host.current.manifest.embedding_dim, fsync: false });
    try {
      await store.init();
      const det = new Detector(host, { flagThreshold: 0, neighbourK: 3 });
      // Ground truth of every kind: malicious, benign, and none (never a neighbour).
      const labelled = Array.from({ length: 60 }, (_, i) => {
        const s = sequence(1 + (i % 7), 10 + i);
        const label = i % 3 === 0 ? null : i % 3 === 1 ? 1 : 0;
        return { ...s, flows: s.flows.map((f) => ({ ...f, label })) };
      });
      const stored = await det.score(labelled);
      await store.upsert(
        stored.map((s) => ({ id: s.finding.sequence_id, vector: s.embedding, payload: s.finding })),
      );
      const fromColumns = await det.score(labelled.slice(0, 30));
      const fromPayloads = await det.score(labelled.slice(0, 30));
      assert.ok(store.similarEvidence, 'the embedded store answers with evidence hits');
      await det.explainNeighbours(fromColumns, store);
      await det.explainNeighbours(fromPayloads, {
        similar: (v, o) => store.similar(v, o),
        similarMany: (v, o) => store.similarMany(v, o),
      });
      const neighbours = (xs: typeof fromColumns) => xs.map((s) => s.finding.explanation.neighbours);
      assert.deepEqual(neighbours(fromColumns), neighbours(fromPayloads));
      const listed = neighbours(fromColumns).flat();
      assert.equal(listed.length, 30 * 3);
      assert.ok(listed.some((n) => n.label === 'malicious') && listed.some((n) => n.label === 'benign'));
      assert.ok(listed.every((n) => n.label !== null && n.verdict !== null));
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
      await host.close();
    }
  });

  it('scoreRunRows delivers what scoreRuns builds: alerts as findings, every other sequence as a quiet row', async () => {
    const host = await ModelHost.open(repository, undefined, { intraOpThreads: 1, maxBatch: 16 });
    try {
      const max = host.current.manifest.max_len;
      // Lengths across buckets (and one over max_len), labels 0 / 1 / null / mixed, IPv6, many
      // ports and protocols; a low flag threshold makes some sub-score alerts among them.
      const seqs = Array.from({ length: 90 }, (_, i) => {
        const n = [1, 1, 1, 2, 5, 17, max + 3, 1, 40][i % 9] as number;
        const s = sequence(n, i);
        s.flows = s.flows.map((f, j) => ({
          ...f,
          dst_port: i % 4 === 0 ? 1000 + ((j * 7) % 23) : f.dst_port,
          protocol: i % 5 === 0 && j % 2 === 1 ? 17 : f.protocol,
          label: Math.floor(i / 9) % 3 === 0 ? null : Math.floor(i / 9) % 3 === 1 ? (j === 1 ? 1 : 0) : 0,
        }));
        if (i % 6 === 0) s.src_ip = `2001:db8::${i.toString(16)}`;
        return s;
      });
      const opts = { clock: () => 1_700_000_123_456, flagThreshold: 0.3 };
      const runs = await Promise.all(new Detector(host, opts).scoreRuns(seqs));
      const rowRuns = await Promise.all(new Detector(host, opts).scoreRunRows(seqs));
      assert.equal(rowRuns.length, runs.length);
      let alerts = 0;
      let quiet = 0;
      let quietMany = 0;
      let quietManyLabelled = 0;
      let quietV6 = 0;
      for (const [k, run] of runs.entries()) {
        const { rows, alerts: runAlerts } = rowRuns[k] as (typeof rowRuns)[number];
        assert.equal(rows.count, run.length);
        assert.deepEqual(
          runAlerts.map((s) => s.finding.sequence_id),
          run.filter((s) => s.alert).map((s) => s.finding.sequence_id),
        );
        for (const [i, s] of run.entries()) {
          // The same text (key order included) and the same vector.
          assert.equal(JSON.stringify(findingOfRow(rows, i)), JSON.stringify(s.finding));
          assert.deepEqual([...rows.vector(i)], [...s.embedding]);
          assert.equal(rows.findings[i] !== undefined, s.alert);
          if (s.alert) alerts++;
          else {
            quiet++;
            const f = s.finding;
            if (f.connections > 1) quietMany++;
            if (f.connections > 1 && f.label !== null) quietManyLabelled++;
            if (f.src_ip.includes(':')) quietV6++;
          }
        }
      }
      // Every kind of quiet row was there to compare.
      assert.ok(alerts > 0 && quiet > 0, `alerts ${alerts}, quiet ${quiet}`);
      assert.ok(quietMany > 0 && quietManyLabelled > 0 && quietV6 > 0);
    } finally {
      await host.close();
    }
  });
});
