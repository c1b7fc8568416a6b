import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { detectFormat } from './detect.ts';
import { ArgusCsvParser } from './formats/argus.ts';
import { AwsVpcParser } from './formats/aws.ts';
import { CicCsvParser } from './formats/cic.ts';
import { FlowsJsonParser } from './formats/flows-json.ts';
import { GcpVpcParser, gcpRecord } from './formats/gcp.ts';
import { NfdumpCsvParser } from './formats/nfdump.ts';
import { NprobeCsvParser } from './formats/nprobe.ts';
import { parquetRecord, readParquetRows } from './formats/parquet.ts';
import { TempoCsvParser } from './formats/tempo.ts';
import { TonIotCsvParser } from './formats/ton-iot.ts';
import { UnswNb15Parser } from './formats/unsw-nb15.ts';
import { ZeekConnParser, ZeekCsvParser } from './formats/zeek.ts';
import { readLines } from './lines.ts';
import {
  FileFormatError,
  IMPORT_FORMATS,
  type ImportFormat,
  type ImportRow,
  type ImportStats,
  type LineParser,
  type ParserContext,
  RowError,
} from './types.ts';

export interface ReadFlowFileOptions {
  /** A format name, or 'auto' (the default) to detect it from the file. */
  format?: ImportFormat | 'auto';
  /** `exporter` of the records; default `file:<basename>` (formats with their own keep theirs). */
  exporter?: string;
}

function lineParser(format: Exclude<ImportFormat, 'parquet'>, ctx: ParserContext): LineParser {
  switch (format) {
    case 'tempo':
      return new TempoCsvParser(ctx);
    case 'zeek':
      return new ZeekConnParser(ctx);
    case 'zeek-csv':
      return new ZeekCsvParser(ctx);
    case 'cic':
      return new CicCsvParser(ctx);
    case 'argus':
      return new ArgusCsvParser(ctx);
    case 'nfdump':
      return new NfdumpCsvParser(ctx);
    case 'aws':
      return new AwsVpcParser(ctx);
    case 'gcp':
      return new GcpVpcParser(ctx);
    case 'flows':
      return new FlowsJsonParser();
    case 'ton-iot':
      return new TonIotCsvParser(ctx);
    case 'unsw-nb15':
      return new UnswNb15Parser(ctx);
    case 'nprobe':
      return new NprobeCsvParser(ctx);
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The rows of one flow file, in input order. Every data row comes out either as a flow or as an
 * error `<file>:<line>: <what was wrong>`; nothing is dropped silently. `stats` is updated as the
 * rows are read. A file that cannot be read in the format at all (bad header, unknown format)
 * makes the iteration throw FileFormatError.
 */
export class FlowFileReader implements AsyncIterable<ImportRow> {
  readonly stats: ImportStats = { rows: 0, imported: 0, rejected: 0, skipped: 0 };
  #format: ImportFormat | undefined;

  constructor(
    readonly path: string,
    private readonly options: ReadFlowFileOptions = {},
  ) {
    const f = options.format;
    if (f !== undefined && f !== 'auto' && !IMPORT_FORMATS.includes(f))
      throw new FileFormatError(`unknown format '${f}' (known: ${IMPORT_FORMATS.join(', ')})`);
    if (f !== undefined && f !== 'auto') this.#format = f;
  }

  /** The format in use (known after the first row when it was detected). */
  get format(): ImportFormat | undefined {
    return this.#format;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ImportRow> {
    const format = this.#format ?? (await detectFormat(this.path));
    this.#format = format;
    const ctx: ParserContext = { exporter: this.options.exporter ?? `file:${basename(this.path)}` };
    if (format === 'parquet') {
      yield* this.#parquet(ctx);
      return;
    }
    if (format === 'gcp' && (await this.#isJsonArray())) {
      yield* this.#jsonArray(ctx);
      return;
    }
    const parser = lineParser(format, ctx);
    for await (const { line, text } of readLines(this.path)) {
      let result: ReturnType<LineParser['parse']>;
      try {
        result = parser.parse(text);
      } catch (e) {
        if (e instanceof FileFormatError) throw new FileFormatError(`${this.path}:${line}: ${e.message}`);
        yield this.#reject(line, message(e));
        continue;
      }
      if (result.kind === 'flow') yield this.#accept(line, result.flow);
      else if (result.kind === 'skip') this.stats.skipped++;
    }
  }

  #accept(line: number, flow: ImportRow['flow'] & object): ImportRow {
    const row = this.stats.rows++;
    this.stats.imported++;
    return { row, line, flow };
  }

  #reject(line: number, what: string): ImportRow {
    const row = this.stats.rows++;
    this.stats.rejected++;
    return { row, line, error: `${this.path}:${line}: ${what}` };
  }

  async *#parquet(ctx: ParserContext): AsyncGenerator<ImportRow> {
    let n = 0;
    for await (const r of readParquetRows(this.path)) {
      n++;
      try {
        yield this.#accept(n, parquetRecord(r, ctx.exporter));
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        yield this.#reject(n, message(e));
      }
    }
  }

  async #isJsonArray(): Promise<boolean> {
    const text = await readFile(this.path, 'utf8');
    return text.trimStart().startsWith('[');
  }

  /** A JSON array of log entries (`gcloud logging read --format=json`): `line` is the entry number. */
  async *#jsonArray(ctx: ParserContext): AsyncGenerator<ImportRow> {
    let entries: unknown;
    try {
      entries = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (e) {
      throw new FileFormatError(`${this.path}: invalid JSON array: ${message(e)}`);
    }
    if (!Array.isArray(entries)) throw new FileFormatError(`${this.path}: not a JSON array`);
    for (let i = 0; i < entries.length; i++) {
      let flow: ReturnType<typeof gcpRecord>;
      try {
        flow = gcpRecord(entries[i], ctx.exporter);
      } catch (e) {
        yield this.#reject(i + 1, `entry ${i + 1}: ${message(e)}`);
        continue;
      }
      yield this.#accept(i + 1, flow);
    }
  }
}

/** Reads one flow file (see FlowFileReader). */
export function readFlowFile(path: string, options: ReadFlowFileOptions = {}): FlowFileReader {
  return new FlowFileReader(path, options);
}
