#!/usr/bin/env python3
"""CPU time by process group over an interval, from /proc (no tools needed).

    cpu_share.py start SNAPSHOT     remember every process's CPU time now
    cpu_share.py stop SNAPSHOT      print JSON: CPU seconds and share of the
                                    machine's capacity, per group, since start
Groups: authd replicas, postgres, tansu, nginx, authd-load, everything else."""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def group(pid):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return None
    if comm == "postgres":
        return "postgres"
    if comm == "tansu":
        return "tansu (broker)"
    if comm == "nginx":
        return "nginx"
    if comm == "authd-load":
        return "authd-load (client)"
    if comm == "authd":
        return "authd replicas"
    return "other"


def busy_and_idle():
    """System-wide busy and idle CPU seconds so far (/proc/stat)."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK, idle / TICK


def snapshot():
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        g = group(pid)
        if g:
            cpu = int(fields[11]) + int(fields[12])
            if g == "postgres":
                # The postmaster's reaped children (autovacuum workers, closed
                # connections): their CPU moves to its cutime + cstime when they exit.
                cpu += int(fields[13]) + int(fields[14])
            procs[pid] = [g, cpu / TICK]
    busy, idle = busy_and_idle()
    return {"time": time.time(), "busy": busy, "idle": idle, "procs": procs}


def main():
    action, path = sys.argv[1], sys.argv[2]
    if action == "start":
        json.dump(snapshot(), open(path, "w"))
        return
    before, after = json.load(open(path)), snapshot()
    wall = after["time"] - before["time"]
    capacity = wall * len(os.sched_getaffinity(0))
    used = {}
    for pid, (g, cpu) in after["procs"].items():
        # processes started during the interval count from zero
        used[g] = used.get(g, 0.0) + cpu - before["procs"].get(pid, [g, 0.0])[1]
    for pid, (g, cpu) in before["procs"].items():
        if g == "postgres" and pid not in after["procs"]:
            # exited meanwhile: the postmaster's cutime now holds all of its CPU,
            # of which this much came before the interval
            used[g] -= cpu
    # Processes that ended before the second snapshot (the load client, say) are
    # not in it: what the machine was busy with beyond the groups is theirs.
    busy = after["busy"] - before["busy"]
    used["exited during the run (the load client)"] = max(busy - sum(used.values()), 0.0)
    groups = {g: {"cpu_s": round(s, 2), "share": round(s / capacity, 3)} for g, s in sorted(used.items(), key=lambda kv: -kv[1])}
    idle = after["idle"] - before["idle"]
    print(json.dumps({"wall_s": round(wall, 2), "capacity_cpu_s": round(capacity, 2), "groups": groups,
                      "idle": {"cpu_s": round(idle, 2), "share": round(idle / capacity, 3)}}, indent=1))


if __name__ == "__main__":
    main()
