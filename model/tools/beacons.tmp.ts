import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readFlowFile } from '../../packages/flow-importers/src/index.ts';
import { buildSequences, notAConversationFlow } from '../../packages/sequencing/src/index.ts';
import { Detector, ModelHost, ModelRepository, serviceRaises } from '../../packages/detector/src/index.ts';
const root = '/work/shared/testdata/labeled';
const files: string[] = [];
for (const d of readdirSync(root)) { const dir = join(root, d); if (!statSync(dir).isDirectory()) continue; for (const f of readdirSync(dir)) if (f !== 'labels.config') files.push(join(dir, f)); }
const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 2 });
const det = new Detector(host);
const want = process.argv[2] ?? 'beacon';
for (const file of files.sort()) {
  if ((process.argv[3] && !file.includes(process.argv[3]))) continue;
  const flows: any[] = [];
  for await (const r of readFlowFile(file, { format: 'auto' })) if (r.error === undefined && notAConversationFlow(r.flow) === undefined) flows.push(r.flow);
  const seqs = buildSequences(flows);
  const scored = [];
  for (let i = 0; i < seqs.length; i += 512) scored.push(...(await det.score(seqs.slice(i, i + 512))));
  scored.forEach((s, i) => {
    if (!s.flags.includes(want)) return;
    const q = seqs[i]!;
    const ports = new Map<string, number>();
    let by = 0;
    for (const fl of q.flows) { const k = `${fl.protocol}/${fl.dst_port}`; ports.set(k, (ports.get(k) ?? 0) + 1); by += fl.fwd_bytes + fl.bwd_bytes; }
    const fb = q.flows.reduce((a,f)=>a+f.fwd_bytes,0)/Math.max(1,q.flows.reduce((a,f)=>a+f.fwd_pkts,0)); const bb = q.flows.reduce((a,f)=>a+f.bwd_bytes,0)/Math.max(1,q.flows.reduce((a,f)=>a+f.bwd_pkts,0)); const ans = q.flows.filter(f=>f.bwd_pkts>0).length/q.flows.length;
    const gaps = q.flows.slice(1).map((f, j) => Math.round((f.start_ms - q.flows[j]!.start_ms) / 1000));
    console.log(file.split('/').slice(-1)[0]?.slice(0, 22), 'L' + s.finding.label, s.finding.verdict[0], serviceRaises(s) ? 'R' : '-', q.src_ip, '->', q.dst_ip, 'n', q.flows.length, 'ctx', JSON.stringify(q.context), [...ports].map(([k, v]) => `${k}x${v}`).join(' '), 'B/flow', Math.round(by / q.flows.length), 'fwdBpp', fb.toFixed(0), 'bwdBpp', bb.toFixed(0), 'answered', ans.toFixed(2), q.flows[0]?.origin.slice(0,12), 'gaps', gaps.slice(0, 12).join(','), s.finding.explanation.subscores.beacon.toFixed(2));
  });
}
await host.close();
