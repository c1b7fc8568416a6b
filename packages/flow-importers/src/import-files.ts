import type { FlowRecord } from '@tidewatch/contracts';
import { readFlowFile } from './reader.ts';
import { FileFormatError, type ImportFormat, type ImportStats } from './types.ts';

/** Where imported flows go: the collector's FlowPublisher (Kafka or in-process bus), a test array... */
export interface FlowSink {
  /** May resolve later to apply backpressure (e.g. a full publish queue). */
  write(flow: FlowRecord): void | Promise<void>;
}

export interface FileImportSummary extends ImportStats {
  file: string;
  format: ImportFormat | undefined;
  /** Set when the file could not be read at all (unknown format, bad header, I/O error). */
  failed?: string;
}

export interface ImportFilesOptions {
  /** Called for every rejected row (`<file>:<line>: <what>`); default: ignored (counted only). */
  onRejected?: (error: string) => void;
  exporter?: string;
}

/**
 * Imports files one after another into a sink, in input order. Returns one summary per file with
 * `rows = imported + rejected`; a file that cannot be read is reported in `failed` and the others
 * still import.
 */
export async function importFiles(
  files: string[],
  format: ImportFormat | 'auto',
  sink: FlowSink,
  options: ImportFilesOptions = {},
): Promise<FileImportSummary[]> {
  const out: FileImportSummary[] = [];
  for (const file of files) {
    const reader = readFlowFile(file, {
      format,
      ...(options.exporter ? { exporter: options.exporter } : {}),
    });
    const summary: FileImportSummary = { file, format: reader.format, ...reader.stats };
    try {
      for await (const r of reader) {
        if (r.flow) {
          const pending = sink.write(r.flow);
          if (pending) await pending;
        } else options.onRejected?.(r.error);
      }
    } catch (e) {
      if (!(e instanceof FileFormatError) && !(e instanceof Error && 'code' in e)) throw e;
      summary.failed = e.message;
    }
    Object.assign(summary, reader.stats, { format: reader.format });
    out.push(summary);
  }
  return out;
}

export function formatSummary(s: FileImportSummary): string {
  if (s.failed) return `${s.file}: FAILED: ${s.failed}`;
  const skipped = s.skipped > 0 ? ` (${s.skipped} NODATA/SKIPDATA lines skipped)` : '';
  return `${s.file} [${s.format}]: rows read ${s.rows} = imported ${s.imported} + rejected ${s.rejected}${skipped}`;
}
