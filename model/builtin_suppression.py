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
_RULES = [(r["id"], [ipaddress.ip_network(n) for n in r["responder_networks"]], r.get("responder_host_ones"),
           frozenset(r["protocols"]) if "protocols" in r else None,
           frozenset(r["dst_ports"]) if "dst_ports" in r else None) for r in _SPEC["rules"]]


def _all_in(values: set, allowed: frozenset | None) -> bool:
    return allowed is None or (bool(values) and values <= allowed)


def builtin_rule(dst_ip: str, protocols, dst_ports) -> str | None:
    """The id of the first built-in rule that matches a sequence toward dst_ip whose flows carry `protocols` and
    `dst_ports` (the finding's protocols and dst_ports), or None."""
    try:
        addr = ipaddress.ip_address(dst_ip)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    protos, ports = {int(p) for p in protocols}, {int(p) for p in dst_ports}
    for rule_id, nets, host_ones, allowed_protos, allowed_ports in _RULES:
        if not (_all_in(protos, allowed_protos) and _all_in(ports, allowed_ports)):
            continue
        if host_ones is not None and (addr.version != 4 or int(addr) % (1 << host_ones) != (1 << host_ones) - 1):
            continue
        if any(addr.version == n.version and addr in n for n in nets):
            return rule_id
    return None


def builtin_suppressed(dst_ips, protocols, dst_ports) -> np.ndarray:
    """[S] bool: a built-in rule would record an alert toward each responder, over a sequence of those
    protocols and destination ports (one iterable of each per sequence), as suppressed."""
    arr = np.asarray(dst_ips).astype(str)
    if not arr.shape[0]:
        return np.zeros(0, dtype=bool)
    keys = [(ip, tuple(sorted({int(p) for p in ps})), tuple(sorted({int(p) for p in qs})))
            for ip, ps, qs in zip(arr.tolist(), protocols, dst_ports, strict=True)]
    memo: dict = {}
    return np.array([memo.setdefault(k, builtin_rule(*k) is not None) for k in keys], dtype=bool)


def sequences_suppressed(raw) -> np.ndarray:
    """[S] bool: builtin_suppressed over raw sequences (model.raw_sequences: dst_ip and flows)."""
    return builtin_suppressed([r["dst_ip"] for r in raw], [[f["protocol"] for f in r["flows"]] for r in raw],
                              [[f["dst_port"] for f in r["flows"]] for r in raw])
