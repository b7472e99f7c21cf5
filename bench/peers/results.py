#!/usr/bin/env python3
"""Results of bench/peers/compare.sh: parse each tool's output, then write the report.

    results.py record RESULTS.jsonl --round N --broker NAME --workload ID --kind KIND --file OUT [--set k=v]...
        Parse one tool's output and append one JSON line. KIND is gen (`ringlog bench produce --json`),
        producer-perf (ProducerPerformance), consumer-perf (ConsumerPerformance), join (JoinTime.java),
        rss (a /proc/PID/status file) or failed (no output worth parsing: --set error=...).
        Exit 1 (after recording the failure) if the output has no result in it.
    results.py report RESULTS.jsonl --out PREFIX [--set k=v]...
        Write PREFIX.json (machine, settings, every raw figure of every round) and PREFIX.md (the table
        of issue #14: workload | Kafka | ringlog 1 core | ringlog 2 cores, medians over rounds, ratios to
        Kafka, and the goals met or not).
    results.py value RESULTS.jsonl --round N --broker NAME --workload ID --field F
        Print one recorded figure (compare.sh sets the 50% rate from Kafka's maximum this way).

Standard library only. Ratios are taken within a round (ringlog and Kafka measured minutes apart
on the same machine) and the median of those per-round ratios is reported.
"""

import argparse
import json
import os
import platform
import re
import statistics
import sys

# Broker runs, in the order compare.sh runs them within a round.
BROKERS = {
    "kafka": "Apache Kafka 4.4 (no fsync before the ack)",
    "kafka-fsync": "Apache Kafka 4.4, log.flush.interval.messages=1",
    "ringlog-1c": "ringlog --cores 1 --flush never",
    "ringlog-2c": "ringlog --cores 2 --flush never",
    "ringlog-1c-always": "ringlog --cores 1 --flush always",
    "ringlog-2c-always": "ringlog --cores 2 --flush always",
}

# One row of the table. metric: the figure compared; better: "higher" or "lower";
# extra: a second figure shown in the cell (and compared, for CPU per GB).
ROWS = [
    dict(id="gen-100b-acks1-1conn", label="produce 100 B, acks=1, 640 rec/batch, 1 conn",
         client="`ringlog bench produce`", metric="records_per_s", better="higher",
         extra="broker_cpu_s_per_gb"),
    dict(id="gen-100b-acks1-16conn", label="produce 100 B, acks=1, 640 rec/batch, 16 conns",
         client="`ringlog bench produce`", metric="records_per_s", better="higher",
         extra="broker_cpu_s_per_gb"),
    dict(id="gen-1k-all-1conn", label="produce 1 KiB, acks=all, 64 rec/batch, 1 conn",
         client="`ringlog bench produce`", metric="mb_per_s", better="higher",
         extra="broker_cpu_s_per_gb"),
    dict(id="gen-1k-all-16conn", label="produce 1 KiB, acks=all, 64 rec/batch, 16 conns",
         client="`ringlog bench produce`", metric="mb_per_s", better="higher",
         extra="broker_cpu_s_per_gb"),
    dict(id="java-100b-acks1", label="produce 100 B, acks=1, linger 5 ms",
         client="Java ProducerPerformance", metric="records_per_s", better="higher", extra="p99_ms"),
    dict(id="java-1k-all", label="produce 1 KiB, acks=all",
         client="Java ProducerPerformance", metric="records_per_s", better="higher", extra="p99_ms"),
    dict(id="java-1k-all-half", label="p99 at 50% of Kafka's max rate, 1 KiB acks=all (lower is better)",
         client="Java ProducerPerformance `--throughput`", metric="p99_ms", better="lower",
         extra="records_per_s"),
    dict(id="consume-1k", label="consume 1 KiB (fetch phase, after the join)",
         client="Java ConsumerPerformance", metric="fetch_records_per_s", better="higher",
         extra="rebalance_ms"),
    dict(id="join", label="group join, lone consumer (lower is better)",
         client="Java consumer (JoinTime.java)", metric="median_ms", better="lower"),
    dict(id="durable-1k-all-16conn", label="durable produce 1 KiB, acks=all, 16 conns",
         client="`ringlog bench produce`", metric="mb_per_s", better="higher",
         extra="broker_cpu_s_per_gb",
         columns=("kafka-fsync", "ringlog-1c-always", "ringlog-2c-always")),
    dict(id="rss", label="broker RSS at the end of its run (lower is better)",
         client="/proc/PID/status VmRSS", metric="rss_mib", better="lower"),
]
ROW_BY_ID = {r["id"]: r for r in ROWS}
COLUMNS = ("kafka", "ringlog-1c", "ringlog-2c")
# The durable row's ringlog brokers, and the flush-never run of the same load they are held against.
OWN_NEVER = {"ringlog-1c-always": "ringlog-1c", "ringlog-2c-always": "ringlog-2c"}
# Short names of the throughput rows, for the goals and the 2-cores line.
SHORT = {"gen-100b-acks1-1conn": "bench 100 B 1 conn", "gen-100b-acks1-16conn": "bench 100 B 16 conns",
         "gen-1k-all-1conn": "bench 1 KiB 1 conn", "gen-1k-all-16conn": "bench 1 KiB 16 conns",
         "java-100b-acks1": "Java 100 B", "java-1k-all": "Java 1 KiB"}


# --- parsing ----------------------------------------------------------------------------------------

PRODUCER_FINAL = re.compile(
    r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th")


def parse_gen(text, _sets):
    j = json.loads(text)
    lat = j.get("latency") or {}
    return {
        "records": j["records"],
        "records_per_s": j["records_per_s"],
        "mb_per_s": j["mb_per_s"],
        "broker_cpu_s_per_gb": j.get("broker_cpu_s_per_gb"),
        "p99_ms": lat["p99_us"] / 1000 if "p99_us" in lat else None,
        "raw": j,
    }


def parse_producer(text, sets):
    found = [m for m in map(PRODUCER_FINAL.match, text.splitlines()) if m]
    if not found:
        raise ValueError("no final 'records sent ... 99.9th' line")
    m = found[-1]
    size = int(sets.get("record_bytes", 0))
    rate = float(m.group(2))
    return {
        "records": int(m.group(1)),
        "records_per_s": rate,
        "mb_per_s": rate * size / 1e6 if size else None,
        "avg_ms": float(m.group(4)),
        "max_ms": float(m.group(5)),
        "p50_ms": int(m.group(6)),
        "p95_ms": int(m.group(7)),
        "p99_ms": int(m.group(8)),
        "p999_ms": int(m.group(9)),
        "raw": m.group(0),
    }


def parse_consumer(text, sets):
    lines = text.splitlines()
    header = next((i for i, l in enumerate(lines) if l.startswith("start.time, end.time")), None)
    if header is None or header + 1 >= len(lines):
        raise ValueError("no ConsumerPerformance result line")
    names = [n.strip() for n in lines[header].split(",")]
    values = [v.strip() for v in lines[header + 1].split(",")]
    row = dict(zip(names, values))
    out = {
        "records": int(row["data.consumed.in.nMsg"]),
        "records_per_s": float(row["nMsg.sec"]),
        "rebalance_ms": int(row["rebalance.time.ms"]),
        "fetch_ms": int(row["fetch.time.ms"]),
        "fetch_records_per_s": float(row["fetch.nMsg.sec"]),
        "fetch_mib_per_s": float(row["fetch.MB.sec"]),
        "raw": lines[header + 1],
    }
    expected = int(sets.get("expected_records", 0))
    if expected and out["records"] < expected:
        out["short"] = f"read {out['records']} of {expected} records"
    return out


def parse_join(text, _sets):
    warm, measured = None, []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "JOIN":
            if parts[1] == "warmup":
                warm = float(parts[3])
            else:
                measured.append(float(parts[3]))
    if not measured:
        raise ValueError("no measured JOIN line")
    return {"warmup_ms": warm, "joins_ms": measured, "median_ms": statistics.median(measured)}


def parse_rss(text, _sets):
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    if not m:
        raise ValueError("no VmRSS line")
    return {"rss_mib": int(m.group(1)) / 1024}


PARSERS = {"gen": parse_gen, "producer-perf": parse_producer, "consumer-perf": parse_consumer,
           "join": parse_join, "rss": parse_rss}


def parse_sets(pairs):
    out = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def cmd_record(a):
    sets = parse_sets(a.set)
    entry = {"round": a.round, "broker": a.broker, "workload": a.workload, "kind": a.kind,
             "output": os.path.basename(a.file) if a.file else None}
    ok = True
    if a.kind == "failed":
        entry["error"] = str(sets.pop("error", "failed"))
    else:
        try:
            with open(a.file, encoding="utf-8", errors="replace") as f:
                entry.update(PARSERS[a.kind](f.read(), sets))
        except Exception as e:  # any surprise in a tool's output is that measurement's failure, recorded
            entry["error"] = f"{a.kind} output not understood ({e}): see {entry['output']}"
            ok = False
    entry.update(sets)
    with open(a.results, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    print(f"  {a.broker:18} {a.workload:24} {summary(entry)}", file=sys.stderr)
    return 0 if ok and "error" not in entry else 1


def summary(e):
    if "error" in e:
        return "FAILED: " + e["error"]
    keys = ("records_per_s", "mb_per_s", "broker_cpu_s_per_gb", "p99_ms", "fetch_records_per_s",
            "rebalance_ms", "median_ms", "rss_mib", "short")
    return ", ".join(f"{k}={fmt_num(e[k])}" for k in keys if e.get(k) is not None)


def fmt_num(v):
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def cmd_value(a):
    for e in load(a.results):
        if (e["round"], e["broker"], e["workload"]) == (a.round, a.broker, a.workload) and \
                e.get(a.field) is not None and "error" not in e:
            print(e[a.field])
            return 0
    return 1


# --- the report ------------------------------------------------------------------------------------

def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu_model": cpu, "cores": os.cpu_count()}


def figure(entries, rnd, broker, workload, field):
    for e in entries:
        if (e["round"], e["broker"], e["workload"]) == (rnd, broker, workload) and "error" not in e:
            return e.get(field)
    return None


def median_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def summarize(entries, rounds):
    """Per row and column: the median figure, and the median of the per-round ratios to the baseline."""
    out = {}
    for row in ROWS:
        cols = row.get("columns", COLUMNS)
        base = cols[0]
        cells = {}
        for col in cols:
            per_round = [figure(entries, r, col, row["id"], row["metric"]) for r in rounds]
            extra = [figure(entries, r, col, row["id"], row["extra"]) for r in rounds] if "extra" in row else []
            base_vals = [figure(entries, r, base, row["id"], row["metric"]) for r in rounds]
            base_extra = [figure(entries, r, base, row["id"], row["extra"]) for r in rounds] if extra else []
            cell = {
                "rounds": per_round,
                "median": median_or_none(per_round),
                "ratio_rounds": [ratio(v, b) for v, b in zip(per_round, base_vals)],
            }
            cell["ratio"] = median_or_none(cell["ratio_rounds"])
            if extra:
                cell["extra_rounds"] = extra
                cell["extra_median"] = median_or_none(extra)
                cell["extra_ratio"] = median_or_none([ratio(v, b) for v, b in zip(extra, base_extra)])
            if col in OWN_NEVER:
                never = [figure(entries, r, OWN_NEVER[col], "gen-1k-all-16conn", row["metric"]) for r in rounds]
                cell["ratio_to_flush_never"] = median_or_none([ratio(v, n) for v, n in zip(per_round, never)])
            cells[col] = cell
        out[row["id"]] = cells
    # ringlog 2 cores against ringlog 1 core, per round, on the throughput rows.
    for row in (ROW_BY_ID[w] for w in SHORT):
        per_round = [ratio(figure(entries, r, "ringlog-2c", row["id"], row["metric"]),
                           figure(entries, r, "ringlog-1c", row["id"], row["metric"])) for r in rounds]
        out[row["id"]]["two_cores_over_one"] = median_or_none(per_round)
    return out


def fmt_value(field, v):
    if v is None:
        return "failed"
    if field in ("records_per_s", "fetch_records_per_s"):
        return f"{v / 1e6:.2f} M rec/s" if v >= 1e6 else f"{v / 1e3:.0f} k rec/s"
    if field == "mb_per_s":
        return f"{v:,.0f} MB/s"
    if field == "broker_cpu_s_per_gb":
        return f"{v:.2f} CPU-s/GB"
    if field in ("p99_ms", "median_ms", "rebalance_ms"):
        return f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms"
    if field == "rss_mib":
        return f"{v:,.0f} MiB"
    return f"{v}"


def fmt_ratio(r):
    return "" if r is None else f" ({r:.2f}×)"


def cell_text(row, col, cell, is_base):
    text = fmt_value(row["metric"], cell["median"]) + ("" if is_base else fmt_ratio(cell["ratio"]))
    extra = row.get("extra")
    if extra and cell.get("extra_median") is not None:
        name = {"p99_ms": "p99 ", "rebalance_ms": "join ", "records_per_s": "achieved "}.get(extra, "")
        text += f", {name}{fmt_value(extra, cell['extra_median'])}"
        if extra == "broker_cpu_s_per_gb" and not is_base:
            text += fmt_ratio(cell["extra_ratio"])
    if cell.get("ratio_to_flush_never") is not None:
        text += f"; {cell['ratio_to_flush_never']:.2f}× its flush never"
    return text


def goal(text, checks):
    """checks: (what, value, threshold, 'min'|'max'); a missing value counts as not met."""
    met = [v is not None and (v >= t if kind == "min" else v <= t) for _, v, t, kind in checks]
    measured = "; ".join(f"{what} {'failed' if v is None else f'{v:.2f}×'}" for what, v, _, _ in checks)
    verdict = "**met**" if all(met) else f"**not met** ({sum(met)} of {len(met)})"
    return {"goal": text, "measured": measured, "met": all(met), "verdict": verdict}


def goals(s):
    cores = (("1c", "ringlog-1c"), ("2c", "ringlog-2c"))
    short = SHORT
    gen = list(short)[:4]
    out = [
        goal("Produce CPU per GB on the broker ≤ 0.25× Kafka's (100 B and 1 KiB)",
             [(f"{short[w]} {c}", s[w][col]["extra_ratio"], 0.25, "max") for w in gen for c, col in cores]),
        goal("Produce throughput ≥ 2× Kafka's (`ringlog bench` 1 and 16 conns, Java client; 100 B acks=1, 1 KiB acks=all)",
             [(f"{short[w]} {c}", s[w][col]["ratio"], 2.0, "min") for w in short for c, col in cores]),
        goal("ringlog on 2 cores ≥ 1.3× ringlog on 1 core, one partition",
             [(short[w], s[w]["two_cores_over_one"], 1.3, "min") for w in short]),
        goal("p99 produce latency at 50% of Kafka's maximum rate ≤ 0.5× Kafka's (Java client)",
             [(c, s["java-1k-all-half"][col]["ratio"], 0.5, "max") for c, col in cores]),
        goal("Durable: `--flush always` ≥ 0.8× ringlog's own `--flush never`, 1 KiB acks=all, 16 conns",
             [(c, s["durable-1k-all-16conn"][col]["ratio_to_flush_never"], 0.8, "min")
              for c, col in (("1c", "ringlog-1c-always"), ("2c", "ringlog-2c-always"))]),
        goal("Durable: `--flush always` ≥ 3× Kafka with log.flush.interval.messages=1",
             [(c, s["durable-1k-all-16conn"][col]["ratio"], 3.0, "min")
              for c, col in (("1c", "ringlog-1c-always"), ("2c", "ringlog-2c-always"))]),
        goal("Consume ≥ 1.3× Kafka (Java client)",
             [(c, s["consume-1k"][col]["ratio"], 1.3, "min") for c, col in cores]),
        goal("Group join ≤ Kafka's with the same delay",
             [(c, s["join"][col]["ratio"], 1.0, "max") for c, col in cores]),
    ]
    return out


def cmd_report(a):
    entries = load(a.results)
    meta = parse_sets(a.set)
    rounds = sorted({e["round"] for e in entries})
    s = summarize(entries, rounds)
    g = goals(s)
    doc = {
        "benchmark": "peers: ringlog against Apache Kafka 4.4 (issue #14)",
        "machine": machine(),
        "settings": meta,
        "brokers": BROKERS,
        "workloads": ROWS,
        "rounds": [
            {"round": r, "brokers": {b: {e["workload"]: {k: v for k, v in e.items()
                                                         if k not in ("round", "broker", "workload")}
                                         for e in entries if e["round"] == r and e["broker"] == b}
                                     for b in BROKERS}}
            for r in rounds
        ],
        "summary": s,
        "goals": g,
        "failures": [f"round {e['round']} {e['broker']} {e['workload']}: {e['error']}"
                     for e in entries if "error" in e],
    }
    with open(a.out + ".json", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(a.out + ".md", "w", encoding="utf-8") as f:
        f.write(markdown(doc, rounds))
    return 0


def markdown(doc, rounds):
    m, st, s = doc["machine"], doc["settings"], doc["summary"]
    n = len(rounds)
    lines = [
        "# ringlog side by side with Apache Kafka 4.4",
        "",
        f"Machine: {m['cores']} cores, `{m['cpu_model']}`, kernel `{m['kernel']}`; load average "
        f"{st.get('load_before', '?')} before, {st.get('load_after', '?')} after. "
        f"Command: `bench/peers/compare.sh {st.get('rounds', n)} {st.get('scale', '?')}`, "
        f"{st.get('wall_s', '?')} s wall clock, started {st.get('started_utc', '?')}. "
        f"ringlog {st.get('ringlog_version', '?')} (checkout at {st.get('git_commit', '?')}, binary built "
        f"{st.get('ringlog_built_utc', '?')}), "
        f"Kafka {st.get('kafka_version', '?')} on {st.get('java', '?')}.",
        "",
        f"One partition, loopback, one broker at a time: per round Kafka, Kafka with "
        f"`log.flush.interval.messages=1`, then `ringlog serve --io {st.get('ringlog_io', 'uring')}` with "
        f"`--flush never` on 1 and 2 cores, then `--flush always` on 1 and 2 cores; each broker on a fresh data "
        f"directory, warmed up for {st.get('warmup_s', '?')} s with `ringlog bench produce` (not reported). "
        f"`group.initial.rebalance.delay.ms` = {st.get('join_delay_ms', '?')} on both. Kafka: 1 GiB heap, "
        f"the JVM flags of `kafka-run-class.sh`, no fsync before the ack (its default) except in the durable row. "
        f"`ringlog bench produce` loads: {st.get('gen_seconds', '?')} s measured each after 1 s warm-up, broker "
        f"CPU (user+sys of the broker process) per 10^9 value bytes. Java tools (the Kafka 4.4 jars, one JVM per "
        f"run): batch.size=65536, linger.ms=5; {st.get('java_100b_records', '?')} × 100 B and "
        f"{st.get('java_1k_records', '?')} × 1 KiB records, the 1 KiB topic then consumed; the latency run "
        f"offers 50% of Kafka's 1 KiB acks=all rate of the same round for {st.get('half_seconds', '?')} s. "
        f"Group join: JoinTime.java, subscribe() to first assignment, median of "
        f"{st.get('joins', '?')} joins after one warm-up join, each a new consumer in a new group; the consume "
        f"row's \"join\" is ConsumerPerformance's rebalance.time.ms instead (a cold JVM's first join, "
        f"metadata and connection set-up included).",
        "",
        f"Each cell: the median over {n} round(s); (×) the median of the per-round ratios to the first "
        f"column (the same round's Kafka); for CPU-s/GB the ratio follows the figure. MB = 10^6 bytes of "
        f"record values.",
        "",
        "| workload | client | Kafka 4.4 | ringlog 1 core | ringlog 2 cores |",
        "|---|---|---|---|---|",
    ]
    for row in ROWS:
        cols = row.get("columns", COLUMNS)
        cells = [cell_text(row, c, s[row["id"]][c], i == 0) for i, c in enumerate(cols)]
        label = row["label"]
        if "columns" in row:
            label += " (Kafka: fsync every message; ringlog: `--flush always`)"
        lines.append(f"| {label} | {row['client']} | " + " | ".join(cells) + " |")
    two = [f"{name} {'failed' if s[w].get('two_cores_over_one') is None else format(s[w]['two_cores_over_one'], '.2f') + '×'}"
           for w, name in SHORT.items()]
    lines += ["", "ringlog 2 cores ÷ 1 core (median of per-round ratios): " + "; ".join(two) + ".", "",
              "## Goals (issue #14)", "", "| goal | measured (median of per-round ratios) | met |", "|---|---|---|"]
    for g in doc["goals"]:
        lines.append(f"| {g['goal']} | {g['measured']} | {g['verdict']} |")
    lines.append("| io_uring ≥ 1.0× epoll on every `bench compare` workload, ≥ 1.2× on 2 and 5; p99 at 50% ≤ 1 ms "
                 "| not measured here: `ringlog bench compare` | - |")
    if doc["failures"]:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in doc["failures"]]
    lines += ["", f"Every figure of every round: `{st.get('json_name', 'the .json beside this file')}`.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("results")
    r.add_argument("--round", type=int, required=True)
    r.add_argument("--broker", choices=list(BROKERS), required=True)
    r.add_argument("--workload", choices=list(ROW_BY_ID), required=True)
    r.add_argument("--kind", choices=list(PARSERS) + ["failed"], required=True)
    r.add_argument("--file")
    r.add_argument("--set", action="append")
    v = sub.add_parser("value")
    v.add_argument("results")
    v.add_argument("--round", type=int, required=True)
    v.add_argument("--broker", required=True)
    v.add_argument("--workload", required=True)
    v.add_argument("--field", required=True)
    o = sub.add_parser("report")
    o.add_argument("results")
    o.add_argument("--out", required=True)
    o.add_argument("--set", action="append")
    a = p.parse_args()
    return {"record": cmd_record, "value": cmd_value, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
