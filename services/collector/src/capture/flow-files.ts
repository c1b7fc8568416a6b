import { readFile } from 'node:fs/promises';
import type { FlowRecord } from '@tidewatch/contracts';
import { FlowDecoder } from '../decode/index.ts';
import {
  type CaptureStats,
  detectCapture,
  newCaptureStats,
  readCapture,
  splitRawDatagrams,
} from './index.ts';

export interface FlowFileOptions {
  /** Exporter address for raw datagram files, and for captures when `forceExporter` is set. */
  exporter?: string;
  /** Use `exporter` for capture packets too instead of each packet's source address. */
  forceExporter?: boolean;
  /** Receive time for raw datagram files (they carry none); default: now. */
  receivedAtMs?: number;
  decoder?: FlowDecoder;
}

export interface FlowFileResult {
  file: string;
  kind: 'pcap' | 'pcapng' | 'raw';
  datagrams: number;
  records: number;
  capture?: CaptureStats;
}

export const DEFAULT_RAW_EXPORTER = '127.0.0.1';

/**
 * Decodes capture and raw datagram files in the order given through one FlowDecoder, so template
 * state carries from one file to the next (templates in one file, data in the next). Calls
 * `onRecord` for each record in order. Throws on an unreadable file (missing, broken header).
 */
export async function decodeFlowFiles(
  files: string[],
  onRecord: (r: FlowRecord) => void,
  opts: FlowFileOptions = {},
): Promise<{ decoder: FlowDecoder; files: FlowFileResult[] }> {
  const decoder = opts.decoder ?? new FlowDecoder();
  const results: FlowFileResult[] = [];
  const batch: FlowRecord[] = [];
  const rawExporter = opts.exporter ?? DEFAULT_RAW_EXPORTER;
  for (const file of files) {
    const buf = await readFile(file);
    const kind = detectCapture(buf);
    const result: FlowFileResult = { file, kind, datagrams: 0, records: 0 };
    if (kind === 'raw') {
      if (buf.length === 0) throw new Error(`${file}: empty file`);
      const receivedAtMs = opts.receivedAtMs ?? Date.now();
      for (const d of splitRawDatagrams(buf)) {
        batch.length = 0;
        decoder.decodeInto(d, { exporter: rawExporter, receivedAtMs }, batch);
        result.datagrams++;
        result.records += batch.length;
        for (const r of batch) onRecord(r);
      }
    } else {
      const stats = newCaptureStats();
      for (const d of readCapture(buf, stats)) {
        batch.length = 0;
        const exporter = opts.forceExporter ? rawExporter : d.srcIp;
        decoder.decodeInto(
          d.payload,
          { exporter, exporterPort: d.srcPort, receivedAtMs: d.timestampMs },
          batch,
        );
        result.datagrams++;
        result.records += batch.length;
        for (const r of batch) onRecord(r);
      }
      result.capture = stats;
    }
    results.push(result);
  }
  return { decoder, files: results };
}
