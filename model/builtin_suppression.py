"""The product's built-in suppression rules (packages/suppression/spec/builtin-rules.json), as the
inference service applies them to alerts: an evaluation of what the service raises leaves out the
alerts a built-in rule records as suppressed."""
from __future__ import annotations

import ipaddress
import json

import numpy as np

from .spec_paths import REPO_ROOT

BUILTIN_RULES_PATH = REPO_ROOT / "packages/suppression/spec/builtin-rules.json"
_SPEC = json.loads(BUILTIN_RULES_PATH.read_text())
_RULES = [{**r, "networks": [ipaddress.ip_network(n) for n in r["responder_networks"]],
           "except": [ipaddress.ip_network(n) for n in r.get("except_responder_networks", [])],
           "protocols": frozenset(r["protocols"]) if "protocols" in r else None,
           "dst_ports": frozenset(r["dst_ports"]) if "dst_ports" in r else None} for r in _SPEC["rules"]]


def _all_in(values: set, allowed: frozenset | None) -> bool:
    return allowed is None or (bool(values) and values <= allowed)


_INFRA = _SPEC["infrastructure_requests"]


def is_infrastructure_request(f: dict) -> bool:
    """A flow that is a host's own infrastructure chatter (the spec's infrastructure_requests; TypeScript
    isInfrastructureRequest): a UDP request toward a name or time service, or an ICMP / ICMPv6 exchange in which every
    request was answered with ping-sized packets."""
    protocol = int(f["protocol"])
    if protocol == 17:
        return int(f["dst_port"]) in _INFRA["udp_dst_ports"]
    if protocol not in (1, 58):
        return False
    cap = _INFRA["icmp_max_bytes_per_packet"]
    fb, fp, bb, bp = (int(f[k]) for k in ("fwd_bytes", "fwd_pkts", "bwd_bytes", "bwd_pkts"))
    return fp > 0 and bp >= fp and fb <= cap * fp and bb <= cap * bp


def builtin_rule(finding: dict, flagged: bool, flags=None) -> str | None:
    """The id of the first built-in rule that matches an alert, or None. `finding` holds the finding's dst_ip,
    protocols and dst_ports, infrastructure_only (every flow is_infrastructure_request) and, for a rule with
    max_fwd_bytes_per_pkt, fwd_bytes and fwd_pkts (the initiator's totals), for sub_scores_only by_model (the model's
    verdict was malicious; unknown when absent: such a rule does not apply), for min_initiator_dsts and
    max_initiator_dsts initiator_dsts (the sequence's context.distinct_dsts; unknown when absent: a max does not
    apply); `flagged`: a baseline
    sub-score raised it too (rules with model_verdict_only do not apply); `flags`: the names of the sub-scores that
    flagged it (None: unknown, so a rule with flags_within takes no flagged alert)."""
    try:
        addr = ipaddress.ip_address(finding["dst_ip"])
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    protos, ports = {int(p) for p in finding["protocols"]}, {int(p) for p in finding["dst_ports"]}
    for r in _RULES:
        if r.get("model_verdict_only") and flagged:
            continue
        within = r.get("flags_within")
        if within is not None and flagged and (flags is None or not set(flags) <= set(within)):
            continue
        if r.get("infrastructure_only") and not finding["infrastructure_only"]:
            continue
        if not (_all_in(protos, r["protocols"]) and _all_in(ports, r["dst_ports"])):
            continue
        if r.get("sub_scores_only") and (not flagged or finding.get("by_model") is not False):
            continue
        least = r.get("min_initiator_dsts")
        if least is not None and not (finding.get("initiator_dsts") or 0) >= least:
            continue
        most = r.get("max_initiator_dsts")
        if most is not None and not (finding.get("initiator_dsts") is not None and finding["initiator_dsts"] <= most):
            continue
        cap = r.get("max_fwd_bytes_per_pkt")
        if cap is not None:
            b, p = finding.get("fwd_bytes"), finding.get("fwd_pkts")
            if b is None or p is None or not p > 0 or b > cap * p:
                continue
        ones = r.get("responder_host_ones")
        if ones is not None and (addr.version != 4 or int(addr) % (1 << ones) != (1 << ones) - 1):
            continue
        if any(addr.version == n.version and addr in n for n in r["except"]):
            continue
        if any(addr.version == n.version and addr in n for n in r["networks"]):
            return r["id"]
    return None


def sequence_finding(seq: dict) -> dict:
    """The fields builtin_rule reads, as the service's finding has them for a raw sequence (model.raw_sequences)."""
    flows = seq["flows"]
    return {"dst_ip": seq["dst_ip"], "protocols": {f["protocol"] for f in flows},
            "dst_ports": {f["dst_port"] for f in flows},
            "infrastructure_only": all(is_infrastructure_request(f) for f in flows),
            "fwd_bytes": sum(int(f["fwd_bytes"]) for f in flows), "fwd_pkts": sum(int(f["fwd_pkts"]) for f in flows),
            "initiator_dsts": int(seq.get("context", {}).get("distinct_dsts", 0))}


def sequences_suppressed(raw, flagged, names=None, by_model=None) -> np.ndarray:
    """[S] bool: a built-in rule would record an alert on each raw sequence as suppressed. `flagged`: [S] bool, a
    baseline sub-score reached the flag threshold there (which ones unknown), or [S, K] bool, which of the K
    sub-scores `names` did; `by_model`: [S] bool, the model's verdict was malicious (unknown when None)."""
    flagged = np.asarray(flagged, dtype=bool)
    if len(flagged) != len(raw):
        raise ValueError(f"flagged has {len(flagged)} entries for {len(raw)} sequences")
    if by_model is not None and len(by_model) != len(raw):
        raise ValueError(f"by_model has {len(by_model)} entries for {len(raw)} sequences")
    if flagged.ndim == 2:
        if names is None or len(names) != flagged.shape[1]:
            raise ValueError(f"flagged has {flagged.shape[1]} columns: name each of them")
        flags = [[n for n, f in zip(names, row) if f] for row in flagged]
    else:
        flags = [None] * len(raw)
    out = []
    for i, r in enumerate(raw):
        finding = sequence_finding(r)
        if by_model is not None:
            finding["by_model"] = bool(by_model[i])
        g = bool(flags[i]) if flagged.ndim == 2 else bool(flagged[i])
        out.append(builtin_rule(finding, g, flags[i]) is not None)
    return np.array(out, dtype=bool).reshape(len(raw))
