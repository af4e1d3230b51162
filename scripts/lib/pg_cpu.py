#!/usr/bin/env python3
"""CPU seconds so far of a Postgres server's processes, by role, as JSON.

    pg_cpu.py POSTMASTER_PID

Roles: the postmaster; its children by their process title ("connections
(statements)" for client backends, "walwriter", "checkpointer", ...); and
"exited children": the postmaster's cutime + cstime, where the CPU of children
that exited (autovacuum workers, closed connections) goes when they are reaped.
Subtract two readings to get an interval."""
import json
import os
import sys

root, tick, roles = sys.argv[1], os.sysconf("SC_CLK_TCK"), {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        title = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        continue
    if pid == root:
        roles["postmaster"] = (int(f[11]) + int(f[12])) / tick
        roles["exited children"] = (int(f[13]) + int(f[14])) / tick
    elif f[1] == root:
        # "postgres: walwriter", "postgres: authd authd 127.0.0.1(5432) idle", ...
        role = title.removeprefix("postgres: ")
        if "127.0.0.1" in role or "[local]" in role:
            role = "connections (statements)"
        else:
            role = role.split(" ")[0] + (" worker" if "worker" in role else "")
        roles[role] = roles.get(role, 0) + (int(f[11]) + int(f[12])) / tick
print(json.dumps(roles))
