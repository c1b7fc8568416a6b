import { randomUUID } from 'node:crypto';
import type { VectorStore } from '@tidewatch/vector-store';
import { badRequest, notFound } from './errors.ts';
import type { WebhookDispatcher } from './push/webhooks.ts';
import type { Case, CaseStore } from './stores/domain.ts';

export interface CaseUpdate {
  title?: string;
  description?: string;
  status?: Case['status'];
  priority?: Case['priority'];
  note?: string;
  add_findings?: string[];
  remove_findings?: string[];
}

/** Analyst cases: create, update status/priority/notes, attach findings (which must exist). */
export class CaseService {
  constructor(
    private readonly cases: CaseStore,
    private readonly store: VectorStore,
    private readonly webhooks: WebhookDispatcher,
  ) {}

  async #checkFindings(ids: string[], field: string): Promise<void> {
    for (const id of ids)
      if (!(await this.store.get(id, { withVector: false })))
        throw badRequest(field, `finding ${id} does not exist`);
  }

  async create(
    input: { title: string; description?: string; priority?: Case['priority']; finding_ids?: string[] },
    author: string,
  ): Promise<Case> {
    const ids = [...new Set(input.finding_ids ?? [])];
    await this.#checkFindings(ids, 'finding_ids');
    const now = Date.now();
    const c: Case = {
      id: randomUUID(),
      title: input.title,
      description: input.description ?? '',
      status: 'open',
      priority: input.priority ?? 'medium',
      notes: [],
      finding_ids: ids,
      created_by: author,
      created_at_ms: now,
      updated_at_ms: now,
    };
    await this.cases.put(c);
    await this.webhooks.enqueue('case.created', `msg_case_${c.id.replace(/-/g, '')}_created`, c);
    return c;
  }

  async get(id: string): Promise<Case> {
    const c = await this.cases.get(id);
    if (!c) throw notFound(`case ${id}`);
    return c;
  }

  async list(filter: { status?: Case['status']; priority?: Case['priority'] } = {}): Promise<Case[]> {
    return (await this.cases.list()).filter(
      (c) =>
        (!filter.status || c.status === filter.status) &&
        (!filter.priority || c.priority === filter.priority),
    );
  }

  async update(id: string, u: CaseUpdate, author: string): Promise<Case> {
    const c = await this.get(id);
    if (u.add_findings) await this.#checkFindings(u.add_findings, 'add_findings');
    if (u.title !== undefined) c.title = u.title;
    if (u.description !== undefined) c.description = u.description;
    if (u.status !== undefined) c.status = u.status;
    if (u.priority !== undefined) c.priority = u.priority;
    if (u.note) c.notes.push({ at_ms: Date.now(), author, text: u.note });
    if (u.add_findings) c.finding_ids = [...new Set([...c.finding_ids, ...u.add_findings])];
    if (u.remove_findings) {
      const drop = new Set(u.remove_findings);
      c.finding_ids = c.finding_ids.filter((f) => !drop.has(f));
    }
    c.updated_at_ms = Math.max(Date.now(), c.updated_at_ms + 1);
    await this.cases.put(c);
    await this.webhooks.enqueue('case.updated', `msg_case_${c.id.replace(/-/g, '')}_${c.updated_at_ms}`, c);
    return c;
  }
}
