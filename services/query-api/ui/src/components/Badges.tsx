import type { AttackCandidate, Severity, Verdict } from '../api.ts';
import { pct } from '../format.ts';

export function SeverityBadge({ severity }: { severity: Severity }) {
  return <span class={`badge sev-${severity}`}>{severity}</span>;
}

export function VerdictBadge({ verdict }: { verdict: Verdict | null | undefined }) {
  if (!verdict) return <span class="badge">unknown</span>;
  return <span class={`badge verdict-${verdict}`}>{verdict}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status.replace('_', ' ')}</span>;
}

export function TacticBadge({
  tactic,
  showProbability = false,
  verdict,
}: {
  tactic: AttackCandidate | undefined;
  showProbability?: boolean;
  verdict?: Verdict;
}) {
  if (!tactic && verdict === 'benign') return <span class="muted">–</span>;
  return <TacticBadgeInner tactic={tactic} showProbability={showProbability} />;
}

function TacticBadgeInner({
  tactic,
  showProbability = false,
}: {
  tactic: AttackCandidate | undefined;
  showProbability?: boolean;
}) {
  if (!tactic) return <span class="badge tactic-none">unclassified</span>;
  return (
    <span class="badge tactic" title={`${tactic.id} ${tactic.name}`}>
      {tactic.name}
      {showProbability ? ` ${pct(tactic.probability)}` : ''}
    </span>
  );
}
