import json

import numpy as np
import pytest

from model.builtin_suppression import (BUILTIN_RULES_PATH, builtin_rule, is_infrastructure_request, sequence_finding,
                                       sequences_suppressed)

SPEC = json.loads(BUILTIN_RULES_PATH.read_text())
PACKET = {"fwd_bytes": 76, "fwd_pkts": 1, "bwd_bytes": 76, "bwd_pkts": 1}


def test_every_case_of_the_shared_spec():
    # The TypeScript matcher checks the same cases (packages/suppression/test/builtin-rules.test.ts).
    assert len(SPEC["cases"]) >= 20
    for c in SPEC["cases"]:
        finding = {"protocols": [17], "dst_ports": [9], "infrastructure_only": False, "fwd_bytes": 60, "fwd_pkts": 1,
                   "by_model": False, "initiator_dsts": 1,
                   **{k: v for k, v in c.items() if k not in ("rule", "flagged", "flags")}}
        assert builtin_rule(finding, c.get("flagged", False), c.get("flags")) == c["rule"], c


def test_an_unknown_fan_out_is_not_few_enough():
    finding = {"dst_ip": "216.239.35.12", "protocols": [17], "dst_ports": [123], "infrastructure_only": True,
               "fwd_bytes": 76, "fwd_pkts": 1, "by_model": False}
    assert builtin_rule({**finding, "initiator_dsts": 20}, True, ["scan"]) == "builtin:clock-sync-retries"
    assert builtin_rule(finding, True, ["scan"]) is None


def test_every_infrastructure_request_case_of_the_shared_spec():
    assert len(SPEC["infrastructure_request_cases"]) >= 10
    for c in SPEC["infrastructure_request_cases"]:
        assert is_infrastructure_request(c) == c["infrastructure"], c


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
           seq("192.168.1.1", (1, 0, {"fwd_pkts": 3, "fwd_bytes": 252}), (17, 53, {})),
           seq("192.168.1.1", (1, 0, {"fwd_pkts": 10, "fwd_bytes": 560, "bwd_pkts": 10, "bwd_bytes": 560}),
               (17, 53, {}), (17, 53, {"bwd_pkts": 0, "bwd_bytes": 0}))]
    flagged = np.array([False, False, False, False, False, False, True, False, False])
    # 7: a ping with 3 requests and 1 reply is not an infrastructure request; 8: an answered ping burst and DNS is.
    assert sequences_suppressed(raw, flagged).tolist() == [True, False, True, True, False, True, False, False, True]
    assert sequence_finding(raw[8])["infrastructure_only"] and not sequence_finding(raw[7])["infrastructure_only"]
    with pytest.raises(ValueError, match="flagged has 1 entries for 9 sequences"):
        sequences_suppressed(raw, [True])


def test_sequences_suppressed_by_flag_names():
    """flags_within (builtin:infrastructure-rhythm): a beacon flag on DNS lookups is suppressed, a beacon plus an
    exfiltration flag is not, and a flag whose name is unknown never is."""
    dns = {"dst_ip": "192.168.1.1", "flows": [{**PACKET, "protocol": 17, "dst_port": 53}]}
    names = ("beacon", "scan", "brute_force", "exfiltration", "reflection")
    flagged = np.array([[1, 0, 0, 0, 0], [1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=bool)
    assert sequences_suppressed([dns] * 4, flagged, names).tolist() == [True, False, False, True]
    assert sequences_suppressed([dns] * 2, [True, False]).tolist() == [False, True]
    with pytest.raises(ValueError, match="flagged has 5 columns: name each of them"):
        sequences_suppressed([dns] * 4, flagged)


def test_a_beacon_flag_on_tunnel_sized_queries_stays_raised():
    """max_fwd_bytes_per_pkt (builtin:infrastructure-rhythm, 85): dnscat2's 92-byte queries stay raised."""
    def dns(size):
        return {"dst_ip": "192.168.1.210", "flows": [{**PACKET, "fwd_bytes": size, "protocol": 17, "dst_port": 53}] * 12}
    flagged = np.array([[1, 0, 0, 0, 0]] * 2, dtype=bool)
    names = ("beacon", "scan", "brute_force", "exfiltration", "reflection")
    assert sequences_suppressed([dns(70), dns(92)], flagged, names).tolist() == [True, False]
    assert sequence_finding(dns(92))["fwd_bytes"] == 1104 and sequence_finding(dns(92))["fwd_pkts"] == 12


def test_a_poller_s_beacons_by_fan_out_and_the_model_s_verdict():
    """builtin:internal-poller: a beacon flag alone toward a private host from an initiator with 20+ destinations."""
    def scrape(dsts):
        return {"dst_ip": "10.0.1.10", "context": {"distinct_dsts": dsts},
                "flows": [{**PACKET, "protocol": 6, "dst_port": 9100}] * 20}
    names = ("beacon", "scan", "brute_force", "exfiltration", "reflection")
    flagged = np.array([[1, 0, 0, 0, 0]] * 3, dtype=bool)
    raw = [scrape(50), scrape(19), scrape(50)]
    assert sequences_suppressed(raw, flagged, names, by_model=[False, False, True]).tolist() == [True, False, False]
    assert sequences_suppressed(raw, flagged, names).tolist() == [False, False, False], "the verdict unknown"
    with pytest.raises(ValueError, match="by_model has 1 entries for 3 sequences"):
        sequences_suppressed(raw, flagged, names, by_model=[True])
