#!/usr/bin/env python3
"""Writes BENCHMARKS.md (to stdout) and bench/chart.svg from the JSON results of
scripts/bench. Standard library only."""
import json
import math
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone

RESULTS, SCALE = sys.argv[1], int(sys.argv[2])
CHART = os.path.join(os.path.dirname(RESULTS.rstrip("/")), "chart.svg")


def load(name):
    path = os.path.join(RESULTS, name + ".json")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    with open(path) as f:
        return json.load(f)


def cmd(*argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:  # a missing tool is reported as such, not fatal
        return "not found"


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    debian = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
    return [
        f"CPUs available: {len(os.sched_getaffinity(0))} ({model})",
        f"memory: {int(mem) // 1024 // 1024} GiB; kernel {platform.release()}; Debian {debian}",
        f"{cmd('rustc', '--version')}; {cmd('postgres', '--version')}; {cmd('nginx', '-v')}",
        "broker: Tansu (" + cmd("tansu", "--version") + "), SQLite storage; all on loopback",
    ]


def ms(report, key, q):
    return report.get(key, {}).get(q)


def row(name, r):
    if r is None:
        return f"| {name} | not run | | | | | | | |"
    lat = r["latency_ms"]
    statuses = " ".join(f"{k}={v}" for k, v in sorted(r["statuses"].items()))
    errors = r["transport_errors_total"]
    lost = r["verify"]["lost"] if r.get("verify") else "–"
    return (f"| {name} | {r['requests']} | {r['elapsed_s']:.2f} | {r['requests_per_s']:.1f} | "
            f"{lat.get('p50', '–')} / {lat.get('p90', '–')} / {lat.get('p99', '–')} / "
            f"{lat.get('p99.9', '–')} / {lat.get('max', '–')} | {statuses} | {errors} | "
            f"{r.get('retries', 0)} | {lost} |")


def verdict(ok):
    return "met" if ok else "**missed**"


def limit_of(*names):
    """The limit around a run: the mean of the limits measured right before and
    right after it, as a limit result (hashes_per_s, ms per hash), with the two."""
    runs = [r for r in map(load, names) if r]
    if not runs:
        return None
    rates = [r["hashes_per_s"] for r in runs]
    mean = dict(runs[0])
    mean["hashes_per_s"] = sum(rates) / len(rates)
    mean["ms_per_hash_per_thread"] = sum(r["ms_per_hash_per_thread"] for r in runs) / len(runs)
    mean["rates"] = rates
    return mean


def judged(rate, limit):
    """(rate / mean limit, rate / highest limit, rate / lowest limit)."""
    return rate / limit["hashes_per_s"], rate / max(limit["rates"]), rate / min(limit["rates"])


def pg_ms(cpu, report):
    """Postgres CPU milliseconds per request of a run."""
    if not (cpu and report):
        return None
    return cpu["groups"].get("postgres", {}).get("cpu_s", 0.0) / report["requests"] * 1000


def main():
    cold_limit, warm_limit = limit_of("limit-a", "limit-b"), limit_of("limit-b", "limit-c")
    login_limit = limit_of("limit-d", "limit-e")
    limit = limit_of("limit-a", "limit-b", "limit-c", "limit-d", "limit-e")
    cold, warm = load("seed-cold"), load("seed-warm")
    s1, s2 = load("scale-1"), load("scale-2")
    over, retry = load("overload"), load("overload-retry")
    pipe = load("pipeline")
    login, refresh = load("login"), load("refresh")
    out = []
    w = out.append
    w("# authd benchmarks\n")
    # When the runs were made (scripts/bench records it), not when this report was written.
    when_path = os.path.join(RESULTS, "when.txt")
    when = (open(when_path).read().strip() if os.path.exists(when_path)
            else datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))
    w(f"Run with `scripts/bench{' --quick' if SCALE > 1 else ''}` on "
      f"{when}. Every number below comes "
      "from that one run, on the machine described here; ratios compare runs of the same suite.")
    if SCALE > 1:
        w(f"\n**Quick run: request counts divided by {SCALE}; not the full suite.**")
    w("\n## Machine\n")
    for line in machine():
        w(f"- {line}")
    w("\nTopology: `scripts/stack` (no Docker): nginx (`nginx/`), authd replicas, Postgres 15 and "
      "the broker on this one machine, events on (the outbox relay runs in every replica). The "
      "load generator `authd-load` runs on the same CPUs.")

    lim = limit["hashes_per_s"] if limit else float("nan")
    w("\n## Targets\n")
    w("| target | measured | verdict |\n| --- | --- | --- |")
    if cold and warm and cold_limit and warm_limit:
        f_cold, f_warm = judged(cold["requests_per_s"], cold_limit), judged(warm["requests_per_s"], warm_limit)
        clean = all(r["transport_errors_total"] == 0 and set(r["statuses"]) == {"201"} and r["verify"]["lost"] == 0 for r in (cold, warm))
        w(f"| seed run >= 0.85 of the argon2 limit measured around it, no errors, lost=0 | cold {f_cold[0]:.2f} "
          f"({f_cold[1]:.2f} to {f_cold[2]:.2f}) of {cold_limit['hashes_per_s']:.1f}/s, warm {f_warm[0]:.2f} "
          f"({f_warm[1]:.2f} to {f_warm[2]:.2f}) of {warm_limit['hashes_per_s']:.1f}/s; "
          f"errors and lost: {'none' if clean else 'see table'} | {verdict(min(f_cold[0], f_warm[0]) >= 0.85 and clean)} |")
        # The machine's speed drifts between the two runs: compare each against the
        # limit measured around it, and give the raw ratio beside it.
        ratio = f_cold[0] / f_warm[0]
        raw = cold["requests_per_s"] / warm["requests_per_s"]
        w(f"| cold/warm throughput >= 0.95, each as a share of the limit around it | {ratio:.3f} "
          f"(raw {cold['requests_per_s']:.1f}/s over {warm['requests_per_s']:.1f}/s = {raw:.3f}, while the limit "
          f"moved from {cold_limit['hashes_per_s']:.1f} to {warm_limit['hashes_per_s']:.1f}/s) | {verdict(ratio >= 0.95)} |")
    if s1 and s2:
        speedup = s2["requests_per_s"] / s1["requests_per_s"]
        w(f"| scale-out 1 -> 2 replicas (pinned) >= 1.8x | {speedup:.2f}x | {verdict(speedup >= 1.8)} |")
    if over:
        timeouts = over["transport_errors"].get("timeout", 0)
        p99 = ms(over, "latency_ms_2xx", "p99")
        w(f"| overload: no client timeout, p99 of accepted <= 2 s | timeouts {timeouts}, p99 accepted {p99} ms | "
          f"{verdict(timeouts == 0 and p99 is not None and p99 <= 2000)} |")
    if retry:
        ok = retry["statuses"].get("201") == retry["requests"] and retry["verify"]["lost"] == 0
        w(f"| overload with retrying client: every sign-up succeeds, lost=0 | "
          f"{retry['statuses'].get('201', 0)}/{retry['requests']} created, lost={retry['verify']['lost']} | {verdict(ok)} |")
    if pipe:
        w(f"| pipeline capacity: 10,000 sign-ups in <= 2 s (argon2 at minimum cost), lost=0 | {pipe['requests']} in "
          f"{pipe['elapsed_s']:.2f} s, lost={pipe['verify']['lost']} | "
          f"{verdict(pipe['elapsed_s'] * SCALE <= 2.0 and pipe['verify']['lost'] == 0)} |")
    for name, cpu_name, report in [("seed run, warm", "cpu-seed-warm", warm), ("pipeline", "cpu-pipeline", pipe)]:
        per = pg_ms(load(cpu_name), report)
        if per is not None:
            w(f"| Postgres CPU per sign-up <= 0.3 ms ({name}; server processes' CPU time over the run, /proc) | "
              f"{per:.3f} ms | {verdict(per <= 0.3)} |")

    w("\n## Scenarios\n")
    w("Latency in ms (p50 / p90 / p99 / p99.9 / max). `lost` is what `--verify` found missing "
      "(row or event), `–` where not verified.\n")
    w("| scenario | requests | elapsed s | req/s | latency ms | statuses | transport errors | retries | lost |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in [("2. seed run, cold (2 replicas, c=100)", cold), ("3. seed run, warm (again at once)", warm),
                    ("4a. scale-out: 1 replica, 1 CPU", s1), ("4b. scale-out: 2 replicas, 1 CPU each", s2),
                    ("5a. overload: c=1000, 5 s timeout", over), ("5b. overload: c=1000, retrying 503s", retry),
                    ("6. pipeline capacity (argon2 at minimum cost)", pipe),
                    ("7a. login: 1 replica, c=64", login), ("7b. refresh: 1 replica, c=64", refresh)]:
        w(row(name, r))
    if limit:
        w(f"\n1. **Limit**: argon2id m={limit['argon2']['m_kib']} KiB, t={limit['argon2']['t']}, p={limit['argon2']['p']}, "
          f"{limit['threads']} threads (one per CPU), authd's own hash routine with memory reused per thread, "
          f"the {limit.get('engine', 'reference')} engine ({limit.get('backend', 'portable')}), "
          f"5 s each, measured before and after each run it judges: "
          f"{', '.join(f'{r:.1f}' for r in limit['rates'])} hashes/s (before the cold seed run, after it, after the "
          f"warm one, before and after the logins); mean **{lim:.1f} hashes/s** "
          f"({limit['ms_per_hash_per_thread']:.1f} ms per hash per thread).")
    reference = load("limit-reference")
    if limit and reference:
        w(f"\n   The reference engine (RustCrypto's argon2), measured once beside it: "
          f"{reference['hashes_per_s']:.1f} hashes/s ({reference['ms_per_hash_per_thread']:.1f} ms per hash per "
          f"thread): the fast engine's limit is {lim / reference['hashes_per_s']:.2f} times it. Every ratio to "
          f"\"the limit\" here is to the fast engine's.")
    if over:
        w(f"\nOverload refusals: {over['statuses'].get('503', 0)} answered 503 with Retry-After; their latency "
          f"{' / '.join(str(over['latency_ms_503'].get(q, '–')) for q in ('p50', 'p99', 'max'))} ms (p50 / p99 / max).")
    cpu = load("cpu-seed-warm")
    if cpu:
        w(f"\nWhere the CPU went during the warm seed run ({cpu['wall_s']} s x {len(os.sched_getaffinity(0))} CPUs "
          f"= {cpu['capacity_cpu_s']} CPU-s, from /proc by `scripts/lib/cpu_share.py`):\n")
        w("| process group | CPU-s | share of the machine |\n| --- | --- | --- |")
        for g, v in list(cpu["groups"].items()) + [("idle", cpu["idle"])]:
            w(f"| {g} | {v['cpu_s']} | {v['share'] * 100:.1f}% |")
    cpu_pipe = load("cpu-pipeline")
    if pipe and cpu_pipe:
        cpus = len(os.sched_getaffinity(0))
        per = {g: v["cpu_s"] / pipe["requests"] * 1000 for g, v in cpu_pipe["groups"].items()}
        spent = sum(per.values())
        w(f"\nWhere the CPU went during the pipeline run (6.; {cpu_pipe['wall_s']} s x {cpus} CPUs), in CPU-ms per "
          f"sign-up: " + ", ".join(f"{g} {v:.3f}" for g, v in per.items()) +
          f"; idle {cpu_pipe['idle']['cpu_s'] / pipe['requests'] * 1000:.3f}. 10,000 sign-ups in 2 s on {cpus} CPUs "
          f"leave {cpus * 2 * 1000 / 10000:.2f} CPU-ms per sign-up for every process together; they spent "
          f"{spent:.2f}.")
    analysis(w, warm_limit, warm, cpu, s1, s2)
    if login and refresh and login_limit:
        f_login = judged(login["requests_per_s"], login_limit)
        w(f"\n7. **Login and refresh** through nginx and one replica (2 hashing threads), 64 clients: "
          f"**{login['requests_per_s']:.1f} logins/s** ({f_login[0]:.2f}, {f_login[1]:.2f} to {f_login[2]:.2f}, of the "
          f"argon2 limit measured around it, {login_limit['hashes_per_s']:.1f}/s; each "
          f"login is one verification) and **{refresh['requests_per_s']:.0f} refreshes/s** (no hash: one "
          f"statement that spends the old token, touches the session at most once a minute and stores the "
          f"new token, plus an Ed25519 signature).")
    w("\nThe seed service for comparison (../shared/CONTEXT.md): 10,000 sign-ups in 110 s cold, 49 s warm, 24 s with "
      "JDBC batching, on 4+ CPUs and with plain-text passwords.")

    scale_model(w, warm, load("cpu-seed-warm"), login, load("cpu-login"), refresh, load("cpu-refresh"))
    other = os.path.join(os.path.dirname(RESULTS.rstrip("/")), "other-measurements.md")
    if os.path.exists(other):
        w("\n" + open(other).read().rstrip())
    w("\n## Chart\n\n![throughput over time and latency distribution](bench/chart.svg)")
    w("\n## Commands\n\nExactly what `scripts/bench` ran, in order (PORT: a free port):\n\n```")
    w(open(os.path.join(RESULTS, "commands.txt")).read().rstrip())
    w("```")
    print("\n".join(out))
    chart({"seed cold": cold, "seed warm": warm, "overload, retrying": retry, "pipeline": pipe, "login": login},
          {"seed cold": cold, "seed warm": warm, "overload 2xx": over and {"latency_ms": over["latency_ms_2xx"]},
           "overload 503": over and {"latency_ms": over["latency_ms_503"]}, "pipeline": pipe, "login": login})


def analysis(w, limit, warm, cpu, s1, s2):
    """What limits the runs, in this run's own numbers."""
    if not (limit and warm and cpu):
        return
    groups = cpu["groups"]
    share = {g: v["share"] for g, v in groups.items()}
    others = sum(v for g, v in share.items() if g != "authd replicas")
    lim = limit["hashes_per_s"]
    bound = (1 - others) * lim
    hash_cpu = warm["requests"] * limit["ms_per_hash_per_thread"] / 1000
    authd_cpu = groups.get("authd replicas", {}).get("cpu_s", 0)
    w("\n## What limits the seed run\n")
    w(f"- The limit ({lim:.1f} hashes/s) is argon2id with nothing else running. In the seed run the "
      f"same {len(os.sched_getaffinity(0))} CPUs also ran Postgres, the broker, nginx and the load client: "
      f"{others * 100:.1f}% of the machine (idle included), in the table above.")
    w(f"- So even if every other cycle went to argon2, the seed run could reach at most "
      f"{1 - others:.2f} of the limit = {bound:.1f}/s. It reached {warm['requests_per_s']:.1f}/s: "
      f"{warm['requests_per_s'] / bound:.2f} of that bound.")
    w(f"- Inside the replicas: {warm['requests']} hashes at the limit's {limit['ms_per_hash_per_thread']:.1f} ms "
      f"would be {hash_cpu:.0f} CPU-s; the replicas used {authd_cpu:.0f} CPU-s. The difference "
      f"({authd_cpu - hash_cpu:.0f} CPU-s, {(authd_cpu - hash_cpu) / warm['requests'] * 1000:.1f} ms per sign-up) "
      "is authd's work around the hash (HTTP, JSON, two database round trips, logs, the relay) plus argon2 "
      "running slower while it shares caches and memory bandwidth with the other processes.")
    w("- The target assumes the hash owns the CPUs. On this machine everything runs on the same two "
      "CPUs; with the database, broker and client elsewhere (as in production) the bound above rises toward 1.")
    if s1 and s2:
        w(f"- Scale-out: pinning gives each replica its own CPU, but Postgres, the broker, nginx and the client "
          f"are not pinned and run on both. With one replica they mostly use the CPU it leaves free; with two "
          f"they take their share from both replicas, so 2 replicas reach {s2['requests_per_s'] / s1['requests_per_s']:.2f}x, not 2x.")


def scale_model(w, warm, cpu_warm, login, cpu_login, refresh, cpu_refresh):
    """Per-operation CPU costs from this run, and what they predict."""
    ops = [(n, r, c) for n, r, c in [("sign-up (seed run, warm)", warm, cpu_warm),
                                       ("login (7a)", login, cpu_login),
                                       ("refresh (7b)", refresh, cpu_refresh)] if r and c]
    if not ops:
        return
    w("\n## Scale model\n")
    w("CPU milliseconds per operation, by process, from the runs above (`scripts/lib/cpu_share.py`: each "
      "group's CPU time over the run divided by the requests). authd includes its relay; the load client is "
      "left out. From these: how many requests per second one CPU of each does, and how many replica CPUs one "
      "Postgres CPU can feed.\n")
    w("| operation | authd ms | Postgres ms | broker ms | nginx ms | per replica CPU /s | per Postgres CPU /s "
      "| replica CPUs per Postgres CPU |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r, c in ops:
        g = c["groups"]
        per = {k: g.get(k, {}).get("cpu_s", 0.0) / r["requests"] * 1000
               for k in ("authd replicas", "postgres", "tansu (broker)", "nginx")}
        a, p = per["authd replicas"], per["postgres"]
        w(f"| {name} | {a:.3f} | {p:.3f} | {per['tansu (broker)']:.3f} | {per['nginx']:.3f} | "
          f"{1000 / a:.0f} | {1000 / p if p else float('inf'):.0f} | {a / p if p else float('inf'):.1f} |")
    if warm and cpu_warm:
        g = cpu_warm["groups"]
        total = sum(v["cpu_s"] for k, v in g.items() if not k.startswith("exited")) / warm["requests"] * 1000
        cpus = len(os.sched_getaffinity(0))
        w(f"\nCheck against the warm seed run (2 replicas, everything on {cpus} CPUs): its processes spent "
          f"{total:.2f} CPU-ms per sign-up, so {cpus} CPUs allow {cpus * 1000 / total:.1f} sign-ups/s "
          f"(the load client's share aside); it ran {warm['requests_per_s']:.1f}/s. With Postgres on CPUs of "
          "its own, the sign-up rate grows with replica CPUs until the Postgres column's rate per Postgres "
          "CPU; before that, connections (each replica holds up to AUTHD_DB_POOL_SIZE) and the WAL's commit "
          "rate (one commit per sign-up, group-committed) are the next limits to watch, then the broker.")
    if login and cpu_login and refresh and cpu_refresh:
        ten_million(w, *(c["groups"] for c in (cpu_login, cpu_refresh)), login, refresh)


def ten_million(w, login_groups, refresh_groups, login, refresh):
    """What 10 million active users need, from the login and refresh rows above."""
    users, access_ttl_s, refresh_ttl_days = 10_000_000, 900, 30
    refreshes = users / access_ttl_s          # every signed-in client, every 15 minutes
    logins = users / 86_400                   # one login per user per day
    def ms(groups, run, key):
        return groups.get(key, {}).get("cpu_s", 0.0) / run["requests"] * 1000
    replica = (refreshes * ms(refresh_groups, refresh, "authd replicas")
               + logins * ms(login_groups, login, "authd replicas")) / 1000
    pg = (refreshes * ms(refresh_groups, refresh, "postgres") + logins * ms(login_groups, login, "postgres")) / 1000
    spent = refreshes * 86_400 * refresh_ttl_days
    w(f"\n**10 million active users**, from the login and refresh rows above (this machine's CPUs, the "
      f"defaults: access tokens of {access_ttl_s // 60} minutes, refresh tokens of {refresh_ttl_days} days). "
      f"Each signed-in client refreshes every {access_ttl_s // 60} minutes: {refreshes:,.0f} refreshes/s; "
      f"say one login per user per day: {logins:,.0f} logins/s (real argon2; sign-ups are fewer). That is "
      f"{replica:.1f} replica CPUs and {pg:.1f} Postgres CPUs of work; at 60% utilisation, to absorb peaks "
      f"and a replica's loss, about {replica / 0.6:.0f} replica CPUs (for example {-(-replica / 0.6 // 4):.0f} "
      f"replicas of 4 CPUs) and a Postgres of {-(-pg / 0.6 // 1):.0f} CPUs: the refresh, not the hash, sizes "
      "both. Connections: one pool per replica (AUTHD_DB_POOL_SIZE, 10) makes "
      f"{10 * -(-replica / 0.6 // 4):.0f} connections; the sixth session's pool measurement says a few per "
      "Postgres CPU are enough, so lower the pool or put PgBouncer (transaction mode) in front. Storage: a "
      "spent refresh token stays until its own expiry so that its reuse is caught, so the table holds "
      f"{spent / 1e9:,.1f} billion rows (about 220 bytes each with its two indexes, measured by bench-pg-cost) after {refresh_ttl_days} "
      "days; a shorter refresh lifetime (AUTHD_REFRESH_TOKEN_TTL_SECS) shrinks it in proportion, and "
      "keeping one row per session instead of one per rotation is the next design step.")


COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]


def chart(series, latencies):
    wd, ht, pad = 900, 300, 60
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{wd}" height="{2 * ht + 40}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>']
    # panel 1: created per second over time
    lines = {k: v["created_per_second"] for k, v in series.items() if v and v.get("created_per_second")}
    tmax = max((len(v) for v in lines.values()), default=1)
    ymax = max((max(v) for v in lines.values() if v), default=1)
    svg.append(f'<text x="{pad}" y="20" font-size="14">Sign-ups completed per second over time</text>')
    x0, y0, x1, y1 = pad, 30, wd - 180, ht - 30
    svg.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#999"/>')
    for i, (name, v) in enumerate(lines.items()):
        pts = " ".join(f"{x0 + (x1 - x0) * t / max(tmax - 1, 1):.1f},{y1 - (y1 - y0) * c / ymax:.1f}" for t, c in enumerate(v))
        svg.append(f'<polyline fill="none" stroke="{COLORS[i % 5]}" stroke-width="2" points="{pts}"/>')
        svg.append(f'<text x="{x1 + 10}" y="{y0 + 15 + 16 * i}" fill="{COLORS[i % 5]}">{name}</text>')
    svg.append(f'<text x="{x0 - 5}" y="{y0 + 10}" text-anchor="end">{ymax}/s</text><text x="{x0 - 5}" y="{y1}" text-anchor="end">0</text>')
    svg.append(f'<text x="{x1}" y="{y1 + 15}" text-anchor="end">{tmax} s</text><text x="{x0}" y="{y1 + 15}">0 s</text>')
    # panel 2: latency percentiles, log scale
    qs = ["p50", "p90", "p99", "p99.9", "max"]
    top = ht + 20
    svg.append(f'<text x="{pad}" y="{top}" font-size="14">Latency distribution (ms, log scale)</text>')
    x0, y0, x1, y1 = pad, top + 10, wd - 180, 2 * ht
    svg.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#999"/>')
    vals = [r["latency_ms"][q] for r in latencies.values() if r for q in qs if q in r["latency_ms"]]
    lo, hi = math.log10(max(min(vals, default=1), 0.1)), math.log10(max(vals, default=10))
    hi = max(hi, lo + 1)
    def y(v):
        return y1 - (y1 - y0) * (math.log10(max(v, 0.1)) - lo) / (hi - lo)
    for j, q in enumerate(qs):
        x = x0 + (x1 - x0) * (j + 0.5) / len(qs)
        svg.append(f'<text x="{x:.0f}" y="{y1 + 15}" text-anchor="middle">{q}</text>')
    for i, (name, r) in enumerate((k, v) for k, v in latencies.items() if v):
        pts = [(x0 + (x1 - x0) * (j + 0.5) / len(qs), y(r["latency_ms"][q])) for j, q in enumerate(qs) if q in r["latency_ms"]]
        svg.append(f'<polyline fill="none" stroke="{COLORS[i % 5]}" stroke-width="2" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
        svg.append(f'<text x="{x1 + 10}" y="{y0 + 15 + 16 * i}" fill="{COLORS[i % 5]}">{name}</text>')
    svg.append(f'<text x="{x0 - 5}" y="{y0 + 10}" text-anchor="end">{10 ** hi:.0f}</text><text x="{x0 - 5}" y="{y1}" text-anchor="end">{10 ** lo:.1f}</text>')
    svg.append("</svg>")
    with open(CHART, "w") as f:
        f.write("\n".join(svg))


if __name__ == "__main__":
    main()
