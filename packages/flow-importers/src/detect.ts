import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { looksLikeUnswNb15Record } from './formats/unsw-nb15.ts';
import { FileFormatError, type ImportFormat } from './types.ts';

async function head(path: string, bytes = 8192): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Guesses a file's format from its name and first lines; throws FileFormatError when unsure. */
export async function detectFormat(path: string): Promise<ImportFormat> {
  const text = await head(path);
  if (text.startsWith('PAR1') || extname(path).toLowerCase() === '.parquet') return 'parquet';
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/);
  const first = lines.find((l) => l.trim() !== '') ?? '';
  const t = first.trim();
  if (t.startsWith('#separator') || t.startsWith('#fields')) return 'zeek';
  if (t.startsWith('[')) return 'gcp';
  if (t.startsWith('{')) {
    if (t.includes('"id.orig_h"')) return 'zeek';
    if (t.includes('"connection"') || t.includes('"jsonPayload"')) return 'gcp';
    if (t.includes('"source_format"') && t.includes('"src_ip"')) return 'flows';
    throw new FileFormatError(
      `${path}: JSON lines that are neither flow records (tidewatch decode), Zeek conn nor GCP VPC flow logs`,
    );
  }
  const csv = t.split(',').map((f) => f.trim());
  if (csv.includes('id.orig_h')) return 'zeek-csv';
  if (csv.includes('Src IP') || csv.includes('Source IP') || csv.includes('Flow ID')) return 'cic';
  if (csv.includes('StartTime') && csv.includes('SrcAddr')) return 'argus';
  if (t.includes('\tSrcAddr') || t.startsWith('StartTime\t')) return 'argus';
  if (csv[0] === 'ts' && csv[1] === 'te' && csv.includes('sa')) return 'nfdump';
  if (csv.includes('timestamp') && csv.includes('src_ip') && csv.includes('dest_ip')) return 'tempo';
  if (csv.includes('IPV4_SRC_ADDR') && csv.includes('L4_SRC_PORT')) return 'nprobe';
  if (csv.includes('src_ip') && csv.includes('src_bytes') && csv.includes('conn_state')) return 'ton-iot';
  if (csv[0]?.toLowerCase() === 'srcip' && csv.some((f) => f.toLowerCase() === 'dsport')) return 'unsw-nb15';
  if (looksLikeUnswNb15Record(csv)) return 'unsw-nb15';
  const words = t.split(/\s+/);
  if (words.includes('srcaddr') && words.includes('dstaddr')) return 'aws';
  if (words.length === 14 && /^[2-5]$/.test(words[0] ?? '')) return 'aws';
  throw new FileFormatError(`${path}: cannot tell the format from its first line; pass --format`);
}
