import { writeFile } from 'node:fs/promises';
import type { FlowRecord } from '@tidewatch/contracts';
import { type ImportFormat, readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences, notAConversationFlow } from '@tidewatch/sequencing';

/** The formats the Python fine-tuning reads itself, by the importers' `--format` names. */
export const PYTHON_READS: Readonly<Partial<Record<ImportFormat, string>>> = {
  tempo: 'tempo_csv',
  zeek: 'zeek_conn',
  'zeek-csv': 'zeek_conn',
  cic: 'cic_csv',
  parquet: 'parquet',
};

const HEADER =
  'timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts,label,protocol,attack,tcp_flags';

function csvText(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

export interface TempoConversion {
  rows: number;
  rejected: number;
  firstRejection?: string;
  notFlows: number;
  flows: number;
}

/**
 * Writes a flow file of any import format as Tempo CSV for the Python fine-tuning: the flows the
 * pipeline's sequencer makes of it (sequencing's buildSequences: one-way records stitched into
 * biflows and oriented, rule 0 records left out, a firewall connection's records folded), each with
 * its initiator as source, so the model is tuned on what the service will show it. Rejected rows
 * are counted, not written.
 */
export async function writeTempoCsv(
  path: string,
  format: ImportFormat,
  out: string,
): Promise<TempoConversion> {
  const reader = readFlowFile(path, { format });
  const records: FlowRecord[] = [];
  let firstRejection: string | undefined;
  let notFlows = 0;
  for await (const r of reader) {
    if (r.error !== undefined) firstRejection ??= r.error;
    else if (notAConversationFlow(r.flow) !== undefined) notFlows++;
    else records.push(r.flow);
  }
  const lines = [HEADER];
  for (const s of buildSequences(records))
    for (const f of s.flows)
      lines.push(
        [
          new Date(f.start_ms).toISOString().replace('T', ' ').replace('Z', ''),
          ((f.end_ms - f.start_ms) / 1000).toFixed(3),
          s.src_ip,
          s.dst_ip,
          f.src_port,
          f.dst_port,
          f.fwd_bytes,
          f.bwd_bytes,
          f.fwd_pkts,
          f.bwd_pkts,
          f.label ?? '',
          f.protocol,
          csvText(f.attack ?? ''),
          f.tcp_flags,
        ].join(','),
      );
  await writeFile(out, `${lines.join('\n')}\n`);
  return {
    rows: reader.stats.rows,
    rejected: reader.stats.rejected,
    notFlows,
    flows: lines.length - 1,
    ...(firstRejection === undefined ? {} : { firstRejection }),
  };
}
