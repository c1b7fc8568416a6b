"""Readers for the labelled captures (and the user formats fine-tuning accepts) into one flow table.

A flow table is a dict of equal-length numpy arrays (FLOW_COLUMNS). Labels: 1 malicious, 0 benign,
-1 unlabelled (Zeek Background/Unknown: kept for sequencing and pre-training, excluded from metrics).
IP addresses are kept only to build sequences; they never become model inputs.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .sequencing import conversation_flows
from .spec_paths import SHARED_LABELED

FLOW_COLUMNS = (
    "start_ms", "end_ms", "protocol", "src_ip", "dst_ip", "src_port", "dst_port",
    "fwd_bytes", "fwd_pkts", "bwd_bytes", "bwd_pkts", "tcp_flags", "label", "attack", "row",
)
PROTO_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58, "ipv6-icmp": 58}

# IoT-23 capture 42-1: the official labels call the IRC C&C to 185.244.25.183:4975 Benign; the packets
# show NICK/USER and PING/PONG (../pcaps/ground_truth.json marks them malicious). We train and
# evaluate on the corrected label.
IRC_FIX = {"capture": "iot23-42-1", "dst_ip": "185.244.25.183", "dst_port": 4975, "attack": "C&C-IRC (corrected)"}

# Zeek history letters -> TCP flag bits (orig upper case, resp lower case; both directions OR-ed).
_HISTORY_FLAGS = {"s": 0x02, "h": 0x12, "a": 0x10, "d": 0x08, "f": 0x01, "r": 0x04}


@dataclass(frozen=True)
class Capture:
    """One capture file (or file set) read as a single ingest; `network` groups captures of one network."""

    name: str
    network: str
    paths: tuple[Path, ...]
    kind: str  # zeek | cic_csv | parquet
    benign_only: bool = False


def labelled_captures(root: Path = SHARED_LABELED) -> list[Capture]:
    cic = tuple(sorted((root / "cic-ids2017_improved_cns2022").glob("*.csv")))
    iot = root / "iot23"
    return [
        Capture("cic2017-flowprep", "cic2017", (root / "cic-ids2017_deeptempo-flowprep/cic2017_sample.parquet",), "parquet"),
        Capture("cic2017-improved", "cic2017", cic, "cic_csv"),
        Capture("ctu50-normal-40-day1", "ctu50", (root / "ctu50_normal-40_day1/conn.log.labeled",), "zeek"),
        Capture("ctu50-normal-42-day2", "ctu50", (root / "ctu50_normal-42_day2/conn.log.labeled",), "zeek"),
        Capture("ctu50-normal-43-day1", "ctu50", (root / "ctu50_normal-43_day1/conn.log.labeled",), "zeek"),
        Capture("nmap-portscan", "stratosphere-nmap", (root / "stratosphere_nmap-portscan/conn.log",), "zeek"),
        Capture("mcfp-botnet-4", "mcfp-botnet-4", (root / "ctu-malware-capture-botnet-4/conn.log.labeled",), "zeek"),
        Capture("iot23-42-1", "iot23-42-1", (iot / "CTU-IoT-Malware-Capture-42-1.conn.log.labeled",), "zeek"),
        Capture("iot23-20-1", "iot23-20-1", (iot / "CTU-Malware-Capture-20-1-labeled.csv",), "zeek"),
        Capture("iot23-21-1", "iot23-21-1", (iot / "CTU-Malware-Capture-21-1-labeled.csv",), "zeek"),
        Capture("iot23-honeypot-4-1", "iot23-honeypot-4-1", (iot / "CTU-Honeypot-Capture-4-1.conn.log.labeled",), "zeek", True),
        Capture("iot23-honeypot-5-1", "iot23-honeypot-5-1", (iot / "CTU-Honeypot-Capture-5-1-labeled.csv",), "zeek", True),
        Capture("iot23-honeypot-7-1", "iot23-honeypot-7-1", (iot / "CTU-Honeypot-Capture-7-1-labeled.csv",), "zeek", True),
    ]


SYNTHETIC_NETWORK = "tidewatch-sim"


def synthetic_captures() -> list[Capture]:
    """The simulator's hours (model/synthetic.py) as one training-only network: never held out, never reported."""
    from .synthetic import synthetic_files

    return [Capture(f.stem, SYNTHETIC_NETWORK, (f,), "tempo_csv") for f in synthetic_files()]


def _num(v, default=0.0) -> float:
    if v is None or v == "" or v == "-" or v == "(empty)":
        return default
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _history_flags(history: str | None) -> int:
    flags = 0
    for ch in (history or "").lower():
        flags |= _HISTORY_FLAGS.get(ch, 0)
    return flags


def _zeek_label(rec: dict) -> tuple[int, str]:
    raw = (rec.get("label") or "").strip()
    detail = (rec.get("detailedlabel") or rec.get("detailed-label") or "").strip()
    if detail in ("-", "(empty)"):
        detail = ""
    low = raw.lower()
    if low.startswith("malicious"):
        return 1, detail or "Malicious"
    if low.startswith("benign"):
        return 0, detail or "Benign"
    return -1, raw or "unlabelled"


def _zeek_records(path: Path):
    """Zeek conn records as dicts: TSV with #fields (incl. IoT-23's merged last field), CSV, or JSON lines."""
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        if first.startswith("{"):
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        yield None
            return
        if first.startswith("#"):
            fields: list[str] = []
            for line in fh:
                line = line.rstrip("\r\n")
                if line.startswith("#fields"):
                    fields = re.split(r"\s+", line[len("#fields"):].strip())
                    continue
                if not line or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) < len(fields):
                    parts = parts[:-1] + re.split(r"\s+", parts[-1].strip())
                yield dict(zip(fields, parts)) if len(parts) >= len(fields) - 1 else None
            return
        yield from csv.DictReader(fh)


def read_zeek(path: Path, label_missing: int | None = None) -> dict:
    rows: dict[str, list] = {k: [] for k in FLOW_COLUMNS}
    skipped = 0
    for i, rec in enumerate(_zeek_records(path)):
        if rec is None or not rec.get("id.orig_h"):
            skipped += 1
            continue
        proto_name = (rec.get("proto") or "").lower()
        proto = PROTO_NUMBERS.get(proto_name, 0)
        if proto == 1 and ":" in rec["id.orig_h"]:
            proto = 58  # Zeek writes icmp for ICMPv6 too; the TypeScript importer reads 58 (fields.ts protocolNumber)
        start = _num(rec.get("ts")) * 1000.0
        label, attack = _zeek_label(rec) if "label" in rec else ((label_missing, "") if label_missing is not None else (-1, ""))
        rows["start_ms"].append(int(round(start)))
        rows["end_ms"].append(int(round(start + _num(rec.get("duration")) * 1000.0)))
        rows["protocol"].append(proto)
        rows["src_ip"].append(rec["id.orig_h"])
        rows["dst_ip"].append(rec.get("id.resp_h") or "")
        rows["src_port"].append(int(_num(rec.get("id.orig_p"))))
        rows["dst_port"].append(int(_num(rec.get("id.resp_p"))))
        rows["fwd_bytes"].append(int(_num(rec.get("orig_bytes"))))
        rows["fwd_pkts"].append(int(_num(rec.get("orig_pkts"))))
        rows["bwd_bytes"].append(int(_num(rec.get("resp_bytes"))))
        rows["bwd_pkts"].append(int(_num(rec.get("resp_pkts"))))
        rows["tcp_flags"].append(_history_flags(rec.get("history")) if proto == 6 else 0)
        rows["label"].append(label)
        rows["attack"].append(attack)
        rows["row"].append(i)
    t = _to_arrays(rows)
    t["skipped"] = skipped
    return t


def _to_arrays(rows: dict) -> dict:
    out = {}
    for k, v in rows.items():
        if k in ("src_ip", "dst_ip", "attack"):
            out[k] = np.array(v, dtype=object)
        else:
            out[k] = np.array(v, dtype=np.int64)
    return out


_CIC_FLAG_COLUMNS = (("FIN Flag Count", 0x01), ("SYN Flag Count", 0x02), ("RST Flag Count", 0x04),
                     ("PSH Flag Count", 0x08), ("ACK Flag Count", 0x10), ("URG Flag Count", 0x20))


def read_cic_csv(paths) -> dict:
    parts = []
    for p in paths:
        t = pacsv.read_csv(p)
        n = t.num_rows
        ts = t.column("Timestamp").cast("int64").to_numpy() // 1_000_000
        dur_ms = np.round(t.column("Flow Duration").to_numpy(zero_copy_only=False).astype(np.float64) / 1000.0).astype(np.int64)
        flags = np.zeros(n, dtype=np.int64)
        for col, bit in _CIC_FLAG_COLUMNS:
            flags |= np.where(t.column(col).to_numpy(zero_copy_only=False) > 0, bit, 0)
        proto = t.column("Protocol").to_numpy(zero_copy_only=False).astype(np.int64)
        lab = np.array(t.column("Label").to_pylist(), dtype=object)
        parts.append({
            "start_ms": ts, "end_ms": ts + np.maximum(dur_ms, 0), "protocol": proto,
            "src_ip": np.array(t.column("Src IP").to_pylist(), dtype=object),
            "dst_ip": np.array(t.column("Dst IP").to_pylist(), dtype=object),
            "src_port": t.column("Src Port").to_numpy(zero_copy_only=False).astype(np.int64),
            "dst_port": t.column("Dst Port").to_numpy(zero_copy_only=False).astype(np.int64),
            "fwd_bytes": t.column("Total Length of Fwd Packet").to_numpy(zero_copy_only=False).astype(np.int64),
            "fwd_pkts": t.column("Total Fwd Packet").to_numpy(zero_copy_only=False).astype(np.int64),
            "bwd_bytes": t.column("Total Length of Bwd Packet").to_numpy(zero_copy_only=False).astype(np.int64),
            "bwd_pkts": t.column("Total Bwd packets").to_numpy(zero_copy_only=False).astype(np.int64),
            "tcp_flags": np.where(proto == 6, flags, 0),
            "label": np.array([0 if str(x).upper() == "BENIGN" else 1 for x in lab], dtype=np.int64),
            "attack": lab,
            "row": t.column("id").to_numpy(zero_copy_only=False).astype(np.int64) if "id" in t.column_names else np.arange(n),
        })
    return concat_tables(parts)


def read_flowprep_parquet(path: Path) -> dict:
    t = pq.read_table(path)
    ts = t.column("timestamp").cast("int64").to_numpy() // 1_000_000
    # Monday is dated 2017-03-07 (day and month swapped in parsing); the real date is 2017-07-03.
    mar7 = (ts >= 1488844800000) & (ts < 1488931200000)
    ts = np.where(mar7, ts + (1499040000000 - 1488844800000), ts)
    dur = np.round(t.column("flow_dur").to_numpy(zero_copy_only=False) * 1000.0).astype(np.int64)
    n = t.num_rows
    label = t.column("label").to_numpy(zero_copy_only=False).astype(np.int64)
    return {
        "start_ms": ts, "end_ms": ts + np.maximum(dur, 0), "protocol": np.zeros(n, dtype=np.int64),
        "src_ip": np.array(t.column("src_ip").to_pylist(), dtype=object),
        "dst_ip": np.array(t.column("dest_ip").to_pylist(), dtype=object),
        "src_port": t.column("src_port").to_numpy(zero_copy_only=False).astype(np.int64),
        "dst_port": t.column("dest_port").to_numpy(zero_copy_only=False).astype(np.int64),
        "fwd_bytes": t.column("fwd_bytes").to_numpy(zero_copy_only=False).astype(np.int64),
        "fwd_pkts": t.column("total_fwd_pkts").to_numpy(zero_copy_only=False).astype(np.int64),
        "bwd_bytes": t.column("bwd_bytes").to_numpy(zero_copy_only=False).astype(np.int64),
        "bwd_pkts": t.column("total_bwd_pkts").to_numpy(zero_copy_only=False).astype(np.int64),
        "tcp_flags": np.zeros(n, dtype=np.int64),
        "label": label,
        "attack": np.array(["CIC attack (type not given)" if x == 1 else "BENIGN" for x in label], dtype=object),
        "row": np.arange(n),
    }


def _tcp_flags(v) -> int:
    """An optional tcp_flags cell (decimal or 0x hex, as the TypeScript importer reads it); 0 when absent or bad."""
    t = (v or "").strip()
    try:
        n = int(t, 16) if t.lower().startswith("0x") else int(float(t)) if t not in ("", "-") else 0
    except ValueError:
        return 0
    return n if 0 <= n <= 255 else 0


def read_tempo_csv(path: Path) -> dict:
    """Tempo CSV (timestamp, flow_dur, src_ip, dest_ip, ports, bytes, packets, label[, attack, protocol, tcp_flags])."""
    rows: dict[str, list] = {k: [] for k in FLOW_COLUMNS}
    skipped: list[str] = []
    with Path(path).open(newline="") as fh:
        for i, rec in enumerate(csv.DictReader(fh)):
            ts = rec.get("timestamp") or ""
            try:
                start = float(ts) * (1000.0 if float(ts) < 1e11 else 1.0)
            except ValueError:
                from datetime import datetime, timezone
                try:
                    d = datetime.fromisoformat(ts.replace("Z", "+00:00"))
                except ValueError:
                    skipped.append(f"row {i}: timestamp '{ts}' is neither epoch seconds/ms nor ISO-8601")
                    continue
                if d.tzinfo is None:
                    d = d.replace(tzinfo=timezone.utc)
                start = d.timestamp() * 1000.0
            proto_raw = (rec.get("protocol") or "").strip().lower()
            proto = PROTO_NUMBERS.get(proto_raw, int(_num(proto_raw)))
            lab = (rec.get("label") or "").strip().lower()
            label = 1 if lab in ("1", "malicious", "attack", "true") else 0 if lab in ("0", "benign", "false") else -1
            rows["start_ms"].append(int(round(start)))
            rows["end_ms"].append(int(round(start + _num(rec.get("flow_dur")) * 1000.0)))
            rows["protocol"].append(proto)
            rows["src_ip"].append(rec.get("src_ip") or "")
            rows["dst_ip"].append(rec.get("dest_ip") or "")
            rows["src_port"].append(int(_num(rec.get("src_port"))))
            rows["dst_port"].append(int(_num(rec.get("dest_port"))))
            rows["fwd_bytes"].append(int(_num(rec.get("fwd_bytes"))))
            rows["fwd_pkts"].append(int(_num(rec.get("total_fwd_pkts"))))
            rows["bwd_bytes"].append(int(_num(rec.get("bwd_bytes"))))
            rows["bwd_pkts"].append(int(_num(rec.get("total_bwd_pkts"))))
            rows["tcp_flags"].append(_tcp_flags(rec.get("tcp_flags")))
            rows["label"].append(label)
            rows["attack"].append(rec.get("attack") or "")
            rows["row"].append(i)
    if skipped:
        print(f"{path}: skipped {len(skipped)} malformed row(s); first: {skipped[0]}", file=sys.stderr)
    return _to_arrays(rows)


def read_user_file(path: Path, fmt: str | None = None) -> dict:
    """Fine-tuning input: tempo_csv, zeek_conn (TSV/JSON/CSV conn.log), cic_csv or parquet (flowprep)."""
    path = Path(path)
    if fmt is None:
        head = path.read_bytes()[:4096].decode("utf-8", "replace")
        fmt = "parquet" if path.suffix == ".parquet" else "zeek_conn" if ("id.orig_h" in head) else "cic_csv" if "Flow Duration" in head else "tempo_csv"
    if fmt == "tempo_csv":
        return conversation_flows(read_tempo_csv(path))
    if fmt == "zeek_conn":
        return conversation_flows(read_zeek(path))
    if fmt == "cic_csv":
        return conversation_flows(read_cic_csv([path]))
    if fmt == "parquet":
        return conversation_flows(read_flowprep_parquet(path))
    raise ValueError(f"unknown format '{fmt}' (tempo_csv, zeek_conn, cic_csv, parquet)")


def concat_tables(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in FLOW_COLUMNS}


def read_capture(cap: Capture) -> dict:
    if cap.kind == "parquet":
        t = read_flowprep_parquet(cap.paths[0])
    elif cap.kind == "cic_csv":
        t = read_cic_csv(cap.paths)
    elif cap.kind == "tempo_csv":
        t = read_tempo_csv(cap.paths[0])
    elif cap.name == "nmap-portscan":
        # No label column: the whole capture is the scanner, except Nmap's own DNS lookups to 8.8.8.8:53.
        t = read_zeek(cap.paths[0], label_missing=1)
        dns = (t["dst_ip"] == "8.8.8.8") & (t["dst_port"] == 53)
        t["label"] = np.where(dns, 0, 1)
        t["attack"] = np.where(dns, "Nmap DNS lookup", "Nmap scan").astype(object)
    else:
        t = read_zeek(cap.paths[0])
    if cap.name == IRC_FIX["capture"]:
        irc = (t["dst_ip"] == IRC_FIX["dst_ip"]) & (t["dst_port"] == IRC_FIX["dst_port"])
        t["label"] = np.where(irc, 1, t["label"])
        t["attack"] = np.where(irc, IRC_FIX["attack"], t["attack"]).astype(object)
    return conversation_flows({k: t[k] for k in FLOW_COLUMNS})


# ---- ATT&CK tactic ground truth (labelled README section 3) ----
TACTICS = ["TA0043", "TA0042", "TA0001", "TA0002", "TA0003", "TA0004", "TA0005", "TA0006",
           "TA0007", "TA0008", "TA0009", "TA0011", "TA0010", "TA0040"]
TACTIC_NAMES = {
    "TA0043": "Reconnaissance", "TA0042": "Resource Development", "TA0001": "Initial Access", "TA0002": "Execution",
    "TA0003": "Persistence", "TA0004": "Privilege Escalation", "TA0005": "Defense Evasion", "TA0006": "Credential Access",
    "TA0007": "Discovery", "TA0008": "Lateral Movement", "TA0009": "Collection", "TA0011": "Command and Control",
    "TA0010": "Exfiltration", "TA0040": "Impact",
}


# The simulator's own ground truth (packages/simulator/src/scenarios.ts ATTACKS): a vertical scan of one host's
# services is Discovery (T1046), a horizontal sweep Reconnaissance (T1595.001).
SIMULATED_TACTICS = {
    "vertical_scan": ["TA0007"], "horizontal_scan": ["TA0043"], "ssh_bruteforce": ["TA0006"],
    "rdp_bruteforce": ["TA0006"], "c2_beacon": ["TA0011"], "slow_exfiltration": ["TA0010"], "dos": ["TA0040"],
    "reflection": ["TA0040"], "internet_scan": ["TA0043"],
}


def attack_tactics(capture: str, attack: str) -> list[str]:
    a = attack.lower()
    if capture == "nmap-portscan":
        return ["TA0043", "TA0007"]
    if capture == "mcfp-botnet-4":
        return ["TA0011"]
    if capture.startswith("sim-"):
        return SIMULATED_TACTICS.get(a, [])
    if a.startswith("infiltration - portscan") or a.startswith("infiltration_-_portscan"):
        return ["TA0007"]
    if "portscan" in a or "partofahorizontalportscan" in a or "external-attack" in a:
        return ["TA0043"]
    if "patator" in a or "brute force" in a:
        return ["TA0006"]
    if "xss" in a or "sql injection" in a or "heartbleed" in a:
        return ["TA0001"]
    if a == "infiltration":
        return ["TA0001", "TA0002", "TA0011"]
    if a.startswith("dos") or a.startswith("ddos"):
        return ["TA0040"]
    if "botnet" in a or "c&c" in a or "filedownload" in a:
        return ["TA0011"]
    return []


def tactic_matrix(capture: str, label: np.ndarray, attack: np.ndarray) -> np.ndarray:
    """[N, 14] 0/1 per flow (malicious flows only); rows of unknown-type attacks stay all-zero."""
    out = np.zeros((label.shape[0], len(TACTICS)), dtype=np.float32)
    cache: dict[str, list[int]] = {}
    for i in np.nonzero(label == 1)[0]:
        a = str(attack[i])
        if a not in cache:
            cache[a] = [TACTICS.index(t) for t in attack_tactics(capture, a)]
        out[i, cache[a]] = 1.0
    return out
