"""bench/RESULTS.md from the figures of one run."""

MAX_RATIO, MAX_QUERIES, MIN_APPROVALS, MAX_AGENDA_MS = 3.0, 12, 200, 50


def _ok(good):
    return "yes" if good else "**no**"


def markdown(r, s):
    m = r["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["load_at_start"])
    load_end = ", ".join(f"{x:.2f}" for x in r["load_at_end"])
    seeded = r["seeded"]
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` run of {m['started']}, {r['total_seconds']:.0f} s in all.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {m['cpu']} |",
        f"| cores | {m['cores']} |",
        f"| RAM | {m['ram']} |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} |",
        f"| PostgreSQL | {r['postgres']} (loopback) |",
        f"| load average at start (1, 5, 15 min) | {load} |",
        f"| load average at end | {load_end} |",
        f"| gunicorn | {s['workers']} sync workers, DEBUG off |",
        "",
        "## Data",
        "",
        f"Seeded in {r['seed_seconds']:.0f} s with bulk_create: "
        + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in seeded.items())
        + ".",
        "",
        "## Pages and list endpoints",
        "",
        "Server time is what a gunicorn worker spent on the request (its access log's `%(D)s`), "
        f"over {s['repeat']} sequential requests after 2 warm-ups. The floor is "
        "`/bench/floor/` (signed in, base template, nothing else) for pages and `/api/v1/me/` "
        "for the API; the admin column is the Django admin's changelist of the same rows. "
        f"Queries are counted at {_small(r)} and at {seeded['requests']:,} requests.",
        "",
        f"Floor: median {r['pages']['floor']['median']:.1f} ms; "
        f"API floor: median {r['pages']['api_floor']['median']:.1f} ms.",
        "",
        "| page | as | median ms | p95 ms | × floor | × admin changelist | KiB "
        f"| queries ({_small(r)}) | queries ({seeded['requests']:,}) | within 3× and ≤ 12 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    small, large = r["queries"]["small"], r["queries"]["large"]
    for row in r["pages"]["rows"]:
        label = row["label"]
        good = (
            row["ratio_floor"] <= MAX_RATIO
            and large[label] <= MAX_QUERIES
            and small[label] == large[label]
        )
        lines.append(
            f"| `{label}` | {row['who']} | {row['median']:.1f} | {row['p95']:.1f} "
            f"| {row['ratio_floor']:.1f} | {row['ratio_admin']:.2f} | {row['bytes'] / 1024:.0f} "
            f"| {small[label]} | {large[label]} | {_ok(good)} |"
        )
    a, k, d = r["approvals"], r["rankings"], r["digests"]
    problems = r["budget_problems"]
    lines += [
        "",
        f"## Under load: {s['clients']} concurrent clients, gunicorn on loopback",
        "",
        "| operation | requests | seconds | per second | median ms | p99 ms | answers |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        _load_row("approvals (API, Head of Product)", a),
        _load_row("inbox ranking changes (API, one manager per client)", k),
        "",
        f"Approvals asked for {a['requested_points']:,} points with room for about three "
        "quarters of them: 200 is approved, 409 is refused with the shortfall. Target: "
        f"{MIN_APPROVALS} approvals per second: {_ok(a['per_second'] >= MIN_APPROVALS)}.",
        "",
        "Budget check after the run (every quarter: ledger sums equal the running balances, "
        "remaining >= 0, reserved points held by requests equal the budget's reserved): "
        + ("**all consistent**, nothing overspent." if not problems else "**FAILED**:"),
        *[f"- {p}" for p in problems],
        "",
        "## Meeting digests",
        "",
        f"Agenda built for each of {d['meetings']} meetings: median {d['build_median']:.1f} ms, "
        f"p95 {d['build_p95']:.1f} ms, max {d['build_max']:.1f} ms "
        f"(target under {MAX_AGENDA_MS} ms: {_ok(d['build_max'] < MAX_AGENDA_MS)}).",
        "",
        f"Digests built and sent for {d['meetings']} meetings (meetings.tasks.send_meeting_digest, "
        f"in-process, locmem mail): {d['send_seconds']:.1f} s, {d['per_meeting']:.0f} ms per "
        f"meeting, {d['emails']} emails, {d['deliveries_sent']} deliveries marked sent.",
        "",
        "## Memory",
        "",
        f"Peak resident memory (VmHWM) of the largest gunicorn worker through the run: "
        f"{r['peak_rss_mib']:.0f} MiB.",
        "",
    ]
    return "\n".join(lines)


def _small(r):
    from bench.measure import SMALL

    return f"{SMALL:,}"


def _load_row(label, x):
    answers = ", ".join(f"{n}× {code}" for code, n in sorted(x["statuses"].items()))
    return (
        f"| {label} | {x['count']} | {x['seconds']:.1f} | {x['per_second']:.0f} "
        f"| {x['median']:.0f} | {x['p99']:.0f} | {answers} |"
    )
