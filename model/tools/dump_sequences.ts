// The sequences the pipeline builds from a flow file, one JSON line each, with what model.diagnose_misses
// reports: initiator / responder, entity context, flows (both directions), the model's score and verdict, and
// the sub-scores of features.v1 and subscores.v2 to v5. Same code path as `tidewatch score` (scoreFlowFile).
// Usage: node --import tsx model/tools/dump_sequences.ts FILE [MODEL_VERSION]   (FILE: `--format flows` lines)
import { Detector, ModelHost, ModelRepository, scoreFlowFile } from '../../packages/detector/src/index.ts';
import { subScores } from '../../packages/features/src/index.ts';
import { readFlowFile } from '../../packages/flow-importers/src/index.ts';
import { buildSequences } from '../../packages/sequencing/src/index.ts';

const [file, version] = process.argv.slice(2);
if (!file) throw new Error('usage: dump_sequences.ts FILE [MODEL_VERSION]');
const host = await ModelHost.open(new ModelRepository(), version, { intraOpThreads: 1 });
try {
  const scored = await scoreFlowFile(file, new Detector(host), { format: 'flows' });
  // scoreFlowFile's own sequences: the same import (row origins) and buildSequences, in the same order.
  const flows = [];
  for await (const r of readFlowFile(file, { format: 'flows' }))
    if (r.error === undefined)
      flows.push({ ...r.flow, extra: { ...(r.flow.extra ?? {}), origin: `row:${r.row}` } });
  const seqs = buildSequences(flows);
  if (seqs.length !== scored.sequences.length) throw new Error('sequence count differs from scoreFlowFile');
  const out: string[] = [];
  seqs.forEach((s, i) => {
    const f = scored.sequences[i]?.finding;
    if (!f || f.sequence_id !== s.sequence_id) throw new Error(`sequence ${i} differs from scoreFlowFile`);
    out.push(
      JSON.stringify({
        sequence_id: s.sequence_id,
        src_ip: s.src_ip,
        dst_ip: s.dst_ip,
        window_start_ms: s.window_start_ms,
        part: s.part,
        context: s.context,
        flows: s.flows.map((x) => ({ ...x, origin: undefined })),
        score: f.score,
        verdict: f.verdict,
        threshold: host.current.manifest.thresholds.score,
        sub_v1: subScores(s, 'v1'),
        sub_v2: subScores(s, 'v2'),
        sub_v3: subScores(s, 'v3'),
        sub_v4: subScores(s, 'v4'),
        sub_v5: subScores(s, 'v5'),
        sub_v6: subScores(s, 'v6'),
        sub_v7: subScores(s, 'v7'),
      }),
    );
  });
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  await host.close();
}
