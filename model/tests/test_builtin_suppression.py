import json

import numpy as np
import pytest

from model.builtin_suppression import BUILTIN_RULES_PATH, builtin_rule, sequence_finding, sequences_suppressed

PACKET = {"fwd_bytes": 76, "fwd_pkts": 1, "bwd_bytes": 76, "bwd_pkts": 1}


def test_every_case_of_the_shared_spec():
    # The TypeScript matcher checks the same cases (packages/suppression/test/builtin-rules.test.ts).
    cases = json.loads(BUILTIN_RULES_PATH.read_text())["cases"]
    assert len(cases) >= 20
    for c in cases:
        finding = {**PACKET, "protocols": [17], "dst_ports": [9],
                   **{k: v for k, v in c.items() if k not in ("rule", "flagged")}}
        assert builtin_rule(finding, c.get("flagged", False)) == c["rule"], c


def test_sequences_suppressed_reads_each_sequence_as_its_finding():
    def seq(dst_ip, *flows):
        return {"dst_ip": dst_ip, "flows": [{**PACKET, "protocol": p, "dst_port": d, **extra} for p, d, extra in flows]}

    raw = [seq("192.168.10.255", (17, 17500, {}), (17, 9, {})),
           seq("192.168.10.255", (6, 445, {})),
           seq("224.0.0.251", (6, 80, {})),
           seq("141.142.220.255", (17, 137, {}), (17, 138, {})),
           seq("141.142.220.255", (17, 137, {}), (17, 443, {})),
           seq("216.239.35.12", (17, 123, {"bwd_pkts": 0, "bwd_bytes": 0})),
           seq("216.239.35.12", (17, 123, {})),
           seq("192.168.1.1", (1, 0, {"fwd_pkts": 3, "fwd_bytes": 252}), (1, 0, {"fwd_pkts": 2, "fwd_bytes": 168})),
           seq("192.168.1.1", (1, 0, {"fwd_pkts": 3, "fwd_bytes": 252})),
           seq("192.168.1.1", (1, 0, {}), (1, 0, {}))]
    flagged = np.array([False, False, False, False, False, False, True, False, False, False])
    # The pings: 5 requests, 2 replies; 3 and 1 (the flows' totals are what the finding carries); 2 and 2.
    assert sequences_suppressed(raw, flagged).tolist() == [True, False, True, True, False, True, False, False, False,
                                                           True]
    assert sequence_finding(raw[7])["fwd_pkts"] == 5 and sequence_finding(raw[7])["bwd_pkts"] == 2
    with pytest.raises(ValueError, match="flagged has 1 entries for 10 sequences"):
        sequences_suppressed(raw, [True])
