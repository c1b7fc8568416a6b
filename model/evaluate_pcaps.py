"""The shipped model on raw-traffic captures from networks it never saw, through the product's own path.

`python -m model.evaluate_pcaps [--version V] [--netflow 9|10]` turns every capture in ../shared/testdata/pcaps
into NetFlow with a real exporter (softflowd -a -r, as the captures' README says), decodes the datagrams with the
collector's decoder (`tidewatch decode`), labels each flow with the captures' ground_truth.json rules, and scores
them with `tidewatch evaluate --format flows` (biflow stitching, sequencing.v1, features, the ONNX model: the
pipeline's code). It writes versions/V/PCAP_EVALUATION.md and pcap_evaluation.json: per capture and pooled,
per-flow and per-sequence precision, recall, F1 and FPR of the model's verdict and of what the service raises.

None of these networks is in the model's training data except IoT-23 capture 42-1's, which is left out (in-sample;
its pcap is also a truncated file softflowd stops on).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .spec_paths import SHARED_LABELED, VERSIONS_DIR

REPO = Path(__file__).resolve().parents[1]
PCAPS = Path(os.environ.get("TW_PCAPS_DATA") or SHARED_LABELED.parent / "pcaps")
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1}
# IoT-23 42-1 is one of the labelled captures every shipped model trains on.
SEEN_NETWORKS = ("iot23_",)
# Volumetric attacks whose tens of thousands of one-flow sequences would outweigh every other capture pooled.
FLOODS = ("stopddos_",)
METRIC_KEYS = ("per_flow", "per_sequence", "alerts_per_flow", "alerts_per_sequence")


class Rule:
    def __init__(self, r: dict):
        self.label = r["label"]
        self.a = [ipaddress.ip_network(n) for n in r["a"]]
        self.b = [ipaddress.ip_network(n) for n in r["b"]]
        self.proto = r.get("proto", "any")
        self.ports = set(r.get("ports") or [])
        self.tactic = r.get("tactic")

    def matches(self, src, dst, protocol: int, src_port: int, dst_port: int) -> bool:
        if self.proto != "any" and PROTOCOLS.get(self.proto) != protocol and not (self.proto == "icmp" and protocol == 58):
            return False
        inside = lambda ip, nets: any(ip in n for n in nets if ip.version == n.version)  # noqa: E731
        if inside(src, self.a) and inside(dst, self.b):
            b_port = dst_port
        elif inside(dst, self.a) and inside(src, self.b):
            b_port = src_port
        else:
            return False
        return not self.ports or b_port in self.ports


def label_of(flow: dict, rules: list[Rule], default: str) -> tuple[str, str | None]:
    """ground_truth.json's matching: the first rule whose endpoints (either direction), protocol and b-side port
    match decides; otherwise the file's default label."""
    try:
        src, dst = ipaddress.ip_address(flow["src_ip"]), ipaddress.ip_address(flow["dst_ip"])
    except ValueError:
        return "unknown", None
    for r in rules:
        if r.matches(src, dst, flow["protocol"], flow["src_port"], flow["dst_port"]):
            return r.label, r.tactic
    return default, None


def export_netflow(pcap: Path, version: int, biflow: bool = False, timeout_s: float = 120.0) -> list[bytes]:
    """The datagrams softflowd exports for a capture (read with pcap timestamps, -a), received on loopback; with
    `biflow` (IPFIX only) as RFC 5103 bidirectional records (-b)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # softflowd 1.1.0 hangs on control-socket paths longer than 12 characters (collector peers test).
    ctl = f"/tmp/sf{secrets.token_hex(2)}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            ["softflowd", "-d", "-a", "-r", str(pcap), "-n", f"127.0.0.1:{port}", "-v", str(version),
             "-p", os.path.join(tmp, "sf.pid"), "-c", ctl, *(["-b"] if biflow else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        datagrams: list[bytes] = []
        deadline = time.time() + timeout_s
        quiet_since = None
        try:
            while time.time() < deadline:
                ready, _, _ = select.select([sock], [], [], 0.05)
                if ready:
                    datagrams.append(sock.recv(65535))
                    quiet_since = None
                    continue
                if proc.poll() is not None:
                    quiet_since = quiet_since or time.time()
                    if time.time() - quiet_since > 0.3:
                        break
            else:
                raise TimeoutError(f"softflowd on {pcap.name} did not finish in {timeout_s:.0f} s")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            sock.close()
            Path(ctl).unlink(missing_ok=True)
        if proc.returncode not in (0, None):
            raise RuntimeError(f"softflowd failed on {pcap.name}: {proc.stderr.read().decode(errors='replace')[-500:]}")
    return datagrams


def tidewatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["pnpm", "--silent", "tidewatch", *args], cwd=REPO, capture_output=True, text=True,
                          check=True)


def write_labelled_flows(raw: Path, truth: dict, out: Path) -> dict[str, int]:
    """The collector's decode of the exported datagrams in `raw`, each flow labelled by ground_truth.json's rules
    (label 0/1 and the tactic as `attack`; unknown flows unlabelled), as JSON lines in `out`; counts per label."""
    rules = [Rule(r) for r in truth.get("rules", [])]
    counts = {"malicious": 0, "benign": 0, "unknown": 0}
    lines = []
    for line in tidewatch("decode", "--exporter", "127.0.0.1", str(raw)).stdout.splitlines():
        flow = json.loads(line)
        label, tactic = label_of(flow, rules, truth["default_label"])
        counts[label] += 1
        if label != "unknown":
            flow["label"] = 1 if label == "malicious" else 0
            if tactic:
                flow["attack"] = tactic
        lines.append(json.dumps(flow))
    out.write_text("\n".join(lines) + "\n")
    return counts


def evaluate_capture(name: str, truth: dict, version: str, netflow: int, work: Path, biflow: bool = False) -> dict:
    datagrams = export_netflow(PCAPS / name, netflow, biflow)
    raw = work / f"{name}.bin"
    raw.write_bytes(b"".join(datagrams))
    labelled = work / f"{name}.flows.jsonl"
    counts = write_labelled_flows(raw, truth, labelled)
    report = json.loads(tidewatch("evaluate", "--data", str(labelled), "--format", "flows", "--model", version,
                                  "--json").stdout)
    return {"capture": name, "datagrams": len(datagrams), "records": sum(counts.values()), "flows": counts,
            "rows": report["rows"], "rejected": report["rejected"], "sequences": report["sequences"],
            **{k: report[k] for k in METRIC_KEYS}}


def pooled(rows: list[dict], key: str) -> dict:
    c = {k: sum(r[key][k] for r in rows) for k in ("tp", "fp", "tn", "fn")}
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    return {**c, "precision": p, "recall": r, "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "fpr": fp / (fp + tn) if fp + tn else None}


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def render(version: str, netflow: int, rows: list[dict]) -> str:
    held = rows
    L = [f"# {version} on raw-traffic captures from unseen networks", "",
         f"Generated by `python -m model.evaluate_pcaps --version {version}`. Each capture in `../shared/testdata/pcaps` "
         f"was exported as NetFlow v{netflow} by softflowd 1.1.0 (`-a -r`), decoded by the collector's decoder "
         "(`tidewatch decode`), labelled flow by flow with `ground_truth.json` (first matching rule, else the file's "
         "default; `unknown` flows stay unlabelled) and scored by `tidewatch evaluate --format flows` (biflow "
         "stitching, sequencing.v1, features, the shipped ONNX model, threshold "
         "from the manifest). A sequence counts when all its flows are labelled; it is malicious when any is. "
         "**Model**: the verdict. **Service**: what the inference service raises, the verdict OR a baseline "
         "sub-score ≥ 0.8 (subscores.v7, the detector's default: v3's plus inbound scans, silence read from packets, HTTPS connections not counted as logins, over each sequence's connections, ICMP errors no scan evidence; a low-severity finding), minus the alerts "
         "a built-in rule records as "
         "suppressed (a link-local multicast, SSDP or broadcast responder, a subnet's x.x.x.255 over UDP, or the "
         "model's verdict alone, or the beacon flag alone with requests of at most 85 bytes a packet, on sequences made only "
         "of DNS / DHCP / NTP / NetBIOS-name / unicast mDNS requests and answered pings).", "",
         "None of these networks is in the training data (IoT-23 42-1's pcap, the one that is, is left out). "
         "The captures are small and mostly malicious: read per-capture rows as detected / missed, and the pooled "
         "FPR as resting on few benign sequences.", "",
         "| capture | flows mal/ben/unk | sequences | model seq TP/FP/TN/FN | model seq F1 | service seq TP/FP/TN/FN | service seq F1 | model flow F1 | service flow F1 |",
         "|---|---|---:|---|---:|---|---:|---:|---:|"]
    for r in held:
        m, s = r["per_sequence"], r["alerts_per_sequence"]
        L.append(f"| {r['capture']} | {r['flows']['malicious']}/{r['flows']['benign']}/{r['flows']['unknown']} | "
                 f"{r['sequences']} | {m['tp']}/{m['fp']}/{m['tn']}/{m['fn']} | {_f(m['f1'])} | "
                 f"{s['tp']}/{s['fp']}/{s['tn']}/{s['fn']} | {_f(s['f1'])} | {_f(r['per_flow']['f1'])} | "
                 f"{_f(r['alerts_per_flow']['f1'])} |")
    floods = [r for r in held if r["capture"].startswith(FLOODS)]
    share = sum(r["sequences"] for r in floods) / max(1, sum(r["sequences"] for r in held))
    for title, subset in ((f"Pooled over the unseen captures ({share:.0%} of the sequences are the two DDoS captures'):", held),
                          ("Pooled without the two DDoS captures:", [r for r in held if r not in floods])):
        L += ["", title, "", "| | P | R | F1 | FPR | TP/FP/TN/FN |", "|---|---:|---:|---:|---:|---|"]
        for key, name in (("per_sequence", "model, per sequence"), ("alerts_per_sequence", "service, per sequence"),
                          ("per_flow", "model, per flow"), ("alerts_per_flow", "service, per flow")):
            p = pooled(subset, key)
            L.append(f"| {name} | {_f(p['precision'])} | {_f(p['recall'])} | {_f(p['f1'])} | {_f(p['fpr'])} | "
                     f"{p['tp']}/{p['fp']}/{p['tn']}/{p['fn']} |")
    detected = [r["capture"] for r in held if r["per_sequence"]["tp"] > 0]
    raised = [r["capture"] for r in held if r["alerts_per_sequence"]["tp"] > 0]
    with_attack = [r["capture"] for r in held if r["per_sequence"]["tp"] + r["per_sequence"]["fn"] > 0]
    L += ["", f"Captures with a labelled malicious sequence: {len(with_attack)}; the model flags at least one of its "
          f"malicious sequences in {len(detected)}, the service in {len(raised)}.", ""]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="model.evaluate_pcaps")
    ap.add_argument("--version")
    ap.add_argument("--netflow", type=int, choices=(9, 10), default=9)
    ap.add_argument("--biflow", action="store_true", help="IPFIX biflows (RFC 5103, softflowd -b; implies --netflow 10)")
    ap.add_argument("--out", help="write the JSON here instead of the version's folder (no markdown)")
    args = ap.parse_args(argv)
    if args.biflow:
        args.netflow = 10
    version = args.version or (VERSIONS_DIR / "DEFAULT").read_text().strip()
    truth = json.loads((PCAPS / "ground_truth.json").read_text())["files"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tw-pcaps-") as tmp:
        for name in sorted(truth):
            if name.startswith(SEEN_NETWORKS):
                continue
            t0 = time.time()
            try:
                rows.append(evaluate_capture(name, truth[name], version, args.netflow, Path(tmp), args.biflow))
            except subprocess.CalledProcessError as e:
                print(f"{name}: {e.cmd[3:5]} failed: {e.stderr[-400:]}", file=sys.stderr)
                raise
            r = rows[-1]
            print(f"{name}: {r['records']} records, {r['sequences']} sequences, model seq TP/FN "
                  f"{r['per_sequence']['tp']}/{r['per_sequence']['fn']} ({time.time() - t0:.1f} s)", file=sys.stderr)
    result = json.dumps({"netflow": args.netflow, **({"biflow": True} if args.biflow else {}), "captures": rows}, indent=1)
    if args.out:
        Path(args.out).write_text(result + "\n")
        return 0
    out = VERSIONS_DIR / version
    (out / "pcap_evaluation.json").write_text(result + "\n")
    (out / "PCAP_EVALUATION.md").write_text(render(version, args.netflow, rows))
    print(out / "PCAP_EVALUATION.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
