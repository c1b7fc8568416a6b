import type { ComponentChildren } from 'preact';

export interface Column<T> {
  id: string;
  label: string;
  render: (row: T) => ComponentChildren;
  /** Sort field the API accepts; a sortable header toggles asc/desc. */
  sort?: string;
  numeric?: boolean;
}

interface Props<T> {
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  onOpen?: (row: T) => void;
  sort?: { field: string; order: 'asc' | 'desc' } | undefined;
  onSort?: (field: string, order: 'asc' | 'desc') => void;
  empty?: string;
  label: string;
  testId?: string;
  selected?: Set<string>;
  onSelect?: (key: string, on: boolean) => void;
}

function moveFocus(from: HTMLElement, delta: number): void {
  const rows = Array.from(from.closest('tbody')?.querySelectorAll<HTMLElement>('tr[tabindex]') ?? []);
  const i = rows.indexOf(from);
  rows[Math.min(rows.length - 1, Math.max(0, i + delta))]?.focus();
}

/** A table whose rows are focusable: j/k or arrows move, Enter opens. */
export function DataTable<T>(p: Props<T>) {
  return (
    <div class="table-wrap">
      <table aria-label={p.label} data-testid={p.testId}>
        <thead>
          <tr>
            {p.onSelect && (
              <th scope="col">
                <span class="sr-only">Select</span>
              </th>
            )}
            {p.columns.map((c) => {
              const active = p.sort?.field === c.sort;
              const ariaSort = active ? (p.sort?.order === 'asc' ? 'ascending' : 'descending') : undefined;
              return (
                <th key={c.id} scope="col" class={c.numeric ? 'num' : undefined} aria-sort={ariaSort}>
                  {c.sort && p.onSort ? (
                    <button
                      type="button"
                      class="sort"
                      data-sort={c.sort}
                      onClick={() =>
                        p.onSort?.(c.sort as string, active && p.sort?.order === 'desc' ? 'asc' : 'desc')
                      }
                    >
                      {c.label}
                      <span aria-hidden="true">
                        {active ? (p.sort?.order === 'asc' ? ' ▲' : ' ▼') : ' ↕'}
                      </span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {p.rows.length === 0 && (
            <tr>
              <td colSpan={p.columns.length + (p.onSelect ? 1 : 0)} class="empty">
                {p.empty ?? 'Nothing to show.'}
              </td>
            </tr>
          )}
          {p.rows.map((row) => {
            const key = p.rowKey(row);
            return (
              <tr
                key={key}
                data-key={key}
                tabIndex={p.onOpen ? 0 : undefined}
                class={p.onOpen ? 'clickable' : undefined}
                onClick={(e) => {
                  if ((e.target as Element).closest('a,button,input')) return;
                  p.onOpen?.(row);
                }}
                onKeyDown={(e) => {
                  if (e.target !== e.currentTarget) return;
                  if (e.key === 'Enter') p.onOpen?.(row);
                  else if (e.key === 'j' || e.key === 'ArrowDown') {
                    e.preventDefault();
                    moveFocus(e.currentTarget, 1);
                  } else if (e.key === 'k' || e.key === 'ArrowUp') {
                    e.preventDefault();
                    moveFocus(e.currentTarget, -1);
                  }
                }}
              >
                {p.onSelect && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label="Select row"
                      checked={p.selected?.has(key) ?? false}
                      onChange={(e) => p.onSelect?.(key, (e.target as HTMLInputElement).checked)}
                    />
                  </td>
                )}
                {p.columns.map((c) => (
                  <td key={c.id} class={c.numeric ? 'num' : undefined}>
                    {c.render(row)}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
