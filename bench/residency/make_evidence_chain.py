#!/usr/bin/env python3
"""Writes a valid residency evidence chain of N entries (and its head) straight into a stopped
federation-apiserver's SQLite store, for timing `fedctl residency verify` over the real
binaries (docs/performance.md). Entries are Placement and AuditScan facts of the shape the
controllers record, stored as the writer stores them: the object's dump() bytes (keys sorted,
no whitespace), hashed over the canonical form of residency/ledger.h.

  make_evidence_chain.py DB N   (start the server on DB once first, so the schema exists)
"""
import hashlib
import json
import sqlite3
import sys
import uuid

GROUP = "federation.meridian.io"
VERSION = GROUP + "/v1alpha1"


def dump(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def data_of(seq):
    if seq % 2:
        return {"workload": "payments/ledger-%d" % (seq % 50), "allowed": "eu",
                "clusters": [{"cluster": "eu-west-1", "jurisdiction": "eu", "replicas": 8 + seq % 5},
                             {"cluster": "eu-central-1", "jurisdiction": "eu", "replicas": 4}],
                "retained": [], "unplaced": 0}
    return {"membersVerified": ["eu-central-1", "eu-west-1", "us-east-1"],
            "membersUnverified": [], "objectsSeen": 40 + seq % 100, "violations": 0,
            "openViolations": [], "heartbeatSeconds": 60}


def when(seq):
    s = seq
    return "2026-12-%02dT%02d:%02d:%02d.%03dZ" % (1 + s // 86400 % 28, s // 3600 % 24, s // 60 % 60,
                                                 s % 60, seq % 1000)


def obj(name, spec, rev):
    return dump({"apiVersion": VERSION, "kind": "ResidencyEvidence",
                 "metadata": {"name": name, "uid": str(uuid.UUID(int=rev)),
                              "creationTimestamp": "2026-12-01T00:00:00Z",
                              "resourceVersion": str(rev)},
                 "spec": spec})


def main():
    db, n = sys.argv[1], int(sys.argv[2])
    con = sqlite3.connect(db)
    rev = con.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0]
    prev = "0" * 64
    rows = []
    for seq in range(1, n + 1):
        spec = {"sequence": seq, "time": when(seq), "type": "Placement" if seq % 2 else "AuditScan",
                "previousHash": prev, "data": data_of(seq)}
        canonical = dump({k: spec[k] for k in ("data", "previousHash", "sequence", "time", "type")})
        spec["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
        prev = spec["hash"]
        rev += 1
        rows.append((GROUP, "residencyevidences", "", "%020d" % seq, rev, obj("%020d" % seq, spec, rev)))
    rev += 1
    head = {"sequence": n, "time": when(n), "type": "Head", "hash": prev}
    rows.append((GROUP, "residencyevidences", "", "head", rev, obj("head", head, rev)))
    con.executemany("INSERT OR REPLACE INTO objects(grp, res, ns, name, rev, data) "
                    "VALUES(?,?,?,?,?,?)", rows)
    con.execute("UPDATE meta SET value=? WHERE key='revision'", (rev,))
    con.commit()
    print("%d entries and the head written to %s" % (n, db))


if __name__ == "__main__":
    main()
