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
_RULES = [(r["id"], [ipaddress.ip_network(n) for n in r["responder_networks"]]) for r in _SPEC["rules"]]


def builtin_rule(dst_ip: str) -> str | None:
    """The id of the first built-in rule that matches a sequence toward dst_ip, or None."""
    try:
        addr = ipaddress.ip_address(dst_ip)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for rule_id, nets in _RULES:
        if any(addr.version == n.version and addr in n for n in nets):
            return rule_id
    return None


def builtin_suppressed(dst_ips) -> np.ndarray:
    """[S] bool: a built-in rule would record an alert toward each responder as suppressed."""
    arr = np.asarray(dst_ips).astype(str)
    if not arr.shape[0]:
        return np.zeros(0, dtype=bool)
    uniq, inv = np.unique(arr, return_inverse=True)
    return np.array([builtin_rule(u) is not None for u in uniq], dtype=bool)[inv]
