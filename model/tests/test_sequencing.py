import json

import numpy as np

from model.data import FLOW_COLUMNS, read_user_file
from model.sequencing import build_sequences, conversation_flows, sequence_dicts, sequence_id
from model.sequencing_fixture import OUT, flows


def test_sequence_id_is_a_uuid_v5_shape_from_sha256():
    sid = sequence_id("10.0.0.1", "10.0.0.2", 1700000000000, 0)
    assert sid == "46e40290-e7fa-5391-b0c6-60b547fd71d0"
    assert sid[14] == "5" and sid[19] in "89ab"


def test_fixture_matches_the_python_sequencer():
    doc = json.loads(OUT.read_text())
    fl = flows()
    table = {k: np.array([f[k] for f in fl], dtype=object if k in ("src_ip", "dst_ip", "attack") else np.int64) for k in FLOW_COLUMNS}
    seqs = build_sequences(table)
    got = {s["sequence_id"]: s for s in sequence_dicts(table, seqs)}
    assert len(got) == len(doc["sequences"]) == 26
    for want in doc["sequences"]:
        g = got[want["sequence_id"]]
        assert g["context"] == want["context"]
        assert [f["start_ms"] for f in g["flows"]] == [f["start_ms"] for f in want["flows"]]
        assert [(f["protocol"], f["src_port"], f["fwd_bytes"]) for f in g["flows"]] == [(f["protocol"], f["src_port"], f["fwd_bytes"]) for f in want["flows"]]
    parts = sorted(s["part"] for s in doc["sequences"] if s["dst_ip"] == "10.0.0.9")
    assert parts == [0, 1]


def test_distinct_srcs_counts_the_responders_initiators_per_window():
    doc = json.loads(OUT.read_text())
    fan_in = {(s["src_ip"], s["dst_ip"], s["window_start_ms"]): s["context"]["distinct_srcs"] for s in doc["sequences"]}
    flood = [v for (src, dst, _), v in fan_in.items() if dst == "203.0.113.9"]
    assert sorted(flood) == [1, 5, 5, 5, 5, 5]  # five reflectors in one window, one of them in the next
    assert [v for (src, dst, _), v in fan_in.items() if dst == "10.0.0.10"] == [2, 2]
    assert fan_in[("10.0.0.5", "10.0.0.9", min(w for (s, d, w) in fan_in if d == "10.0.0.9"))] == 1
    # Every sequence's value is the number of distinct initiators toward its responder in its window.
    flows = doc["flows"]
    for (src, dst, ws), v in fan_in.items():
        srcs = {f["src_ip"] for f in flows if f["dst_ip"] == dst and f["start_ms"] - f["start_ms"] % doc["sequencing_spec"]["window_ms"] == ws}
        assert v == len(srcs)


def test_distinct_probe_srcs_counts_the_responders_probing_initiators_per_window():
    doc = json.loads(OUT.read_text())
    probes = {(s["src_ip"], s["dst_ip"], s["window_start_ms"]): s["context"]["distinct_probe_srcs"] for s in doc["sequences"]}
    # The web server: 10 initiators, 5 with an unanswered attempt that is neither reply- nor peer-shaped (the port-53
    # answer, 1023 -> 1024, the 137 -> 137 datagram, the 20-datagram syslog stream and the answered clients do not
    # count; a scanner with two probes or with a probe and an answer counts once).
    web = {src: v for (src, dst, _), v in probes.items() if dst == "203.0.113.80"}
    assert len(web) == 10 and set(web.values()) == {5}
    # The reflection flood's packets come from port 161 toward high ports: reply-shaped, no probe.
    assert {v for (src, dst, _), v in probes.items() if dst == "203.0.113.9"} == {0}
    assert {v for (src, dst, _), v in probes.items() if dst == "10.0.0.9"} == {1}
    # Every sequence's value, counted flow by flow from the definition.
    flows, wms = doc["flows"], doc["sequencing_spec"]["window_ms"]

    def probe(f):
        peer = f["src_port"] >= 1 and f["src_port"] == f["dst_port"] and f["protocol"] not in (1, 58)
        reply = 1 <= f["src_port"] <= 1023 and f["dst_port"] >= 1024
        return f["bwd_pkts"] == 0 and f["fwd_pkts"] <= 7 and not reply and not peer

    for (src, dst, ws), v in probes.items():
        assert v == len({f["src_ip"] for f in flows if f["dst_ip"] == dst and f["start_ms"] - f["start_ms"] % wms == ws and probe(f)})
    assert sum(v > 0 for v in probes.values()) == 11  # the web server's 10 initiators and the scanned 10.0.0.9


def test_a_flow_from_sampled_packets_never_counts_as_a_probe():
    # Six scanners' unanswered SYNs toward one server; with sampling_rate > 1 (sFlow, sampled NetFlow) a reply may
    # just not have been sampled, so those do not count (the sequencer's FLAG_SAMPLED, as in TypeScript).
    n = 6
    rate = np.array([1, 512, 1, 100, 2, 1], dtype=np.int64)
    table = {k: np.zeros(n, dtype=np.int64) for k in FLOW_COLUMNS}
    table.update(src_ip=np.array([f"192.0.2.{k + 1}" for k in range(n)], dtype=object),
                 dst_ip=np.array(["203.0.113.80"] * n, dtype=object), attack=np.array([""] * n, dtype=object),
                 start_ms=np.arange(n, dtype=np.int64) + 1000, end_ms=np.arange(n, dtype=np.int64) + 1000,
                 protocol=np.full(n, 6), src_port=np.arange(n) + 50000, dst_port=np.full(n, 445),
                 fwd_bytes=np.full(n, 60), fwd_pkts=np.ones(n, dtype=np.int64), tcp_flags=np.full(n, 2))
    assert set(build_sequences(table).distinct_probe_srcs.tolist()) == {6}
    table["sampling_rate"] = rate
    seqs = build_sequences(table)
    assert set(seqs.distinct_probe_srcs.tolist()) == {3}
    assert set(seqs.distinct_srcs.tolist()) == {6}


def test_rule_0_drops_ipv6_link_control_messages_and_keeps_the_rest():
    """ICMPv6 neighbour / router discovery and MLD are no conversation's flows (packages/sequencing
    notAConversationFlow); Zeek writes their type as id.orig_p."""
    rows = [
        # (protocol, src_ip, src_port = ICMP type)
        (58, "fe80::1", 135),  # neighbour solicitation
        (58, "2001:db8::2", 136),  # advertisement
        (58, "fe80::5", 143),  # MLDv2 report
        (58, "fe80::5", 128),  # echo request: a conversation
        (1, "192.0.2.1", 135),  # ICMPv4 has no type 135 to mean this
        (6, "2001:db8::2", 135),  # TCP from port 135
    ]
    n = len(rows)
    table = {k: np.zeros(n, dtype=np.int64) for k in FLOW_COLUMNS}
    table["protocol"] = np.array([r[0] for r in rows], dtype=np.int64)
    table["src_ip"] = np.array([r[1] for r in rows], dtype=object)
    table["dst_ip"] = np.array(["ff02::1"] * n, dtype=object)
    table["attack"] = np.array([""] * n, dtype=object)
    table["src_port"] = np.array([r[2] for r in rows], dtype=np.int64)
    table["start_ms"] = np.arange(n, dtype=np.int64)
    table["skipped"] = 2  # read_zeek's count of unreadable lines rides along
    kept = conversation_flows(table)
    assert kept["start_ms"].tolist() == [3, 4, 5]
    assert set(kept) == set(table) and kept["skipped"] == 2
    rest = {k: v[3:] for k, v in table.items() if k != "skipped"}
    assert conversation_flows(rest) is rest  # nothing to drop: the table itself


def test_zeek_icmp_from_an_ipv6_address_is_icmpv6(tmp_path):
    """Zeek's proto is icmp for both families; like the TypeScript importer, an IPv6 originator makes it 58."""
    log = tmp_path / "conn.log"
    header = "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\tresp_bytes\torig_pkts\tresp_pkts\n"
    rows = ["1.0\tC1\tfe80::1\t128\tfe80::2\t0\ticmp\t0.1\t8\t8\t1\t1\n",
            "2.0\tC2\t10.0.0.1\t8\t10.0.0.2\t0\ticmp\t0.1\t8\t8\t1\t1\n",
            "3.0\tC3\tfe80::1\t135\tff02::1:ff00:2\t0\ticmp\t0\t24\t0\t1\t0\n"]
    log.write_text(header + "".join(rows))
    t = read_user_file(log, "zeek_conn")
    assert t["protocol"].tolist() == [58, 1]  # the neighbour solicitation is rule 0's
