import {
  type Finding,
  type Neighbour,
  type Sequence,
  SequenceBatch,
  SUB_SCORE_NAMES,
  type SubScores,
} from '@tidewatch/contracts';
import {
  type BuiltinRule,
  BUILTIN_RULES,
  isInfrastructureRequest,
  matchBuiltinRule,
  type RaisedBy,
} from '@tidewatch/suppression';
import { FindingRows, SUBSCORES_PER_ROW } from '@tidewatch/vector-store';
import {
  connectionView,
  credentialGuessingAt,
  type FeatureSpec,
  FLOW_FEATURE_COUNT,
  inboundScanAt,
  SUB_SCORE_COUNT,
  SUB_SCORE_VERSIONS,
  type SequenceFeatures,
  type SubScoreVersion,
  sequenceFeatures,
  subScoresAt,
  subScoresInto,
  writeBatchFeatures,
} from '@tidewatch/features';
import { FeatureBaseline, newSummary, summariseInto } from './feature-baseline.ts';
import {
  addQuietRowAt,
  flaggedBy,
  newFindingAt,
  round6,
  severityOf,
  tacticCandidates,
  techniqueCandidates,
  techniqueTable,
  withCredentialGuessing,
  withInboundScan,
  withReflection,
  withServiceDiscovery,
} from './finding-builder.ts';
import { trainedTactics } from './manifest.ts';
import type { ModelHost } from './model-host.ts';
import type { BatchResult, OnnxModel } from './onnx-model.ts';

/** Where nearest labelled / analyst-confirmed neighbours come from (the VectorStore fits). */
export interface NeighbourIndex {
  similar(
    vector: number[],
    opts: { k: number; filter?: { labelled?: boolean }; excludeId?: string },
  ): Promise<{ id: string; similarity: number; payload: Finding }[]>;
  similarMany?(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: { labelled?: boolean }; excludeIds?: (string | undefined)[] },
  ): Promise<{ id: string; similarity: number; payload: Finding }[][]>;
  /** Hits with the neighbour's verdict and label only (preferred: no payload to decode per hit). */
  similarEvidence?(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: { labelled?: boolean } },
  ): Promise<NeighbourEvidence[][]>;
}

/** What an explanation lists of a neighbour. */
export interface NeighbourEvidence {
  id: string;
  similarity: number;
  verdict: Finding['verdict'] | null;
  label: 0 | 1 | null;
}

/** A full kNN hit reduced to its evidence. */
function evidenceOf(h: { id: string; similarity: number; payload: Finding }): NeighbourEvidence {
  const { verdict, label } = h.payload;
  return {
    id: h.id,
    similarity: h.similarity,
    verdict: verdict ?? null,
    label: label === null || label === undefined ? null : label === 1 ? 1 : 0,
  };
}

export interface DetectorOptions {
  /** A baseline sub-score at or above this flags a sequence as a finding even when the model says benign (default 0.8). */
  flagThreshold?: number;
  /**
   * Per sub-score thresholds that replace flagThreshold for those named (e.g. `{ beacon: 0.9 }`:
   * RITA-style beacon scores of benign polling cluster just above 0.8). Each in [0, 1].
   */
  flagThresholds?: Partial<Record<string, number>>;
  /**
   * Sub-score formulas for flags and explanations (default 'v7', subscores.v7: v6's with ICMP error
   * messages left out of scan's ICMP term, so a host answering many others with port unreachable
   * is no sweep; 'v6', subscores.v6: v5's over the
   * sequence's connections, so a TCP connection exported as several records counts once; 'v5',
   * subscores.v5: v4's with silence
   * read from the packets of unsampled flows, brute force's connection count off 443 and Kerberos
   * refusals; its fan-out scan maps to TA0007 / T1046, its login and Kerberos terms to TA0006 /
   * T1110; 'v4' is v3's with an inbound-scan term in scan, which maps to
   * TA0043 / T1595; 'v3' is v2's plus reflection, which maps to TA0040 / T1498.002; 'v2' adds ICMP
   * sweeps and repeated logins to 'v1', features.v1's, a model's in-graph evidence). Another value
   * is refused.
   */
  subScores?: SubScoreVersion;
  /**
   * What the model reads of a sequence (default 'connections': its flows with the records of one
   * TCP connection merged, as subscores.v6 reads them (`connectionView`), so a session its exporter
   * splits per active timeout looks like the one record Zeek and the training captures hold;
   * 'records': the flows as they came). Another value is refused.
   */
  modelInput?: 'connections' | 'records';
  /**
   * The sub-scores that may raise a finding on their own (default all of SUB_SCORE_NAMES). The others
   * still explain findings; e.g. without `scan` where sampled sFlow makes replies look one-way.
   */
  flagSubScores?: readonly string[];
  topFeatures?: number;
  neighbourK?: number;
  clock?: () => number;
}

export interface ScoredSequence {
  finding: Finding;
  embedding: Float32Array;
  /** True when the sequence becomes a finding on findings.v1: malicious verdict or a sub-score flag. */
  alert: boolean;
  /** Sub-scores at or above the flag threshold. */
  flags: string[];
  /** Every flow is an infrastructure request (isInfrastructureRequest; built-in rules read it). */
  infrastructureOnly: boolean;
  /** The initiator's distinct destinations in the window (context.distinct_dsts; built-in rules read it). */
  initiatorDsts: number;
}

/** One model run's sequences as rows (alerts as Findings, the rest as columns) and its alerts. */
export interface ScoredRun {
  rows: FindingRows;
  alerts: ScoredSequence[];
}

/** Per-model cached lookups (trained tactics, technique table, benign baseline). */
interface ModelContext {
  model: OnnxModel;
  trained: Set<string>;
  techniques: ReturnType<typeof techniqueTable>;
  baseline: FeatureBaseline;
  benignSeen: number;
  /** Scratch for one sequence summary (read at once by the baseline). */
  summary: Float64Array;
}

const BASELINE_SAMPLE = 8;

/** One sequence's sub-scores (beacon, scan, brute force, exfiltration, reflection) while its row is built. */
const subScratch = new Float64Array(SUB_SCORE_COUNT);

/**
 * The summary of row `row` of a run's inputs (sequence `s` of `batch`, as the model read it: its
 * connections when `connections`), read in place, or of recomputed features when the run truncated
 * them; into `out`.
 */
function summaryOf(
  batch: SequenceBatch,
  s: number,
  r: BatchResult,
  row: number,
  spec: FeatureSpec,
  connections: boolean,
  out: Float64Array,
): Float64Array {
  const { len, flow, context, contextWidth: C, mask } = r.inputs;
  if (batch.flowsOf(s) > len) {
    const view = connections ? connectionView(batch, s) : null;
    const x = sequenceFeatures((view ?? batch).sequence(view === null ? s : 0), spec);
    return summariseInto(x.flow, 0, x.length, x.context, 0, out);
  }
  // The rows the model read (its connections may be fewer than the sequence's flows).
  let n = 0;
  while (n < len && mask[row * len + n] === 1) n++;
  return summariseInto(flow, row * len * FLOW_FEATURE_COUNT, n, context, row * C, out);
}

/** Positions in SUB_SCORE_NAMES of the sub-scores whose flag also names a tactic. */
const SCAN_AT = SUB_SCORE_NAMES.indexOf('scan');
const BRUTE_FORCE_AT = SUB_SCORE_NAMES.indexOf('brute_force');
const REFLECTION_AT = SUB_SCORE_NAMES.indexOf('reflection');

/** What built-in suppression rules know of how an alert was raised (matchBuiltinRule's second argument). */
export function raisedBy(s: ScoredSequence): RaisedBy {
  return {
    flagged: s.flags.length > 0,
    flags: s.flags,
    byModel: s.finding.verdict === 'malicious',
    initiatorDsts: s.initiatorDsts,
    infrastructureOnly: s.infrastructureOnly,
  };
}

/**
 * Whether the inference service raises `s` as an open alert: a malicious verdict or a sub-score
 * flag (`s.alert`) that no built-in suppression rule records as suppressed (the service's default
 * set, on unless TIDEWATCH_SUPPRESS_LOCAL_DISCOVERY=false; pass [] for none). What `score --per-flow` reports
 * as a row's verdict and what `evaluate` scores as the service's alerts.
 */
export function serviceRaises(
  s: ScoredSequence,
  builtinRules: readonly BuiltinRule[] = BUILTIN_RULES,
): boolean {
  return s.alert && matchBuiltinRule(s.finding, raisedBy(s), builtinRules) === null;
}

/** Whether every flow of sequence `i` of the batch is an infrastructure request (isInfrastructureRequest). */
function infrastructureOnlyAt(batch: SequenceBatch, i: number): boolean {
  for (let f = batch.flowStart[i] as number, end = batch.flowStart[i + 1] as number; f < end; f++)
    if (
      !isInfrastructureRequest(
        batch.protocol[f] as number,
        batch.dstPort[f] as number,
        batch.fwdBytes[f] as number,
        batch.fwdPkts[f] as number,
        batch.bwdBytes[f] as number,
        batch.bwdPkts[f] as number,
      )
    )
      return false;
  return true;
}

/**
 * Sequence → Finding: features (shared spec) → ONNX (bucketed micro-batch) → verdict, tactics,
 * techniques, severity, explanation. The same object serves the streaming service, gRPC and the
 * offline CLI, so offline and online scores are identical by construction.
 */
export class Detector {
  private ctx: ModelContext | null = null;
  /** Per sub-score (SUB_SCORE_NAMES order): its flag threshold (what also names a flag's tactic). */
  private readonly thresholdOf: Float64Array;
  /** Per sub-score (SUB_SCORE_NAMES order): the flag threshold, or Infinity where it may not flag. */
  private readonly flagAt: Float64Array;
  private readonly subScoreVersion: SubScoreVersion;
  private readonly modelReadsConnections: boolean;
  private readonly topFeatures: number;
  private readonly neighbourK: number;
  private readonly clock: () => number;

  constructor(
    readonly host: ModelHost,
    opts: DetectorOptions = {},
  ) {
    const flagThreshold = opts.flagThreshold ?? 0.8;
    const overrides = opts.flagThresholds ?? {};
    const badName = Object.keys(overrides).filter((n) => !(SUB_SCORE_NAMES as readonly string[]).includes(n));
    const badValue = Object.entries(overrides).filter(
      ([, v]) => !(typeof v === 'number' && v >= 0 && v <= 1),
    );
    if (badName.length > 0 || badValue.length > 0)
      throw new Error(
        `Detector flagThresholds ${JSON.stringify(overrides)}: expected numbers 0-1 for some of ${SUB_SCORE_NAMES.join(', ')}`,
      );
    this.thresholdOf = Float64Array.from(SUB_SCORE_NAMES, (n) => overrides[n] ?? flagThreshold);
    const flagging = opts.flagSubScores ?? SUB_SCORE_NAMES;
    const unknown = flagging.filter((n) => !(SUB_SCORE_NAMES as readonly string[]).includes(n));
    if (unknown.length > 0)
      throw new Error(
        `Detector flagSubScores ${JSON.stringify(unknown)}: expected some of ${SUB_SCORE_NAMES.join(', ')}`,
      );
    this.flagAt = Float64Array.from(SUB_SCORE_NAMES, (n, i) =>
      flagging.includes(n) ? (this.thresholdOf[i] as number) : Number.POSITIVE_INFINITY,
    );
    const version = opts.subScores ?? 'v7';
    if (!SUB_SCORE_VERSIONS.includes(version))
      throw new Error(
        `Detector subScores ${JSON.stringify(version)}: expected one of ${SUB_SCORE_VERSIONS.join(', ')}`,
      );
    this.subScoreVersion = version;
    const input = opts.modelInput ?? 'connections';
    if (input !== 'connections' && input !== 'records')
      throw new Error(`Detector modelInput ${JSON.stringify(input)}: expected connections or records`);
    this.modelReadsConnections = input === 'connections';
    this.topFeatures = opts.topFeatures ?? 5;
    this.neighbourK = opts.neighbourK ?? 3;
    this.clock = opts.clock ?? Date.now;
  }

  get model(): OnnxModel {
    return this.host.current;
  }

  private context(): ModelContext {
    const model = this.host.current;
    if (this.ctx?.model !== model) {
      this.ctx = {
        model,
        trained: trainedTactics(model.manifest),
        techniques: techniqueTable(model.manifest),
        baseline: new FeatureBaseline(model.manifest, model.featureSpec),
        benignSeen: 0,
        summary: newSummary(model.featureSpec),
      };
    }
    return this.ctx;
  }

  /** Raw model outputs for feature vectors (gRPC Embed/Classify on pre-computed features). */
  async runFeatures(features: SequenceFeatures[]): Promise<ReturnType<OnnxModel['run']>> {
    return this.host.current.run(features);
  }

  /**
   * Scores a batch. Sequences are grouped by length bucket and written straight into padded batch
   * tensors (at most `model.maxBatch` each); every run is handed to the model before the first
   * result is awaited, so with the model on its worker thread the features of run k+1 and the
   * findings of run k are computed here while run k+1 executes there. Results in input order; top
   * features and the online benign baseline also follow input order, so they do not depend on how
   * the batch was bucketed.
   */
  async score(seqs: Sequence[]): Promise<ScoredSequence[]> {
    if (seqs.length === 0) return [];
    // One model for the whole batch, even if a swap lands meanwhile.
    const ctx = this.context();
    const batch = batchOf(seqs);
    const runs = this.dispatch(ctx, batch);
    const now = this.clock();
    const out = new Array<ScoredSequence>(seqs.length);
    const inputsOf = new Array<{ r: BatchResult; row: number }>(seqs.length);
    try {
      for (const run of runs) {
        const r = await run.result;
        const scored = this.toScoredRun(ctx, batch, run.idxs, r, now);
        for (let j = 0; j < run.idxs.length; j++) {
          const i = run.idxs[j] as number;
          out[i] = scored[j] as ScoredSequence;
          inputsOf[i] = { r, row: j };
        }
      }
    } finally {
      // A failed run must not leave its siblings' rejections unhandled.
      for (const run of runs) run.result.catch(() => undefined);
    }
    for (let i = 0; i < seqs.length; i++) {
      const { r, row } = inputsOf[i] as { r: BatchResult; row: number };
      this.explain(ctx, batch, i, out[i] as ScoredSequence, r, row);
    }
    return out;
  }

  /**
   * The same scoring delivered per model run: one promise per run, settling in dispatch order, each
   * with the scored sequences of that run (longest-first buckets are not guaranteed; the order is
   * the runs'). A caller stores and emits run k while run k+1 executes. Top features and the benign
   * baseline follow run order here. Every returned promise must be awaited or caught.
   */
  scoreRuns(seqs: Sequence[]): Promise<ScoredSequence[]>[] {
    const batch = batchOf(seqs);
    return this.inRunOrder(batch, (ctx, idxs, r, now) => {
      const scored = this.toScoredRun(ctx, batch, idxs, r, now);
      for (let j = 0; j < scored.length; j++)
        this.explain(ctx, batch, idxs[j] as number, scored[j] as ScoredSequence, r, j);
      return scored;
    });
  }

  /**
   * `scoreRuns` with each run delivered as FindingRows in run order: alerts (malicious verdicts
   * and flagged sequences) as full Findings (also listed in `alerts`, with their embeddings for
   * neighbours and suppression), every other sequence as a quiet row of columns, which a store
   * writes without a Finding object (`VectorStore.upsertRows`). The row vectors are the run's
   * embedding output as it is. `findingOfRow(rows, i)` is the finding `scoreRuns` builds for row
   * i, and top features and the benign baseline advance exactly as there.
   */
  scoreRunRows(seqs: Sequence[]): Promise<ScoredRun>[] {
    return this.scoreBatchRows(batchOf(seqs));
  }

  /**
   * `scoreRunRows` of the sequences of a SequenceBatch, read from its columns (no Sequence or flow
   * object: quiet sequences become rows, alerts Findings). The batch must not change until every
   * run settled.
   */
  scoreBatchRows(batch: SequenceBatch): Promise<ScoredRun>[] {
    return this.inRunOrder(batch, (ctx, idxs, r, now) => this.toRows(ctx, batch, idxs, r, now));
  }

  /**
   * Dispatches the model runs at once and hands each result to `deliver` strictly in dispatch
   * order (top features and the benign baseline advance in that order), one promise per run.
   */
  private inRunOrder<T>(
    batch: SequenceBatch,
    deliver: (ctx: ModelContext, idxs: number[], r: BatchResult, now: number) => T,
  ): Promise<T>[] {
    if (batch.count === 0) return [];
    const ctx = this.context();
    const runs = this.dispatch(ctx, batch);
    const now = this.clock();
    let previous: Promise<unknown> = Promise.resolve();
    return runs.map((run) => {
      const done = previous.then(async () => deliver(ctx, run.idxs, await run.result, now));
      run.result.catch(() => undefined);
      previous = done.catch(() => undefined);
      return done;
    });
  }

  private toRows(
    ctx: ModelContext,
    batch: SequenceBatch,
    idxs: number[],
    r: BatchResult,
    now: number,
  ): ScoredRun {
    const o = r.outputs;
    const n = idxs.length;
    const D = o.embedding.length / n;
    if (o.score.length < n || !Number.isInteger(D) || D === 0)
      throw new Error(`model returned ${o.score.length} outputs for ${n} sequences`);
    const { model } = ctx;
    const threshold = model.manifest.thresholds.score;
    const rows = new FindingRows(n, D, model.version, now, o.embedding);
    const alerts: ScoredSequence[] = [];
    const flagAt = this.flagAt;
    const sub = subScratch;
    for (let j = 0; j < n; j++) {
      const i = idxs[j] as number;
      const score = o.score[j] as number;
      // Into scratch: a SubScores object only for the alerts that carry one.
      subScoresInto(batch, i, sub, 0, this.subScoreVersion);
      if (
        score >= threshold ||
        (sub[0] as number) >= (flagAt[0] as number) ||
        (sub[1] as number) >= (flagAt[1] as number) ||
        (sub[2] as number) >= (flagAt[2] as number) ||
        (sub[3] as number) >= (flagAt[3] as number) ||
        (sub[4] as number) >= (flagAt[4] as number)
      ) {
        const subscores: SubScores = {
          beacon: sub[0] as number,
          scan: sub[1] as number,
          brute_force: sub[2] as number,
          exfiltration: sub[3] as number,
          reflection: sub[4] as number,
        };
        const s = this.toScored(ctx, batch, i, o, j, D, now, subscores);
        rows.addFinding(s.finding);
        alerts.push(s);
        this.explain(ctx, batch, i, s, r, j);
        continue;
      }
      const k = addQuietRowAt(rows, batch, i);
      rows.score[k] = round6(score);
      rows.anomaly[k] = round6(o.anomaly[j] as number);
      const at = k * SUBSCORES_PER_ROW;
      rows.subscores[at] = sub[0] as number;
      rows.subscores[at + 1] = sub[1] as number;
      rows.subscores[at + 2] = sub[2] as number;
      rows.subscores[at + 3] = sub[3] as number;
      rows.subscores[at + 4] = sub[4] as number;
      this.observeQuiet(ctx, batch, i, r, j);
    }
    return { rows, alerts };
  }

  /** Buckets `seqs`, writes each run's features into its batch tensors and hands the run over. */
  private dispatch(
    ctx: ModelContext,
    seqs: SequenceBatch,
  ): { idxs: number[]; result: Promise<BatchResult> }[] {
    const { model } = ctx;
    const byBucket = new Map<number, number[]>();
    for (let i = 0; i < seqs.count; i++) {
      const b = model.bucketFor(Math.max(1, seqs.flowsOf(i)));
      const list = byBucket.get(b);
      if (list) list.push(i);
      else byBucket.set(b, [i]);
    }
    const runs: { idxs: number[]; result: Promise<BatchResult> }[] = [];
    for (const [len, idxs] of byBucket) {
      for (let s = 0; s < idxs.length; s += model.maxBatch) {
        const chunk = idxs.slice(s, s + model.maxBatch);
        const batch = model.allocate(chunk.length, len);
        for (let j = 0; j < chunk.length; j++) {
          const i = chunk[j] as number;
          // Read at once: the view is reused by the next call. Never more flows than the bucket's.
          const view = this.modelReadsConnections ? connectionView(seqs, i) : null;
          const rows = writeBatchFeatures(
            view ?? seqs,
            view === null ? i : 0,
            batch.flow,
            j * len * FLOW_FEATURE_COUNT,
            len,
            batch.context,
            j * batch.contextWidth,
            model.featureSpec,
          );
          batch.mask.fill(1, j * len, j * len + rows);
        }
        runs.push({ idxs: chunk, result: model.runBatch(batch) });
      }
    }
    return runs;
  }

  /**
   * The run's outputs read in place (no per-sequence output object or views other than the
   * embedding the store and the neighbour search keep; tactic probabilities only for malicious
   * verdicts).
   */
  private toScoredRun(
    ctx: ModelContext,
    batch: SequenceBatch,
    idxs: number[],
    r: BatchResult,
    now: number,
  ): ScoredSequence[] {
    const o = r.outputs;
    const n = idxs.length;
    const D = o.embedding.length / n;
    if (o.score.length < n || !Number.isInteger(D) || D === 0)
      throw new Error(`model returned ${o.score.length} outputs for ${n} sequences`);
    const out = new Array<ScoredSequence>(n);
    for (let j = 0; j < n; j++) {
      const i = idxs[j] as number;
      out[j] = this.toScored(ctx, batch, i, o, j, D, now, subScoresAt(batch, i, this.subScoreVersion));
    }
    return out;
  }

  /** Top features of an alert, or (every BASELINE_SAMPLE-th quiet sequence) a benign observation. */
  private explain(
    ctx: ModelContext,
    batch: SequenceBatch,
    i: number,
    s: ScoredSequence,
    r: BatchResult,
    row: number,
  ): void {
    if (!s.alert) {
      this.observeQuiet(ctx, batch, i, r, row);
      return;
    }
    const summary = summaryOf(
      batch,
      i,
      r,
      row,
      ctx.model.featureSpec,
      this.modelReadsConnections,
      ctx.summary,
    );
    s.finding.explanation.top_features = ctx.baseline.top(summary, this.topFeatures);
  }

  /** Every BASELINE_SAMPLE-th quiet sequence feeds the online benign baseline. */
  private observeQuiet(
    ctx: ModelContext,
    batch: SequenceBatch,
    i: number,
    r: BatchResult,
    row: number,
  ): void {
    if (ctx.baseline.fixed || ctx.benignSeen++ % BASELINE_SAMPLE !== 0) return;
    ctx.baseline.observeBenign(
      summaryOf(batch, i, r, row, ctx.model.featureSpec, this.modelReadsConnections, ctx.summary),
    );
  }

  private toScored(
    ctx: ModelContext,
    batch: SequenceBatch,
    i: number,
    o: BatchResult['outputs'],
    j: number,
    D: number,
    now: number,
    sub: SubScores,
  ): ScoredSequence {
    const { model } = ctx;
    const score = o.score[j] as number;
    const anomaly = o.anomaly[j] as number;
    const flags = flaggedBy(sub, this.flagAt);
    const verdict = score >= model.manifest.thresholds.score ? 'malicious' : 'benign';
    const T = model.manifest.tactics.length;
    let tactics =
      verdict === 'malicious'
        ? tacticCandidates(o.tactic_probs.subarray(j * T, (j + 1) * T), model.manifest, ctx.trained)
        : [];
    let techniques = techniqueCandidates(tactics, ctx.techniques);
    const at = this.thresholdOf;
    const scanAt = at[SCAN_AT] as number;
    const bruteAt = at[BRUTE_FORCE_AT] as number;
    const reflectionAt = at[REFLECTION_AT] as number;
    if (sub.reflection >= reflectionAt)
      ({ tactics, techniques } = withReflection(tactics, techniques, sub.reflection));
    const version = this.subScoreVersion;
    // v4's to v7's scan is max(v3's scan, the inbound term): only the inbound term means Reconnaissance.
    const inboundVersion = version !== 'v1' && version !== 'v2' && version !== 'v3';
    // v5 and later name the tactic of a flag whose evidence means one thing (v6, v7: over connections).
    const tacticVersion = inboundVersion && version !== 'v4';
    if (inboundVersion && sub.scan >= scanAt) {
      const inbound = inboundScanAt(batch, i, version);
      if (inbound >= scanAt) ({ tactics, techniques } = withInboundScan(tactics, techniques, inbound));
      // v5's fan-out scan reads silence as no packet back from an unsampled flow: a host's own sweep.
      else if (tacticVersion) ({ tactics, techniques } = withServiceDiscovery(tactics, techniques, sub.scan));
    }
    // v5's brute force means guessing credentials when its login or Kerberos term raised it (its
    // connection count is also what a connection-flood DoS raises: no tactic from that alone).
    if (tacticVersion && sub.brute_force >= bruteAt) {
      const guessing = credentialGuessingAt(batch, i, version);
      if (guessing >= bruteAt)
        ({ tactics, techniques } = withCredentialGuessing(tactics, techniques, guessing));
    }
    return {
      finding: newFindingAt(batch, i, {
        score: round6(score),
        anomaly: round6(anomaly),
        verdict,
        tactics,
        techniques,
        severity: severityOf(verdict, score, anomaly, tactics[0]?.id ?? null, flags.length > 0),
        model_version: model.version,
        subscores: sub,
        scored_at_ms: now,
      }),
      embedding: o.embedding.subarray(j * D, (j + 1) * D),
      alert: verdict === 'malicious' || flags.length > 0,
      flags,
      infrastructureOnly: infrastructureOnlyAt(batch, i),
      initiatorDsts: batch.distinctDsts[i] as number,
    };
  }

  /**
   * Fills `explanation.neighbours` of the alerting sequences from the store's labelled points.
   * Alerts with identical embeddings (repeated probes, floods: common) share one query for k + 1
   * hits, from which each drops its own id: the same neighbours as one query each, excluding self.
   */
  async explainNeighbours(scored: ScoredSequence[], index: NeighbourIndex): Promise<void> {
    const alerts = scored.filter((s) => s.alert);
    const k = this.neighbourK;
    if (alerts.length === 0 || k === 0) return;
    const filter = { labelled: true };
    const { queries, groupOf } = groupEmbeddings(alerts.map((s) => s.embedding));
    const opts = { k: k + 1, filter };
    const results: NeighbourEvidence[][] = index.similarEvidence
      ? await index.similarEvidence(queries, opts)
      : index.similarMany
        ? (await index.similarMany(queries, opts)).map((hits) => hits.map(evidenceOf))
        : await Promise.all(
            queries.map(async (q) => (await index.similar(Array.from(q), opts)).map(evidenceOf)),
          );
    alerts.forEach((s, i) => {
      const own = s.finding.sequence_id;
      const hits = (results[groupOf[i] as number] ?? []).filter((h) => h.id !== own).slice(0, k);
      s.finding.explanation.neighbours = hits.map(
        (h): Neighbour => ({
          sequence_id: h.id,
          similarity: round6(h.similarity),
          verdict: h.verdict,
          label: h.label === null ? null : h.label === 1 ? 'malicious' : 'benign',
        }),
      );
    });
  }
}

/** `seqs` as a SequenceBatch (their numbers copied into its columns). */
function batchOf(seqs: readonly Sequence[]): SequenceBatch {
  const batch = new SequenceBatch();
  for (const seq of seqs) batch.push(seq);
  return batch;
}

let bitsA = new Float32Array(64);
let bitsAU = new Uint32Array(bitsA.buffer);
let bitsB = new Float32Array(64);
let bitsBU = new Uint32Array(bitsB.buffer);

function ensureBits(n: number): void {
  if (bitsA.length >= n) return;
  bitsA = new Float32Array(n);
  bitsAU = new Uint32Array(bitsA.buffer);
  bitsB = new Float32Array(n);
  bitsBU = new Uint32Array(bitsB.buffer);
}

/**
 * MurmurHash3 (x86, 32-bit) over the float bits (a same-type `set` copies bytes, NaN payloads and
 * -0 included), cut to 30 bits so that Map keys stay small integers.
 */
export function embeddingBitsHash(e: Float32Array): number {
  ensureBits(e.length);
  bitsA.set(e);
  let h = 0;
  for (let i = 0; i < e.length; i++) {
    let k = Math.imul(bitsAU[i] as number, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  }
  h ^= e.length * 4;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  ensureBits(a.length);
  bitsA.set(a);
  bitsB.set(b);
  for (let i = 0; i < a.length; i++) if (bitsAU[i] !== bitsBU[i]) return false;
  return true;
}

/**
 * Groups embeddings by identical bytes, queries in order of first appearance: what keying a Map by
 * each embedding's bytes as a base64 string gave, without a Buffer and a string per alert. Hash
 * collisions are resolved by comparing the bits (`hash` is a parameter for the tests).
 */
export function groupEmbeddings(
  embeddings: readonly Float32Array[],
  hash: (e: Float32Array) => number = embeddingBitsHash,
): { queries: Float32Array[]; groupOf: number[] } {
  const firstOf = new Map<number, number>();
  const nextSame: number[] = [];
  const queries: Float32Array[] = [];
  const groupOf: number[] = new Array(embeddings.length);
  for (let i = 0; i < embeddings.length; i++) {
    const e = embeddings[i] as Float32Array;
    const h = hash(e);
    let q = firstOf.get(h);
    let last = -1;
    while (q !== undefined && q !== -1 && !sameBits(queries[q] as Float32Array, e)) {
      last = q;
      q = nextSame[q];
    }
    if (q === undefined || q === -1) {
      q = queries.length;
      queries.push(e);
      nextSame.push(-1);
      if (last === -1) firstOf.set(h, q);
      else nextSame[last] = q;
    }
    groupOf[i] = q;
  }
  return { queries, groupOf };
}
