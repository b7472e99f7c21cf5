#!/usr/bin/env python3
"""SVG chart of a bench/peers/compare.sh run: ringlog's advantage over Kafka 4.4 per workload.

    chart.py RUN.json OUT.svg

One group per workload, a bar for ringlog on 1 core and one for 2 cores: the median of the per-round
ratios to the same round's Kafka, turned so that > 1 always means ringlog is better (throughput:
ringlog / Kafka; latency and join time: Kafka / ringlog). Dashed lines at 1× (parity) and 2× (the
issue's throughput goal). The durable workload is against Kafka with log.flush.interval.messages=1.
Memory is left out (a ~100× ratio would flatten every other bar); it is in the table.
Standard library only.
"""

import json
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 1100, 480
LEFT, RIGHT, TOP, BOTTOM = 56, 84, 64, 124  # plot margins, px (the right one holds the 1×/2× labels)
# Bars above this many × are cut at the top and labelled with their value.
RATIO_AXIS_MAX = 8.0
COLORS = {"1c": "#2e86c1", "2c": "#1e8449"}
# Workload labels under the bars: three short lines each (the groups are ~95 px wide).
SHORT = {
    "gen-100b-acks1-1conn": ("bench 100 B", "acks=1", "1 conn"),
    "gen-100b-acks1-16conn": ("bench 100 B", "acks=1", "16 conns"),
    "gen-1k-all-1conn": ("bench 1 KiB", "acks=all", "1 conn"),
    "gen-1k-all-16conn": ("bench 1 KiB", "acks=all", "16 conns"),
    "java-100b-acks1": ("Java 100 B", "acks=1", "linger 5 ms"),
    "java-1k-all": ("Java 1 KiB", "acks=all", ""),
    "java-1k-all-half": ("Java p99 at", "50% load", "Kafka÷ringlog"),
    "consume-1k": ("Java consume", "1 KiB", ""),
    "join": ("group join", "Java", "Kafka÷ringlog"),
    "durable-1k-all-16conn": ("durable 1 KiB", "16 conns, vs", "Kafka fsync/msg"),
}


def advantages(doc):
    """[(workload, {"1c": x or None, "2c": x or None})] in table order."""
    out = []
    for row in doc["workloads"]:
        if row["id"] not in SHORT:
            continue
        cols = row.get("columns", ["kafka", "ringlog-1c", "ringlog-2c"])
        cells = doc["summary"][row["id"]]
        bars = {}
        for tag, col in (("1c", cols[1]), ("2c", cols[2])):
            r = cells[col].get("ratio")
            bars[tag] = None if not r else (r if row["better"] == "higher" else 1 / r)
        out.append((row["id"], bars))
    return out


def render(doc):
    groups = advantages(doc)
    values = [v for _, b in groups for v in b.values() if v is not None]
    top = min(RATIO_AXIS_MAX, max([2.4] + values) * 1.12)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base_y = TOP + plot_h

    def y(v):
        return base_y - min(v, top) / top * plot_h

    m, st = doc["machine"], doc["settings"]
    rounds = len(doc["rounds"])
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">ringlog against Apache Kafka 4.4, '
        f'one partition: advantage per workload (&gt; 1 = ringlog better)</text>',
        f'<text x="{WIDTH / 2}" y="40" text-anchor="middle" fill="#555">{escape(str(m["cores"]))} cores, '
        f'{escape(m["cpu_model"])}, kernel {escape(m["kernel"])}; median of {rounds} round(s), '
        f'SCALE {escape(str(st.get("scale", "?")))}; latency and join: Kafka ÷ ringlog</text>',
    ]
    step = 0.5 if top <= 3 else 1.0
    tick = 0.0
    while tick <= top + 1e-9:
        svg.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}×</text>')
        tick += step
    for level, color, name in ((1.0, "#333", "1× parity"), (2.0, "#c0392b", "2× goal")):
        if level <= top:
            svg.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
                       f'stroke="{color}" stroke-dasharray="6,4"/>'
                       f'<text x="{WIDTH - RIGHT + 6}" y="{y(level) + 4:.1f}" fill="{color}">{name}</text>')
    group_w = plot_w / max(1, len(groups))
    bar_w = min(34.0, group_w * 0.34)
    for i, (wid, bars) in enumerate(groups):
        cx = LEFT + group_w * (i + 0.5)
        for j, tag in enumerate(("1c", "2c")):
            x = cx + (j - 1) * bar_w - 1 + 2 * j
            v = bars[tag]
            if v is None:
                svg.append(f'<text x="{x + bar_w / 2:.1f}" y="{base_y - 6}" text-anchor="middle" fill="#999">n/a</text>')
                continue
            svg.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar_w:.1f}" height="{base_y - y(v):.1f}" '
                       f'fill="{COLORS[tag]}"><title>{escape(wid)} {tag}: {v:.2f}×</title></rect>')
            label = f"▲{v:.1f}" if v > top else f"{v:.2f}"
            svg.append(f'<text x="{x + bar_w / 2:.1f}" y="{y(v) - 4:.1f}" text-anchor="middle" font-size="10">'
                       f'{label}</text>')
        for k, text in enumerate(SHORT[wid]):
            color = "#000" if k == 0 else "#555"
            svg.append(f'<text x="{cx:.1f}" y="{base_y + 16 + 14 * k}" text-anchor="middle" font-size="11" '
                       f'fill="{color}">{escape(text)}</text>')
    lx = LEFT
    for tag, name in (("1c", "ringlog --cores 1"), ("2c", "ringlog --cores 2")):
        svg.append(f'<rect x="{lx}" y="{HEIGHT - 40}" width="14" height="14" fill="{COLORS[tag]}"/>'
                   f'<text x="{lx + 20}" y="{HEIGHT - 29}">{name}</text>')
        lx += 170
    svg.append(f'<text x="{lx}" y="{HEIGHT - 29}" fill="#555">flush never, except durable (flush always); '
               f'bars cut at {RATIO_AXIS_MAX:g}× are marked ▲</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
