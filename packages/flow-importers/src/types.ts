import type { FlowRecord } from '@tidewatch/contracts';

/** File formats `readFlowFile` understands (the `--format` names of `tidewatch import`). */
export const IMPORT_FORMATS = [
  'tempo',
  'zeek',
  'zeek-csv',
  'cic',
  'parquet',
  'argus',
  'nfdump',
  'aws',
  'gcp',
  'flows',
  'ton-iot',
  'unsw-nb15',
  'nprobe',
] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** One data row of a file: the flow it became, or why it was rejected. */
export type ImportRow =
  | { row: number; line: number; flow: FlowRecord; error?: undefined }
  | { row: number; line: number; error: string; flow?: undefined };

/**
 * Running counts of one file. `rows = imported + rejected` always holds; `skipped` counts lines
 * that carry no flow by the format's own definition (AWS NODATA/SKIPDATA) and are not rows.
 */
export interface ImportStats {
  rows: number;
  imported: number;
  rejected: number;
  skipped: number;
}

/** A row-level failure; the reader turns it into `<file>:<line>: <message>`. */
export class RowError extends Error {
  override name = 'RowError';
}

/** What a line-oriented format parser returns for one line. */
export type LineResult =
  | { kind: 'flow'; flow: FlowRecord }
  | { kind: 'header' }
  | { kind: 'comment' }
  | { kind: 'skip'; reason: string }
  | { kind: 'trailer' };

export interface LineParser {
  /** Parses one line (without its line terminator). Throws RowError for a bad data row. */
  parse(text: string): LineResult;
}

export interface ParserContext {
  /** `exporter` of the records: `file:<basename>` unless the format carries its own. */
  exporter: string;
}

/** The file as a whole cannot be read in this format (bad or missing header): nothing is imported. */
export class FileFormatError extends Error {
  override name = 'FileFormatError';
}
