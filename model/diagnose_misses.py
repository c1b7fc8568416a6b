"""What the pipeline builds from the raw captures the service misses, and why its scores stay low.

`python -m model.diagnose_misses [--version V] [--captures a,b] [--out FILE]` exports each capture as
model.evaluate_pcaps does (softflowd NetFlow v9, the collector's decoder, ground_truth.json labels), dumps the
sequences `tidewatch score` builds (model/tools/dump_sequences.ts: the same scoreFlowFile path) and writes
versions/V/MISSES.md: per capture the initiators and responders, flows per sequence, ports, bytes and packets
both ways, the entity context the sequencer provides (the responder's fan-in, context.distinct_srcs, included), the
model's score against its threshold, the features.v1 and subscores.v2 to v5 sub-scores and what the service
raises with each. About 25 s.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .baselines import FLAG_THRESHOLD
from .evaluate_pcaps import PCAPS, REPO, export_netflow, write_labelled_flows
from .spec_paths import VERSIONS_DIR

CAPTURES = ("slips_test12-icmp-portscan.pcap", "stopddos_amp.UDP.snmp.src161.pcapng", "zeek_ssh_sshguess.pcap",
            "dnsmal_sods.pcap", "pcapattack_CA_kerbrute_passwordspray_kerberos_AS-REQ.pcapng",
            "pcapattack_LM_psexec_smb_dcerpc_epm_svcctl.pcapng", "pcapattack_LM_WMI_ProcessCallCreate.pcapng",
            "pcapattack_LM_dcom_mmc20.application_dcerpc.pcapng",
            "pcapattack_Discovery_PsLoggedOn_remotelocalusers_enum_winreg_lsarpc_dcerpc_smb.pcapng")
SUB = ("beacon", "scan", "brute_force", "exfiltration")
SUB_VERSIONS = {"sub_v1": ("features.v1", SUB), "sub_v2": ("subscores.v2", SUB),
                "sub_v3": ("subscores.v3", SUB + ("reflection",)), "sub_v4": ("subscores.v4", SUB + ("reflection",)),
                "sub_v5": ("subscores.v5", SUB + ("reflection",)), "sub_v6": ("subscores.v6", SUB + ("reflection",)),
                "sub_v7": ("subscores.v7", SUB + ("reflection",))}
PER_SEQUENCE_ROWS = 20


def labelled_flows(name: str, truth: dict, work: Path) -> Path:
    raw = work / f"{name}.bin"
    raw.write_bytes(b"".join(export_netflow(PCAPS / name, 9)))
    out = work / f"{name}.flows.jsonl"
    write_labelled_flows(raw, truth, out)
    return out


def dump_sequences(flows: Path, version: str) -> list[dict]:
    out = subprocess.run(["node", "--import", "tsx", "model/tools/dump_sequences.ts", str(flows), version], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line]


def _spread(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{min(values):g} / {statistics.median(values):g} / {max(values):g}"


def _top(counter: collections.Counter, k: int = 5) -> str:
    return ", ".join(f"{p} ({n})" for p, n in counter.most_common(k))


def raised(s: dict, sub: str) -> bool:
    return s["score"] >= s["threshold"] or max(s[sub].values()) >= FLAG_THRESHOLD


def summarize(name: str, seqs: list[dict]) -> list[str]:
    flows = [f for s in seqs for f in s["flows"]]
    mal = [s for s in seqs if any(f["label"] == 1 for f in s["flows"])]
    fan_in = collections.defaultdict(set)
    for s in seqs:
        fan_in[(s["dst_ip"], s["window_start_ms"])].add(s["src_ip"])
    top_fan_in = max((len(v) for v in fan_in.values()), default=0)
    protocols = collections.Counter(f["protocol"] for f in flows)
    answered = sum(1 for f in flows if f["bwd_pkts"] > 0)
    L = [f"## {name}", "",
         "| | |", "|---|---|",
         f"| sequences (labelled malicious) | {len(seqs)} ({len(mal)}) |",
         f"| initiators / responders / windows | {len({s['src_ip'] for s in seqs})} / {len({s['dst_ip'] for s in seqs})} / "
         f"{len({s['window_start_ms'] for s in seqs})} |",
         f"| flows per sequence min / median / max | {_spread([len(s['flows']) for s in seqs])} |",
         f"| protocols (flows) | {_top(protocols)} |",
         f"| responder ports (flows) | {_top(collections.Counter(f['dst_port'] for f in flows))} |",
         f"| initiator ports (flows) | {_top(collections.Counter(f['src_port'] for f in flows))} |",
         f"| flows answered (responder sent ≥ 1 packet) | {answered} of {len(flows)} |",
         f"| per flow, initiator → responder bytes / packets (min / median / max) | {_spread([f['fwd_bytes'] for f in flows])} B; "
         f"{_spread([f['fwd_pkts'] for f in flows])} pkts |",
         f"| per flow, responder → initiator bytes / packets | {_spread([f['bwd_bytes'] for f in flows])} B; "
         f"{_spread([f['bwd_pkts'] for f in flows])} pkts |",
         f"| context distinct_dsts / distinct_dst_ports / connections (min / median / max) | "
         f"{_spread([s['context']['distinct_dsts'] for s in seqs])}; {_spread([s['context']['distinct_dst_ports'] for s in seqs])}; "
         f"{_spread([s['context']['connections'] for s in seqs])} |",
         f"| responder fan-in: context distinct_srcs (min / median / max); distinct initiators per responder-window "
         f"among these sequences, max | {_spread([s['context'].get('distinct_srcs', 0) for s in seqs])}; {top_fan_in} |",
         f"| model score min / median / max (threshold {seqs[0]['threshold'] if seqs else '–'}) | "
         f"{_spread([round(s['score'], 4) for s in seqs])}; {sum(s['score'] >= s['threshold'] for s in seqs)} at or above |"]
    for sub, (label, keys) in SUB_VERSIONS.items():
        maxes = "; ".join(f"{k} {max((s[sub][k] for s in seqs), default=0):.3f}" for k in keys)
        flagged = "; ".join(f"{k} {sum(s[sub][k] >= FLAG_THRESHOLD for s in seqs)}" for k in keys)
        L.append(f"| {label} sub-scores: max | {maxes} |")
        L.append(f"| {label}: sequences with a sub-score ≥ {FLAG_THRESHOLD} | {flagged} |")
        L.append(f"| service raises with {label} (malicious sequences) | {sum(raised(s, sub) for s in mal)} of {len(mal)} |")
    if len(seqs) <= PER_SEQUENCE_ROWS:
        L += ["", "| initiator → responder | window | flows | proto: responder ports | fwd B / pkts | bwd B / pkts | "
              "context dsts / ports / conns / srcs / probe srcs | model score | v1 beacon / scan / brute | v2 scan / brute | "
              "v3 beacon / reflection | v4 scan | v5 brute |",
              "|---|---:|---:|---|---:|---:|---|---:|---|---|---|---:|---:|"]
        for s in seqs:
            fl, c = s["flows"], s["context"]
            ports = ", ".join(f"{p}:{d}" for p, d in sorted({(f["protocol"], f["dst_port"]) for f in fl}))
            L.append(f"| {s['src_ip']} → {s['dst_ip']} | {s['window_start_ms']} | {len(fl)} | {ports} | "
                     f"{sum(f['fwd_bytes'] for f in fl)} / {sum(f['fwd_pkts'] for f in fl)} | "
                     f"{sum(f['bwd_bytes'] for f in fl)} / {sum(f['bwd_pkts'] for f in fl)} | "
                     f"{c['distinct_dsts']} / {c['distinct_dst_ports']} / {c['connections']} / "
                     f"{c.get('distinct_srcs', 0)} / {c.get('distinct_probe_srcs', 0)} | {s['score']:.4f} | "
                     f"{s['sub_v1']['beacon']:.3f} / {s['sub_v1']['scan']:.3f} / {s['sub_v1']['brute_force']:.3f} | "
                     f"{s['sub_v2']['scan']:.3f} / {s['sub_v2']['brute_force']:.3f} | "
                     f"{s['sub_v3']['beacon']:.3f} / {s['sub_v3']['reflection']:.3f} | {s['sub_v4']['scan']:.3f} | "
                     f"{s['sub_v5']['brute_force']:.3f} |")
    return L + [""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="model.diagnose_misses")
    ap.add_argument("--version")
    ap.add_argument("--captures", default=",".join(CAPTURES))
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    version = args.version or (VERSIONS_DIR / "DEFAULT").read_text().strip()
    truth = json.loads((PCAPS / "ground_truth.json").read_text())["files"]
    L = [f"# {version}: the raw captures the service misses, sequence by sequence", "",
         f"Generated by `python -m model.diagnose_misses --version {version}`: each capture exported as in "
         "PCAP_EVALUATION.md (softflowd NetFlow v9, `tidewatch decode`, ground_truth.json labels), its sequences as "
         "`tidewatch score` builds and scores them (`model/tools/dump_sequences.ts`). A sequence is raised when the "
         f"model's score reaches the manifest threshold or a sub-score reaches {FLAG_THRESHOLD} "
         "(TIDEWATCH_INFERENCE_FLAG_THRESHOLD); features.v1 is what the service flagged with before subscores.v2, "
         "subscores.v2 before subscores.v3, subscores.v3 before subscores.v4, subscores.v4 before subscores.v5 (the "
         "detector's default). "
         "Reading, and the fixes: model/README.md, \"Missed attack classes on raw captures\".", ""]
    with tempfile.TemporaryDirectory(prefix="tw-misses-") as tmp:
        for name in args.captures.split(","):
            L += summarize(name, dump_sequences(labelled_flows(name, truth[name], Path(tmp)), version))
    out = Path(args.out) if args.out else VERSIONS_DIR / version / "MISSES.md"
    out.write_text("\n".join(L))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
