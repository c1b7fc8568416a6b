import type { Finding } from '@tidewatch/contracts';
import type { CaseService } from '../cases.ts';
import { badRequest } from '../errors.ts';
import type { FilterParams, FindingQueries } from '../finding-queries.ts';
import { toFilter } from '../finding-queries.ts';
import { toNavigatorLayer } from './formats.ts';

/** An ATT&CK Navigator layer for a case's findings or for the malicious findings of a time range. */
export async function navigatorLayer(
  queries: FindingQueries,
  cases: CaseService,
  params: FilterParams & { case_id?: string },
): Promise<Record<string, unknown>> {
  const findings: Finding[] = [];
  if (params.case_id) {
    const c = await cases.get(params.case_id);
    if (c.finding_ids.length)
      for await (const f of queries.scan({ sequenceIds: c.finding_ids })) findings.push(f);
    return toNavigatorLayer(
      findings,
      `Tidewatch case: ${c.title}`,
      `Techniques of the ${c.finding_ids.length} findings of case ${c.id}`,
    );
  }
  if (params.from === undefined) throw badRequest('from', 'from (or case_id) is required');
  const filter = toFilter(params, { defaultStatus: false });
  filter.verdict = 'malicious';
  for await (const f of queries.scan(filter)) findings.push(f);
  const from = new Date(filter.fromMs as number).toISOString();
  const to = new Date(filter.toMs ?? Date.now()).toISOString();
  return toNavigatorLayer(
    findings,
    `Tidewatch ${from} – ${to}`,
    `Techniques of ${findings.length} malicious findings from ${from} to ${to}`,
  );
}
