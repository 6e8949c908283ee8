#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
"""Turn the "@..." lines of a `make bench` run (tools/bench/plan.sh) into
the terminal table, build/bench/bench.json (every figure) and
build/bench/latency.png (gnuplot). Computes the ratios issue 4 targets and
prints them as numbers, next to the target: nothing is asserted."""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

RUNTIMES = [("kmod", "libgmp, kmod mode"), ("perf", "libgmp, perf mode"),
            ("sysmon", "libgmp, sysmon mode"), ("go", "Go {gover}, sysmon")]
MODES = [("kmod", "kmod mode"), ("perf", "perf mode"), ("sysmon", "sysmon mode (no hook)")]
FLOORS = [("wl-kmod-none", "raw floor: gmp.ko wake, unpinned"),
          ("wl-kmod-same", "  ... activation on M's CPU"),
          ("wl-kmod-other", "  ... activation on the other CPU"),
          ("wl-perf-none", "perf watcher wake, unpinned"),
          ("wl-perf-same", "  ... watcher on M's CPU"),
          ("wl-perf-other", "  ... watcher on the other CPU")]
SCEN = [("0", "back_to_back", "back-to-back"), ("20", "after_20ms", "after 20 ms computing")]
TARGETS = {
    "kmod_p50_vs_go_p50_b2b": 0.1,
    "kmod_p50_vs_raw_floor_p50_b2b": 2.0,
    "kmod_p99_vs_go_p99_after_20ms": 0.01,
    "throughput_vs_ideal_kmod": 1.15,
    "armed_getppid_overhead": 0.03,
}


def parse(path):
    r = {"env": {}, "na": {}, "fail": {}, "lat": {}, "cdf": {}, "tp": {},
         "reg": [], "regmed": {}, "reg_na": None, "wl_json": [], "notes": [],
         "sections": {}, "steps": 0, "hstat": {}, "csw": [], "cswmed": {}, "csw_na": {},
         "ovh": {}}
    try:
        text = open(path, errors="replace").read()
    except OSError:
        text = ""
    for line in text.splitlines():
        line = line.rstrip("\r")
        if line.startswith("### END "):
            name, _, rc = line[8:].rpartition(" rc=")
            r["sections"][name] = rc
            continue
        if not line.startswith("@"):
            continue
        tag, _, rest = line.partition(" ")
        if tag == "@env":
            for kv in rest.split():
                k, _, v = kv.partition("=")
                r["env"][k] = v
        elif tag in ("@na", "@fail"):
            key, _, why = rest.partition(" ")
            r["na" if tag == "@na" else "fail"][key] = why
        elif tag == "@lat":
            f = rest.split()
            r["lat"][f[0]] = {k: float(v) for k, v in (x.split("=") for x in f[1:])}
        elif tag == "@cdf":
            f = rest.split()
            pts = []
            for x in f[1:]:
                q, _, v = x.partition(":")
                pts.append([float(q), float(v)])
            r["cdf"][f[0]] = pts
        elif tag == "@tp":
            f = rest.split()
            if len(f) >= 4:
                try:
                    r["tp"].setdefault(f[0], {}).setdefault(int(f[1]), {})[f[2]] = float(f[3])
                except ValueError:
                    pass
        elif tag == "@reg":
            f = rest.split()
            d = {"state": f[0]}
            d.update({k: float(v) for k, v in (x.split("=") for x in f[1:])})
            r["reg"].append(d)
        elif tag == "@regmed":
            f = rest.split()
            r["regmed"][f[0]] = {k: float(v) for k, v in (x.split("=") for x in f[1:])}
        elif tag == "@reg-na":
            if rest.startswith("perf "):
                r["reg_perf_na"] = rest[5:]
            else:
                r["reg_na"] = rest
        elif tag == "@csw":
            f = rest.split()
            d = {"state": f[0]}
            d.update({k: float(v) for k, v in (x.split("=") for x in f[1:])})
            r["csw"].append(d)
        elif tag == "@cswmed":
            f = rest.split()
            r["cswmed"][f[0]] = {k: float(v) for k, v in (x.split("=") for x in f[1:])}
        elif tag == "@csw-na":
            st, _, why = rest.partition(" ")
            r["csw_na"][st] = why
        elif tag == "@ovh":
            f = rest.split()
            if len(f) >= 4:
                try:
                    r["ovh"].setdefault(f[0], {}).setdefault(f[2], []).append(float(f[3]))
                except ValueError:
                    pass
        elif tag == "@wl-json":
            r["wl_json"].append(rest)
        elif tag == "@hstat":
            f = rest.split()
            d = {}
            for x in f[1:]:
                k, _, v = x.partition("=")
                try:
                    d[k] = int(v)
                except ValueError:
                    d[k] = v
            # lat-RT-MS (one per round), tp-RT-REP or ovh-RT-WHAT-REP: summed
            # per RT and scenario
            parts = f[0].split("-")
            key = "-".join(parts[:3]) if parts[0] in ("lat", "ovh") else "-".join(parts[:2])
            agg = r["hstat"].setdefault(key, {"runs": 0})
            agg["runs"] += 1
            for k, v in d.items():
                if isinstance(v, int) and k not in ("transparent", "activations"):
                    agg[k] = agg.get(k, 0) + v
                else:
                    agg[k] = v
        elif tag == "@note":
            r["notes"].append(rest)
        elif tag == "@step":
            r["steps"] += 1
    return r


def us(ns):
    return None if ns is None else ns / 1000.0


def fmt_us(v):
    if v is None:
        return "-"
    if v >= 10000:
        return "%.0f" % v
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v


def pct(v):
    """A percentage for a table cell, '-' if missing."""
    return "-" if v is None else "%.1f" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def go_version():
    try:
        out = subprocess.run(["go", "version"], capture_output=True, text=True, timeout=20).stdout
        v = out.split()[2]
        return v[2:] if v.startswith("go") else v
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def git_rev(top):
    try:
        rev = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--where", default="vm")
    ap.add_argument("--kernel", default="?")
    ap.add_argument("--accel", default="?")
    ap.add_argument("--t-start", type=int, default=0)
    ap.add_argument("--t-built", type=int, default=0)
    ap.add_argument("--t-ran", type=int, default=0)
    ap.add_argument("--vm-rc", type=int, default=0)
    ap.add_argument("--vm-log", default="")
    a = ap.parse_args()
    top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    r = parse(a.results)
    gover = go_version()
    conf = {}
    try:
        for line in open(os.path.join(a.out, a.where + "-files", "bench.conf")):
            k, _, v = line.strip().partition("=")
            conf[k] = v.strip('"')
    except OSError:
        pass
    now = int(datetime.datetime.now().timestamp())
    wall = now - a.t_start if a.t_start else None

    kmod_na = r["na"].get("kmod")
    perf_na = r["na"].get("perf")
    mode_na = {"kmod": kmod_na, "perf": perf_na}

    # wakelat's own JSON (its k2u figures, counters, module stats)
    wakelat = None
    if r["wl_json"]:
        try:
            wakelat = json.loads("\n".join(r["wl_json"]))
        except ValueError:
            wakelat = {"unparsed": r["wl_json"]}

    # ---------------------------------------------------------------- latency
    def lat_entry(key, kind):
        """status/reason and figures (us) of one latency series."""
        e = {"key": key}
        if key in r["lat"] and r["lat"][key].get("n", 0) > 0:
            L = r["lat"][key]
            e.update({"status": "ok", "n": int(L["n"])})
            for k in ("min", "p50", "p90", "p99", "p999", "max", "mean"):
                e[k + "_us"] = us(L.get(k))
            e["cdf_us"] = [[q, us(v)] for q, v in r["cdf"].get(key, [])]
            if "lat-" + key in r["hstat"]:
                e["libgmp_handoff_stats"] = r["hstat"]["lat-" + key]
            return e
        rt = key.split("-")[0]
        fk = "lat-" + key
        if kind == "runtime" and mode_na.get(rt):
            e.update({"status": "n/a", "reason": mode_na[rt]})
        elif fk in r["fail"]:
            e.update({"status": "failed", "reason": r["fail"][fk]})
        elif kind == "floor" and wl_reason(key):
            e.update(wl_reason(key))
        elif kind == "floor" and "wakelat" in r["na"]:
            e.update({"status": "n/a", "reason": r["na"]["wakelat"]})
        elif kind == "floor" and "wakelat" in r["fail"]:
            e.update({"status": "failed", "reason": "wakelat " + r["fail"]["wakelat"]})
        else:
            e.update({"status": "n/a", "reason": "no samples"})
        return e

    def wl_reason(key):
        """A wakelat run's own skip or failure reason, from its JSON."""
        _, mode, place = key.split("-")
        for run in (wakelat or {}).get("runs", []):
            if run.get("mode") == mode and run.get("placement") == place and \
                    run.get("status") in ("skipped", "failed"):
                return {"status": "n/a" if run["status"] == "skipped" else "failed",
                        "reason": "wakelat: " + run.get("reason", "")}
        return None

    latency = {}
    for sc, skey, _ in SCEN:
        latency[skey] = {}
        for rt, _ in RUNTIMES:
            latency[skey][rt] = lat_entry(rt + "-" + sc, "runtime")
        if sc == "0":
            for fk, _ in FLOORS:
                latency[skey][fk[3:]] = lat_entry(fk, "floor")
        else:
            latency[skey]["raw_floor"] = {
                "status": "n/a",
                "reason": "wakelat measures back-to-back blocks only"}


    # ---------------------------------------------------------------- throughput
    throughput = {}
    for rt, _ in RUNTIMES:
        reps = r["tp"].get(rt, {})
        e = {}
        if reps:
            runs = [dict(v, rep=k) for k, v in sorted(reps.items())]
            e["status"] = "ok"
            e["runs"] = runs
            for k in ("throughput_ratio", "throughput_total_ms", "throughput_ideal_ms",
                      "throughput_work_ms", "throughput_reads", "throughput_fsyncs",
                      "throughput_noblock_ms", "throughput_vs_noblock",
                      "throughput_cpu_user_pct", "throughput_cpu_sys_pct",
                      "throughput_cpu_idle_pct"):
                vals = [x[k] for x in runs if k in x]
                if vals:
                    e["median_" + k[len("throughput_"):]] = statistics.median(vals)
            if "tp-" + rt in r["hstat"]:
                e["libgmp_handoff_stats"] = r["hstat"]["tp-" + rt]
            rv = [x["throughput_ratio"] for x in runs if "throughput_ratio" in x]
            if rv:
                e["min_ratio"], e["max_ratio"] = min(rv), max(rv)
        elif mode_na.get(rt):
            e = {"status": "n/a", "reason": mode_na[rt]}
        elif "tp-" + rt in r["fail"]:
            e = {"status": "failed", "reason": r["fail"]["tp-" + rt]}
        else:
            e = {"status": "n/a", "reason": "no runs"}
        throughput[rt] = e

    # ---------------------------------------------------------------- registered
    reg = {}
    if r["regmed"]:
        reg["status"] = "ok"
        reg["median_ns_per_call"] = {k: v["ns_per_call"] for k, v in r["regmed"].items()}
        anyv = next(iter(r["regmed"].values()))
        reg["calls_per_round"] = int(anyv.get("calls", 0))
        reg["rounds"] = int(anyv.get("rounds", 0))
        reg["rounds_ns_per_call"] = r["reg"]
        m = reg["median_ns_per_call"]
        if m.get("none"):
            reg["overhead_registered"] = m.get("registered", 0) / m["none"] - 1
            reg["overhead_armed"] = m.get("armed", 0) / m["none"] - 1
        # paired per round (same round, adjacent loops): the median of the ratios
        byr = {}
        for x in r["reg"]:
            byr.setdefault(int(x["round"]), {})[x["state"]] = x["ns_per_call"]
        # low percentiles per state: host noise only ever adds time
        lows = {}
        for st in ("none", "registered", "armed", "perf"):
            v = sorted(x["ns_per_call"] for x in r["reg"] if x["state"] == st)
            if v:
                lows[st] = {"min": v[0], "p10": v[len(v) // 10]}
        reg["low_ns_per_call"] = lows
        if "none" in lows and "armed" in lows:
            reg["overhead_armed_p10"] = lows["armed"]["p10"] / lows["none"]["p10"] - 1
            reg["overhead_registered_p10"] = lows["registered"]["p10"] / lows["none"]["p10"] - 1
        if "none" in lows and "perf" in lows:
            reg["overhead_perf_p10"] = lows["perf"]["p10"] / lows["none"]["p10"] - 1
        for st in ("registered", "armed"):
            pr = sorted(v[st] / v["none"] - 1 for v in byr.values() if st in v and v.get("none"))
            if pr:
                reg["overhead_%s_paired" % st] = {
                    "median": statistics.median(pr), "q1": pr[len(pr) // 4],
                    "q3": pr[(3 * len(pr)) // 4], "min": pr[0], "max": pr[-1]}
    else:
        reg = {"status": "n/a", "reason": r["reg_na"] or "regcost did not run"}
    if reg.get("status") == "ok":
        pr = sorted(v["perf"] / v["none"] - 1 for v in byr.values() if "perf" in v and v.get("none"))
        if pr:
            reg["overhead_perf_paired"] = {
                "median": statistics.median(pr), "q1": pr[len(pr) // 4],
                "q3": pr[(3 * len(pr)) // 4], "min": pr[0], "max": pr[-1]}
        elif r.get("reg_perf_na"):
            reg["perf_na"] = r["reg_perf_na"]

    # ------------------------------------------------- cost per context switch
    csw = {"median_ns_per_switch": {k: v["ns_per_switch"] for k, v in r["cswmed"].items()},
           "unavailable": r["csw_na"], "rounds_ns_per_switch": r["csw"]}
    if r["cswmed"]:
        csw["status"] = "ok"
        byr = {}
        for x in r["csw"]:
            byr.setdefault(int(x["round"]), {})[x["state"]] = x["ns_per_switch"]
        for st in ("kmod", "perf"):
            pr = sorted(v[st] / v["none"] - 1 for v in byr.values() if st in v and v.get("none"))
            if pr:
                csw["overhead_%s_paired" % st] = {
                    "median": statistics.median(pr), "q1": pr[len(pr) // 4],
                    "q3": pr[(3 * len(pr)) // 4]}
                # the extra time per switch, from the paired ratios and the median
                csw["extra_ns_%s" % st] = statistics.median(pr) * csw["median_ns_per_switch"]["none"]
    else:
        csw["status"] = "n/a"
        csw["reason"] = "; ".join("%s: %s" % kv for kv in r["csw_na"].items()) or "regcost -c did not run"

    # --------------------------------------------- the mode's cost inside libgmp
    ovh = {}
    for rt, _ in MODES:
        d = r["ovh"].get(rt)
        if d:
            e = {"status": "ok"}
            for k, v in d.items():
                e["median_" + k] = statistics.median(v)
                e["runs_" + k] = v
            for w in ("csw", "syscall"):
                if "ovh-%s-%s" % (rt, w) in r["hstat"]:
                    e["libgmp_handoff_stats_" + w] = r["hstat"]["ovh-%s-%s" % (rt, w)]
        elif mode_na.get(rt):
            e = {"status": "n/a", "reason": mode_na[rt]}
        elif "ovh-" + rt in r["fail"]:
            e = {"status": "failed", "reason": r["fail"]["ovh-" + rt]}
        else:
            e = {"status": "n/a", "reason": "no runs"}
        ovh[rt] = e

    # ---------------------------------------------------------------- ratios
    def fig(sk, rt, k):
        e = latency[sk].get(rt, {})
        return e.get(k) if e.get("status") == "ok" else None

    ratios = {
        "kmod_p50_vs_go_p50_b2b": ratio(fig("back_to_back", "kmod", "p50_us"),
                                        fig("back_to_back", "go", "p50_us")),
        "kmod_p50_vs_raw_floor_p50_b2b": ratio(fig("back_to_back", "kmod", "p50_us"),
                                               fig("back_to_back", "kmod-none", "p50_us")),
        "kmod_p50_vs_raw_floor_same_cpu_p50_b2b": ratio(fig("back_to_back", "kmod", "p50_us"),
                                                        fig("back_to_back", "kmod-same", "p50_us")),
        "kmod_p99_vs_go_p99_after_20ms": ratio(fig("after_20ms", "kmod", "p99_us"),
                                               fig("after_20ms", "go", "p99_us")),
        "sysmon_p50_vs_go_p50_b2b": ratio(fig("back_to_back", "sysmon", "p50_us"),
                                          fig("back_to_back", "go", "p50_us")),
        "sysmon_p99_vs_go_p99_after_20ms": ratio(fig("after_20ms", "sysmon", "p99_us"),
                                                 fig("after_20ms", "go", "p99_us")),
        "raw_floor_p50_vs_perf_watcher_p50": ratio(fig("back_to_back", "kmod-none", "p50_us"),
                                                   fig("back_to_back", "perf-none", "p50_us")),
        # The module's floor against the perf watcher, placement by placement.
        **{"raw_floor_%s_vs_perf_watcher_%s_%s" % (pl, pl, q):
           ratio(fig("back_to_back", "kmod-" + pl, q + "_us"),
                 fig("back_to_back", "perf-" + pl, q + "_us"))
           for pl in ("same", "other", "none") for q in ("p50", "p99")},
        "throughput_vs_ideal_kmod": throughput["kmod"].get("median_ratio"),
        "throughput_vs_ideal_sysmon": throughput["sysmon"].get("median_ratio"),
        "throughput_vs_ideal_go": throughput["go"].get("median_ratio"),
        "armed_getppid_overhead": reg.get("overhead_armed_paired", {}).get("median"),
        "registered_getppid_overhead": reg.get("overhead_registered_paired", {}).get("median"),
        "throughput_vs_noblock_kmod": throughput["kmod"].get("median_vs_noblock"),
        "throughput_vs_noblock_sysmon": throughput["sysmon"].get("median_vs_noblock"),
        "throughput_vs_noblock_go": throughput["go"].get("median_vs_noblock"),
        "perf_p50_vs_kmod_p50_b2b": ratio(fig("back_to_back", "perf", "p50_us"),
                                          fig("back_to_back", "kmod", "p50_us")),
        "perf_p99_vs_kmod_p99_after_20ms": ratio(fig("after_20ms", "perf", "p99_us"),
                                                 fig("after_20ms", "kmod", "p99_us")),
        "throughput_vs_ideal_perf": throughput["perf"].get("median_ratio"),
        "csw_overhead_kmod": csw.get("overhead_kmod_paired", {}).get("median"),
        "csw_overhead_perf": csw.get("overhead_perf_paired", {}).get("median"),
        "perf_getppid_overhead": reg.get("overhead_perf_paired", {}).get("median"),
    }

    doc = {
        "tool": "gmp make bench (tools/bench/vm-bench.sh)",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git_rev(top),
        "where": a.where,
        "kernel": r["env"].get("kernel", a.kernel),
        "accel": a.accel,
        "cpus": int(r["env"]["cpus"]) if r["env"].get("cpus", "").isdigit() else None,
        "host": {"machine": platform.machine(), "host_cpus": os.cpu_count(),
                 "host_kernel": platform.release()},
        "go_version": gover,
        "env": r["env"],
        "params": {
            "handoff_samples_back_to_back": int(conf.get("N_B2B", 0) or 0),
            "handoff_samples_after_20ms": int(conf.get("N_20MS", 0) or 0),
            "handoff_rounds": int(conf.get("ROUNDS", 0) or 0),
            "handoff_warmup_blocks": {"back_to_back": 100, "after_20ms": 5},
            "wakelat_blocks_per_run": int(conf.get("WL_N", 0) or 0),
            "throughput_work_ms": int(conf.get("TP_WORK_MS", 0) or 0),
            "throughput_runs": int(conf.get("TP_REPS", 0) or 0),
            "throughput_goroutines": dict(zip(
                ("computing", "pipe_readers", "fsync_loops", "release_period_us"),
                (int(x) for x in conf.get("TP_ARGS", "0 0 0 0").split()))),
            "throughput_procs": 2,
            "getppid_calls_per_round": int(conf.get("REG_CALLS", 0) or 0),
            "getppid_rounds": int(conf.get("REG_ROUNDS", 0) or 0),
            "csw_roundtrips_per_round": int(conf.get("CSW_CALLS", 0) or 0),
            "csw_rounds": int(conf.get("CSW_ROUNDS", 0) or 0),
            "mode_cost_roundtrips": int(conf.get("OVH_CSW_N", 0) or 0),
            "mode_cost_syscalls": int(conf.get("OVH_SYS_N", 0) or 0),
            "mode_cost_runs": int(conf.get("OVH_REPS", 0) or 0),
            "percentiles": "nearest rank (tools/bench/benchstat.c)",
        },
        "latency_us": latency,
        "throughput": throughput,
        "registered_getppid": reg,
        "context_switch_raw": csw,
        "mode_cost_in_libgmp": ovh,
        "ratios": ratios,
        "targets": TARGETS,
        "wakelat": wakelat,
        "notes": r["notes"],
        "failures": r["fail"],
        "unavailable": r["na"],
        "run_exit": a.vm_rc,
        "sections": r["sections"],
        "wall_s": {"total": wall,
                   "build": (a.t_built - a.t_start) if a.t_built and a.t_start else None,
                   "run": (a.t_ran - a.t_built) if a.t_ran and a.t_built else None},
    }
    os.makedirs(a.out, exist_ok=True)

    # ---------------------------------------------------------------- table
    out = []
    P = out.append
    accel = a.accel if a.where == "vm" else "host"
    P("gmp bench: %s, kernel %s, %s, %s CPUs, clocksource %s, Go %s, git %s, %s" % (
        "VM" if a.where == "vm" else "this machine", doc["kernel"], accel,
        doc["cpus"] or "?", r["env"].get("clocksource", "?"), gover, doc["git"],
        doc["date"]))
    P("")
    P("Handoff latency, 1 P: G A readies G B, then blocks in read(2) on a pipe;")
    P("time from just before the read until B runs, in microseconds")
    hdr = "%-22s %-35s %6s %8s %8s %8s %8s %8s" % ("scenario", "", "n", "p50", "p90", "p99", "p99.9", "max")
    P(hdr)
    P("-" * len(hdr))
    for sc, skey, sname in SCEN:
        rows = [(rt, name.format(gover=gover)) for rt, name in RUNTIMES]
        if sc == "0":
            rows += [(fk[3:], name) for fk, name in FLOORS]
        else:
            rows += [("raw_floor", "raw floor")]
        first = True
        for key, name in rows:
            e = latency[skey][key]
            lab = sname if first else ""
            first = False
            if e["status"] == "ok":
                P("%-22s %-35s %6d %8s %8s %8s %8s %8s" % (
                    lab, name, e["n"], fmt_us(e["p50_us"]), fmt_us(e["p90_us"]),
                    fmt_us(e["p99_us"]), fmt_us(e["p999_us"]), fmt_us(e["max_us"])))
            else:
                P("%-22s %-35s %s (%s)" % (lab, name, e["status"], e["reason"]))
        P("")
    hs = [(k, v) for k, v in sorted(r["hstat"].items())]
    if hs:
        P("libgmp's own handoff counters (gmp_handoff_stats, summed over the runs of a row):")
        for k, v in hs:
            if v.get("mode") == "perf":
                P("  %-18s mode %-6s perf takes %7d, demand takes %7d, sysmon takes %7d, "
                  "stale %5d, block records %7d, wakes %7d, lost %d" % (
                      k, v.get("mode", "?"), v.get("perf_takes", 0), v.get("demand_takes", 0),
                      v.get("sysmon_takes", 0), v.get("stale", 0), v.get("perf_blocks", 0),
                      v.get("upcalls", 0), v.get("perf_lost", 0)))
                continue
            P("  %-18s mode %-6s upcall takes %7d, demand takes %7d, sysmon takes %7d, "
              "stale %5d, module blocks %7d, wakeups %7d" % (
                  k, v.get("mode", "?"), v.get("upcall_takes", 0), v.get("demand_takes", 0),
                  v.get("sysmon_takes", 0), v.get("stale", 0), v.get("kblocks", 0),
                  v.get("kwakeups", 0)))
        P("")
    tg = doc["params"]["throughput_goroutines"]
    P("Throughput, 2 Ps: %d computing Gs (%d ms of work in all), %d Gs blocking in pipe" % (
        tg.get("computing", 0), doc["params"]["throughput_work_ms"], tg.get("pipe_readers", 0)))
    P("reads (a timer G writes every %d us), %d Gs looping pwrite+fsync (%s);" % (
        tg.get("release_period_us", 0), tg.get("fsync_loops", 0),
        r["env"].get("fsync_dir", "?")))
    P("ideal = the work's time on one G alone / 2; no-block = the same Gs without the")
    P("blocking ones (what the 2 CPUs really give); median of %d runs; sys%% and idle%%:"
      % doc["params"]["throughput_runs"])
    P("the machine's CPU time during the mixed run spent in the kernel and idle")
    hdr = "%-28s %8s %8s %8s %11s %13s %9s %6s %6s %5s %5s" % (
        "", "ideal ms", "no-block", "total ms", "total/ideal", "(min-max)", "/no-block",
        "reads", "fsyncs", "sys%", "idle%")
    P(hdr)
    P("-" * len(hdr))
    for rt, name in RUNTIMES:
        e = throughput[rt]
        name = name.format(gover=gover)
        if e["status"] == "ok":
            P("%-28s %8.0f %8.0f %8.0f %11.2f %13s %9.2f %6.0f %6.0f %5s %5s" % (
                name, e.get("median_ideal_ms", 0), e.get("median_noblock_ms", 0),
                e.get("median_total_ms", 0), e.get("median_ratio", 0),
                "(%.2f-%.2f)" % (e["min_ratio"], e["max_ratio"]),
                e.get("median_vs_noblock", 0), e.get("median_reads", 0),
                e.get("median_fsyncs", 0), pct(e.get("median_cpu_sys_pct")),
                pct(e.get("median_cpu_idle_pct"))))
        else:
            P("%-28s %s (%s)" % (name, e["status"], e["reason"]))
    P("")
    P("Cost of being registered: getppid(2) in a loop, one pinned thread, ns per call")
    if reg["status"] == "ok":
        m = reg["median_ns_per_call"]
        P("(median of %d rounds of %d calls, the states back to back in each round, in a"
          % (reg["rounds"], reg["calls_per_round"]))
        P("rotating order; overhead: median over rounds of the round's ratio, quartiles)")
        lows = reg.get("low_ns_per_call", {})
        P("%-24s %9s %9s %10s %19s %10s" % ("", "median", "p10", "overhead", "(quartiles)",
                                           "p10-based"))
        P("%-24s %9.1f %9.1f" % ("not registered", m.get("none", 0),
                                 lows.get("none", {}).get("p10", 0)))
        for st, lab in (("registered", "registered, disarmed"), ("armed", "registered and armed"),
                        ("perf", "perf event (perf mode)")):
            o = reg.get("overhead_%s_paired" % st)
            if o:
                P("%-24s %9.1f %9.1f %+9.1f%% %19s %+9.1f%%" % (
                    lab, m.get(st, 0), lows.get(st, {}).get("p10", 0), 100 * o["median"],
                    "(%+.1f%% .. %+.1f%%)" % (100 * o["q1"], 100 * o["q3"]),
                    100 * reg.get("overhead_%s_p10" % st, 0)))
        if reg.get("perf_na"):
            P("%-24s n/a (%s)" % ("perf event (perf mode)", reg["perf_na"]))
    else:
        P("  %s (%s)" % (reg["status"], reg["reason"]))
    P("")
    P("Cost per context switch, raw: two threads pinned to one CPU ping-pong a byte")
    P("through pipes (every read blocks); ns per switch, median of %d rounds of %d round" % (
        doc["params"]["csw_rounds"], doc["params"]["csw_roundtrips_per_round"]))
    P("trips; overhead: median over rounds of the round's ratio to none, quartiles")
    if csw["status"] == "ok":
        m = csw["median_ns_per_switch"]
        P("%-34s %9s %10s %19s %9s" % ("", "ns/switch", "overhead", "(quartiles)", "extra ns"))
        P("%-34s %9.0f" % ("no hook", m.get("none", 0)))
        for st, lab in (("kmod", "gmp.ko, both threads armed"),
                        ("perf", "perf event on both threads")):
            o = csw.get("overhead_%s_paired" % st)
            if o:
                P("%-34s %9.0f %+9.1f%% %19s %+9.0f" % (
                    lab, m.get(st, 0), 100 * o["median"],
                    "(%+.1f%% .. %+.1f%%)" % (100 * o["q1"], 100 * o["q3"]),
                    csw.get("extra_ns_%s" % st, 0)))
            else:
                P("%-34s n/a (%s)" % (lab, csw["unavailable"].get(st, "not measured")))
    else:
        P("  %s (%s)" % (csw["status"], csw["reason"]))
    P("")
    P("The mode's cost inside libgmp, 2 Ps: two Gs ping-pong a byte through pipes with")
    P("gmp_read/gmp_write (every read blocks its M), and one G making gmp_syscall(getppid)")
    P("(never blocks); median of %d runs of %d round trips / %d calls" % (
        doc["params"]["mode_cost_runs"], doc["params"]["mode_cost_roundtrips"],
        doc["params"]["mode_cost_syscalls"]))
    P("%-28s %12s %12s %12s %14s" % ("", "ns/roundtrip", "ns/block", "vs sysmon", "ns/syscall"))
    base = ovh.get("sysmon", {}).get("median_csw_block_ns")
    for rt, lab in MODES:
        e = ovh[rt]
        if e["status"] == "ok":
            b = e.get("median_csw_block_ns")
            P("%-28s %12.0f %12.0f %12s %14.1f" % (
                lab, e.get("median_csw_roundtrip_ns", 0), b or 0,
                "%+.0f ns" % (b - base) if (b is not None and base) else "-",
                e.get("median_syscall_ns", 0)))
        else:
            P("%-28s %s (%s)" % (lab, e["status"], e["reason"]))
    P("")

    def rs(v, pct=False):
        if v is None:
            return "n/a"
        return "%+.1f%%" % (100 * v) if pct else "%.3g" % v

    why_kmod = " (kmod rows unavailable)" if kmod_na else ""
    P("Ratios the issue targets (measured; the target in brackets, not checked):")
    P("  kmod p50 / Go p50, back-to-back           %-8s [<= 0.1]%s" % (
        rs(ratios["kmod_p50_vs_go_p50_b2b"]), why_kmod))
    P("  kmod p50 / raw floor p50 (unpinned)       %-8s [<= 2]   (vs same-CPU floor: %s)" % (
        rs(ratios["kmod_p50_vs_raw_floor_p50_b2b"]),
        rs(ratios["kmod_p50_vs_raw_floor_same_cpu_p50_b2b"])))
    P("  kmod p99 / Go p99, after 20 ms computing  %-8s [<= 0.01]" % (
        rs(ratios["kmod_p99_vs_go_p99_after_20ms"])))
    P("  raw floor / perf watcher, p50 and p99      [p50 <= 0.5, p99 <= 1]")
    for pl, lab in (("same", "activation on M's CPU"), ("other", "on the other CPU"),
                    ("none", "unpinned")):
        P("    %-36s p50 %-8s p99 %s" % (
            lab, rs(ratios["raw_floor_%s_vs_perf_watcher_%s_p50" % (pl, pl)]),
            rs(ratios["raw_floor_%s_vs_perf_watcher_%s_p99" % (pl, pl)])))
    P("  throughput total/ideal: kmod %s, sysmon %s, Go %s  [kmod <= 1.15 where sysmon and Go are not]" % (
        rs(ratios["throughput_vs_ideal_kmod"]), rs(ratios["throughput_vs_ideal_sysmon"]),
        rs(ratios["throughput_vs_ideal_go"])))
    P("    (total / no-block: kmod %s, sysmon %s, Go %s)" % (
        rs(ratios["throughput_vs_noblock_kmod"]), rs(ratios["throughput_vs_noblock_sysmon"]),
        rs(ratios["throughput_vs_noblock_go"])))
    P("  getppid registered and armed vs not       %-8s [<= +3%%]   (p10-based: %s)" % (
        rs(ratios["armed_getppid_overhead"], True),
        rs(reg.get("overhead_armed_p10"), True)))
    P("  perf mode (issue 6): p50 / kmod p50 b2b %s; p99 / kmod p99 after 20 ms %s;"
      " total/ideal %s;" % (
          rs(ratios["perf_p50_vs_kmod_p50_b2b"]), rs(ratios["perf_p99_vs_kmod_p99_after_20ms"]),
          rs(ratios["throughput_vs_ideal_perf"])))
    P("    per context switch: kmod %s, perf %s; getppid with a perf event %s" % (
        rs(ratios["csw_overhead_kmod"], True), rs(ratios["csw_overhead_perf"], True),
        rs(ratios["perf_getppid_overhead"], True)))
    P("  for reference: sysmon p50 / Go p50 b2b %s; sysmon p99 / Go p99 after 20 ms %s;"
      " raw floor p50 / perf watcher p50 %s" % (
          rs(ratios["sysmon_p50_vs_go_p50_b2b"]), rs(ratios["sysmon_p99_vs_go_p99_after_20ms"]),
          rs(ratios["raw_floor_p50_vs_perf_watcher_p50"])))
    if r["notes"] or r["fail"]:
        P("")
        for n in r["notes"]:
            P("note: " + n)
        for k, v in r["fail"].items():
            P("FAILED: %s: %s" % (k, v))
    P("")
    ws = doc["wall_s"]
    if wall is not None:
        P("wall time %d:%02d (build %s s, %s %s s); outputs: %s/bench.json, %s/latency.png" % (
            wall // 60, wall % 60, ws["build"], "VM boot and run" if a.where == "vm" else "run",
            ws["run"], a.out, a.out))
    text = "\n".join(out) + "\n"

    # ---------------------------------------------------------------- plot
    png = os.path.join(a.out, "latency.png")
    doc["plot"] = plot(a.out, latency, gover, doc)
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "bench.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    if doc["plot"] != "ok":
        print("plot: " + doc["plot"])
    return 0


def plot(outdir, latency, gover, doc):
    """latency.png: latency against percentile ("nines" x axis), log y."""
    gp = shutil.which("gnuplot")
    pdir = os.path.join(outdir, "plot")
    os.makedirs(pdir, exist_ok=True)
    series = {
        "back_to_back": [("kmod", "libgmp kmod", 1), ("perf", "libgmp perf", 6),
                         ("sysmon", "libgmp sysmon", 2),
                         ("go", "Go " + gover, 3), ("kmod-none", "raw floor (gmp.ko wake)", 4),
                         ("perf-none", "perf watcher wake", 5)],
        "after_20ms": [("kmod", "libgmp kmod", 1), ("perf", "libgmp perf", 6),
                       ("sysmon", "libgmp sysmon", 2), ("go", "Go " + gover, 3)],
    }
    import math
    cmds = []
    maxns = []
    for skey, lst in series.items():
        plots = []
        maxn = 10
        for key, title, style in lst:
            e = latency[skey].get(key, {})
            if e.get("status") != "ok" or not e.get("cdf_us"):
                continue
            maxn = max(maxn, e["n"])
            fn = os.path.join(pdir, "%s-%s.dat" % (skey, key))
            with open(fn, "w") as f:
                f.write("# nines(-log10(1-q)) latency_us q\n")
                for q, v in e["cdf_us"]:
                    if q >= 1:
                        x = math.log10(e["n"])	# the nearest-rank max
                    else:
                        x = -math.log10(1 - q)
                    f.write("%.5f %.3f %.6f\n" % (x, v, q))
            plots.append("'%s' using 1:2 with linespoints ls %d title '%s (p50 %s us)'" % (
                fn, style, title, fmt_us(e["p50_us"])))
        cmds.append(plots)
        maxns.append(maxn)
    if not any(cmds):
        return "no latency series to plot"
    title = "handoff latency, 1 P: %s, kernel %s, %s, %s CPUs" % (
        "VM" if doc["where"] == "vm" else "host", doc["kernel"], doc["accel"], doc["cpus"] or "?")
    script = os.path.join(pdir, "latency.gp")
    png = os.path.join(outdir, "latency.png")
    with open(script, "w") as f:
        f.write("""set terminal pngcairo size 1600,700 font ",11"
set output '%s'
set multiplot layout 1,2 title "%s"
set logscale y
set ytics ("1 us" 1, "10 us" 10, "100 us" 100, "1 ms" 1000, "10 ms" 10000, "100 ms" 100000, "1 s" 1e6, "10 s" 1e7)
set grid xtics ytics mytics
set xlabel "percentile"
set ylabel "latency (log scale)"
set key top left
set style line 1 lc rgb "#d62728" lw 2 pt 7 ps 0.6
set style line 2 lc rgb "#1f77b4" lw 2 pt 5 ps 0.6
set style line 3 lc rgb "#2ca02c" lw 2 pt 9 ps 0.6
set style line 4 lc rgb "#7f7f7f" lw 2 dt 2 pt 1 ps 0.6
set style line 5 lc rgb "#ff7f0e" lw 1 dt 3 pt 2 ps 0.6
set style line 6 lc rgb "#9467bd" lw 2 pt 11 ps 0.6
""" % (png, title))
        for (skey, _), plots, maxn in zip(series.items(), cmds, maxns):
            xmax = math.ceil(math.log10(maxn) - 1e-9)
            tics = ", ".join('"%s" %d' % (lab, i) for i, lab in enumerate(
                ["0", "90", "99", "99.9", "99.99", "99.999", "99.9999"][:xmax + 1]))
            f.write("set xtics (%s)\nset xrange [0:%g]\n" % (tics, xmax + 0.1))
            vals = [v for key, _, _ in series[skey]
                    for _, v in latency[skey].get(key, {}).get("cdf_us") or [] if v > 0]
            if vals:
                # a decade either side, a hair wider so that its tic label shows
                f.write("set yrange [%g:%g]\n" % (
                    0.98 * 10 ** math.floor(math.log10(min(vals))),
                    1.02 * 10 ** math.ceil(math.log10(max(vals)))))
            label = "back-to-back blocks" if skey == "back_to_back" else "block after 20 ms of computing"
            f.write('set title "%s (last point: max)"\n' % label)
            if plots:
                f.write("plot " + ", \\\n     ".join(plots) + "\n")
            else:
                f.write('set label 1 "no data" at graph 0.5,0.5 center\nplot NaN notitle\nunset label 1\n')
        f.write("unset multiplot\n")
    if not gp:
        return "gnuplot not found (install gnuplot-nox); script in " + script
    p = subprocess.run([gp, script], capture_output=True, text=True)
    if p.returncode != 0:
        return "gnuplot failed: " + p.stderr.strip()[-300:]
    return "ok"


if __name__ == "__main__":
    sys.exit(main())
