import { FileFormatError } from './types.ts';

/** Splits one CSV line (RFC 4180 quoting; no embedded newlines, which flow exports never have). */
export function splitCsvLine(text: string, separator = ','): string[] {
  if (!text.includes('"')) return text.split(separator);
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === separator) {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

/**
 * A CSV header line as a ColumnIndex: the file fails (FileFormatError `<lacks> a, b`) when a
 * required column is missing.
 */
export function csvHeader(fields: string[], required: string[], lacks: string): ColumnIndex {
  const cols = new ColumnIndex(fields.map((f) => f.trim()));
  const missing = cols.missing(required);
  if (missing.length > 0) throw new FileFormatError(`${lacks} ${missing.join(', ')}`);
  return cols;
}

/** Column positions by header name; `get` returns the trimmed value or '' when the column is absent. */
export class ColumnIndex {
  readonly #pos = new Map<string, number>();

  constructor(readonly names: string[]) {
    names.forEach((n, i) => {
      const key = n.trim();
      if (!this.#pos.has(key)) this.#pos.set(key, i);
    });
  }

  has(name: string): boolean {
    return this.#pos.has(name);
  }

  /** First of `names` that the header has. */
  pick(...names: string[]): string | undefined {
    return names.find((n) => this.#pos.has(n));
  }

  get(fields: string[], name: string | undefined): string {
    if (name === undefined) return '';
    const i = this.#pos.get(name);
    return i === undefined ? '' : (fields[i] ?? '').trim();
  }

  missing(required: string[]): string[] {
    return required.filter((n) => !this.#pos.has(n));
  }
}
