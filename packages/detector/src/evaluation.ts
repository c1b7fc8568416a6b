import { type BuiltinRule, BUILTIN_RULES } from '@tidewatch/suppression';
import { serviceRaises } from './detector.ts';
import type { OfflineResult } from './offline-scorer.ts';

export interface BinaryMetrics {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** Items without ground truth (unlabelled rows / sequences with any unlabelled flow), not counted above. */
  excluded: number;
  accuracy: number | null;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  fpr: number | null;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

export function binaryMetrics(pairs: Iterable<{ truth: number | null; predicted: boolean }>): BinaryMetrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  let excluded = 0;
  for (const { truth, predicted } of pairs) {
    if (truth !== 0 && truth !== 1) excluded++;
    else if (truth === 1) predicted ? tp++ : fn++;
    else predicted ? fp++ : tn++;
  }
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return {
    tp,
    fp,
    tn,
    fn,
    excluded,
    accuracy: ratio(tp + tn, tp + tn + fp + fn),
    precision,
    recall,
    f1:
      precision !== null && recall !== null && precision + recall > 0
        ? (2 * precision * recall) / (precision + recall)
        : tp + fp + fn > 0
          ? 0
          : null,
    fpr: ratio(fp, fp + tn),
  };
}

/**
 * Per flow: each labelled data row against the verdict of the sequence it fell into (rejected rows
 * count as excluded). Per sequence: the sequence's label (1 if any flow is malicious, 0 if all are
 * benign, excluded otherwise) against its verdict. `alerts`: the same against what the inference
 * service raises, a malicious verdict OR a baseline sub-score at or above the detector's flag
 * threshold (a low-severity finding), unless a built-in suppression rule records it as suppressed
 * (`builtinRules`, the service's default set unless told otherwise).
 */
export function evaluateOffline(
  result: OfflineResult,
  builtinRules: readonly BuiltinRule[] = BUILTIN_RULES,
): {
  perFlow: BinaryMetrics;
  perSequence: BinaryMetrics;
  alerts: { perFlow: BinaryMetrics; perSequence: BinaryMetrics };
} {
  const judge = (raised: (s: OfflineResult['sequences'][number]) => boolean) => ({
    perFlow: binaryMetrics(
      result.rows.map((r) => {
        const s = r.sequence >= 0 ? result.sequences[r.sequence] : undefined;
        return { truth: s ? r.label : null, predicted: s ? raised(s) : false };
      }),
    ),
    perSequence: binaryMetrics(
      result.sequences.map((s) => ({ truth: s.finding.label, predicted: raised(s) })),
    ),
  });
  const model = judge((s) => s.finding.verdict === 'malicious');
  return {
    ...model,
    alerts: judge((s) => serviceRaises(s, builtinRules)),
  };
}
