#!/usr/bin/env python3
"""make bench: the full local cycle, measured, against a plain baseline.

Runs in one go, on one machine (ratios, not absolute times, are what travel):
  * the first `up` of this playbook's software stamp (BENCH_FRESH_CACHE=1
    removes the stamp's cache first): from the base image, then the
    background bake that makes the software cache, timed until it is done;
  * `up` to a green DAG and the success e-mail with no manual step (the
    default `--image auto`, so from the cache), a re-`up` of the unchanged
    env, then `destroy`, N times (medians per phase from summary.json);
  * `up --image base` + `destroy`, N times: configure on a fresh base host;
  * the baseline: the same playbook against the same kind of fresh host
    (provisioned by the same module), from a hand-written inventory, with
    stock Ansible settings (bench/ansible-stock.cfg: facts gathered, no
    pipelining, no ControlPersist) — compared with our configure phase;
  * scale: 1, 2 and 4 envs brought up at once (each to its e-mail), wall
    time, each env's containers' peak RSS and the machine's peak memory in
    use, then destroyed at once with nothing left (BENCH_SCALE=1,2,4);
  * the driver's own peak RSS (VmHWM sampled from /proc) and CPU time per `up`.
Prints a table and writes target/bench/bench.json. States what was cached.
BENCH_ONLY=scale runs the first `up` and the scale run only (bench-scale.json);
BENCH_ONLY=baseline the stock baseline only.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
BIN = TARGET / "release" / "shadowops"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
HOME = Path(tempfile.mkdtemp(prefix="shadowops-bench-"))
CACHE = Path(os.environ.get("SHADOWOPS_CACHE", Path.home() / ".cache" / "shadowops"))
ENV = dict(os.environ, SHADOWOPS_HOME=str(HOME), PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
ENV.pop("CI", None)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


PODMAN_ENV = dict(ENV, CONTAINERS_CONF=str(REPO / "podman/containers.conf"))
MEMCG = Path("/sys/fs/cgroup/memory/libpod_parent")


def podman(*args):
    return subprocess.run(["podman", *args], env=PODMAN_ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout


def timed(args, env=ENV, check=True):
    """Run the driver; return (seconds, the driver's own peak RSS in KiB, stdout).

    The peak RSS is the driver process's VmHWM, sampled from /proc while it
    runs (GNU time's %M would report the largest child: terraform or
    ansible-playbook, not the driver)."""
    start = time.monotonic()
    p = subprocess.Popen([str(BIN), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hwm = 0
    out_chunks, err_chunks = [], []
    import threading
    t_out = threading.Thread(target=lambda: out_chunks.append(p.stdout.read()))
    t_err = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()))
    t_out.start()
    t_err.start()
    while p.poll() is None:
        try:
            for line in open(f"/proc/{p.pid}/status"):
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    t_out.join()
    t_err.join()
    took = time.monotonic() - start
    stdout, stderr = "".join(out_chunks), "".join(err_chunks)
    if check and p.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"bench: `shadowops {' '.join(args)}` failed with {p.returncode}")
    return took, hwm, stdout


def machine_busy_s():
    """CPU seconds the whole machine has spent busy (user, nice, system,
    irq, softirq) since boot: the difference across an `up` is what the up
    cost in CPU, every process of it (terraform, Ansible, the containers)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def summary(env):
    runs = sorted((HOME / "envs" / env / "runs").iterdir())
    ups = [r for r in runs if r.name.endswith("-up")]
    return json.loads((ups[-1] / "summary.json").read_text())


def phases(s):
    return {p["phase"]: p["duration_s"] for p in s["phases"]}


def cached():
    images = podman("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    return {
        "images": sorted(i for i in images if "shadowops-" in i),
        "wheelhouse": any((CACHE / "wheelhouse").glob(".complete-*")),
        "apt_cache": (Path("/var/cache/apt-cacher-ng").exists() and any(Path("/var/cache/apt-cacher-ng").iterdir())),
    }


def median(xs):
    return round(statistics.median(xs), 1) if xs else None


def baseline():
    """Same module, same playbook, stock settings, hand-written inventory."""
    env = "bench-base"
    timed(["up", "--env", env, "--until", "provision", "--ttl", "1h", "--image", "base"])
    c = json.loads((HOME / "envs" / env / "contract.json").read_text())
    d = HOME / "baseline"
    d.mkdir(exist_ok=True)
    h = c["host"]
    (d / "inventory.ini").write_text(
        f"shadow ansible_host={h['address']} ansible_user={h['ssh_user']} "
        f"ansible_ssh_private_key_file={h['ssh_private_key_file']} "
        f"ansible_ssh_common_args='-o UserKnownHostsFile={HOME / 'envs' / env / 'known_hosts'} -o StrictHostKeyChecking=yes'\n")
    # Variables: the same files the driver renders from the contract.
    ours = HOME / "envs" / env / "ansible"
    subprocess.run([str(BIN), "inventory", "--env", env, "--write"], env=ENV, check=True, stdout=subprocess.DEVNULL)
    cfg = REPO / "bench" / "ansible-stock.cfg"
    start = time.monotonic()
    p = subprocess.run([str(REPO / ".venv/bin/ansible-playbook"), "-i", str(d / "inventory.ini"), "-e", f"@{ours / 'vars.yml'}",
                        "-e", f"@{ours / 'secrets.yml'}", str(REPO / "ansible/site.yml")],
                       env=dict(ENV, ANSIBLE_CONFIG=str(cfg), ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.monotonic() - start
    (TARGET / "bench" / "baseline-ansible.log").write_text(p.stdout)
    timed(["destroy", "--env", env])
    if p.returncode != 0:
        raise SystemExit(f"bench: baseline play failed ({p.returncode}); see {TARGET / 'bench' / 'baseline-ansible.log'}")
    return took


def cache_line(listing):
    """The current stamp's cache in `prune-images --dry-run` output, or None."""
    for line in listing.splitlines():
        if line.endswith("kept (this playbook's software cache)"):
            return line.split()
    return None


def first_up():
    """The first `up` of the stamp and the background bake it starts."""
    if os.environ.get("BENCH_FRESH_CACHE") == "1":
        _, _, listing = timed(["prune-images", "--dry-run"])
        found = cache_line(listing)
        if found:
            log(f"BENCH_FRESH_CACHE=1: removing the cache {found[1]}")
            podman("rmi", found[0])
    env = "bench-first"
    t, _, _ = timed(["up", "--env", env, "--ttl", "1h"])
    s = summary(env)
    out = {"up_s": round(t, 1), "phases": phases(s), "cache_existed": True}
    timed(["destroy", "--env", env])
    # The background bake (if this `up` started one): wait for the lock.
    lock = CACHE / "bake.lock"
    start = time.monotonic()
    import fcntl
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
    waited = time.monotonic() - start
    _, _, listing = timed(["prune-images", "--dry-run"])
    if cache_line(listing) is None:
        raise SystemExit(f"bench: no software cache after the first up; see {CACHE / 'host-cache.log'}")
    if waited > 1:
        out["cache_existed"] = False
        out["cache_wait_after_destroy_s"] = round(waited, 1)
    return out


def container_rss(cid):
    """RSS (bytes) of one container's memory cgroup (cgroup v1), or 0."""
    try:
        for line in (MEMCG / f"libpod-{cid}" / "memory.stat").read_text().splitlines():
            if line.startswith("total_rss "):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def container_max_usage(cid):
    try:
        return int((MEMCG / f"libpod-{cid}" / "memory.max_usage_in_bytes").read_text())
    except OSError:
        return 0


def container_cpu_ns(cid):
    try:
        return int((Path("/sys/fs/cgroup/cpuacct/libpod_parent") / f"libpod-{cid}" / "cpuacct.usage").read_text())
    except OSError:
        return 0


def idle_cpu(envs, seconds=20):
    """CPU (in cores) each env's containers use while up and idle (Airflow's
    scheduler, DAG processor, triggerer and API server keep running)."""
    ids = {e: podman("ps", "-q", "--no-trunc", "--filter", f"label=shadowops.env={e}").split() for e in envs}
    before = {e: sum(container_cpu_ns(c) for c in ids[e]) for e in envs}
    time.sleep(seconds)
    return {e: round((sum(container_cpu_ns(c) for c in ids[e]) - before[e]) / 1e9 / seconds, 3) for e in envs}


def mem_in_use():
    m = {}
    for line in open("/proc/meminfo"):
        k, v = line.split(":")
        m[k] = int(v.split()[0]) * 1024
    return m["MemTotal"] - m["MemAvailable"]


def scale(n):
    """n envs brought up at once, each to its e-mail; then destroyed at once."""
    import threading
    envs = [f"bench-s{n}-{i}" for i in range(n)]
    peak_env = {e: 0 for e in envs}
    peak_machine = [0]
    idle_mem = mem_in_use()
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak_machine[0] = max(peak_machine[0], mem_in_use())
            for e in envs:
                ids = podman("ps", "-q", "--no-trunc", "--filter", f"label=shadowops.env={e}").split()
                peak_env[e] = max(peak_env[e], sum(container_rss(c) for c in ids))
            time.sleep(1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    procs = [subprocess.Popen([str(BIN), "up", "--env", e, "--ttl", "1h"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for e in envs]
    outs = [p.communicate()[0] for p in procs]
    wall = time.monotonic() - start
    max_usage = {}
    for e in envs:
        ids = podman("ps", "-q", "--no-trunc", "--filter", f"label=shadowops.env={e}").split()
        max_usage[e] = sum(container_max_usage(c) for c in ids)
    done.set()
    sampler.join()
    idle = idle_cpu(envs)
    green = [p.returncode == 0 and "e-mail: received" in o for p, o in zip(procs, outs)]
    for e, ok, o in zip(envs, green, outs):
        if not ok:
            (TARGET / "bench" / f"{e}.log").write_text(o)
    start = time.monotonic()
    dprocs = [subprocess.Popen([str(BIN), "destroy", "--env", e], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for e in envs]
    destroyed = [p.wait() == 0 for p in dprocs]
    destroy_wall = time.monotonic() - start
    left = [e for e in envs if podman("ps", "-a", "-q", "--filter", f"label=shadowops.env={e}").strip()]
    mib = lambda b: round(b / 2**20)
    return {
        "envs": n,
        "wall_s": round(wall, 1),
        "all_green": all(green),
        "env_peak_rss_mib": {e: mib(v) for e, v in peak_env.items()},
        "env_max_usage_incl_page_cache_mib": {e: mib(v) for e, v in max_usage.items()},
        "env_idle_cpu_cores": idle,
        "machine_idle_mib": mib(idle_mem),
        "machine_peak_mib": mib(peak_machine[0]),
        "destroy_wall_s": round(destroy_wall, 1),
        "all_destroyed": all(destroyed) and not left,
    }


def main():
    if not BIN.exists():
        raise SystemExit(f"bench: {BIN} missing (make build)")
    (TARGET / "bench").mkdir(parents=True, exist_ok=True)
    result = {"runs": RUNS, "cached_before": cached(), "full": [], "destroy": [], "reup": [], "base": [], "destroy_base": [], "rss_kib": [], "scale": []}
    log(f"cache before: {result['cached_before']}")
    if os.environ.get("BENCH_ONLY") == "scale":
        # The scale run alone (after a first `up` so that the cache exists).
        result["first"] = first_up()
        for n in [int(x) for x in os.environ.get("BENCH_SCALE", "1,2,4").split(",") if x]:
            log(f"scale: {n} env(s) at once")
            result["scale"].append(scale(n))
            print(json.dumps(result["scale"][-1]), flush=True)
        (TARGET / "bench" / "bench-scale.json").write_text(json.dumps(result, indent=2))
        shutil.rmtree(HOME, ignore_errors=True)
        return
    if os.environ.get("BENCH_ONLY") == "baseline":
        print(f"configure, stock baseline: {baseline():.1f} s")
        shutil.rmtree(HOME, ignore_errors=True)
        return
    log("first up of this software stamp (and the background bake it starts)")
    result["first"] = first_up()
    result["cached"] = cached()
    for i in range(RUNS):
        env = f"bench-{i}"
        log(f"cycle {i + 1}/{RUNS}: up (no manual step), re-up, destroy")
        busy = machine_busy_s()
        t, rss, _ = timed(["up", "--env", env, "--ttl", "1h"])
        busy = machine_busy_s() - busy
        s = summary(env)
        boot = s.get("airflow_boot") or {}
        result["full"].append({
            "total_s": t, "phases": phases(s), "driver_cpu_s": s["driver_overhead_s"], "machine_cpu_s": round(busy, 1),
            # Airflow boots from the end of the play; the phase that needs it
            # first (the pipeline's) waits for what is left of the boot.
            "airflow_healthy_after_play_s": boot.get("healthy_after_play_s"),
            "pipeline_waiting_for_airflow_s": boot.get("waited_s", 0.0) if boot.get("awaited_in") == "pipeline" else 0.0,
        })
        result["rss_kib"].append(rss)
        t, rss, _ = timed(["up", "--env", env, "--ttl", "1h"])
        result["reup"].append({"total_s": t, "phases": phases(summary(env))})
        result["rss_kib"].append(rss)
        t, rss, _ = timed(["destroy", "--env", env])
        result["destroy"].append(t)
    for i in range(RUNS):
        env = f"bench-base-{i}"
        log(f"cycle {i + 1}/{RUNS}: up --image base (configure on a fresh base host), destroy")
        t, rss, _ = timed(["up", "--env", env, "--ttl", "1h", "--image", "base"])
        s = summary(env)
        result["base"].append({"total_s": t, "phases": phases(s)})
        result["rss_kib"].append(rss)
        t, _, _ = timed(["destroy", "--env", env])
        result["destroy_base"].append(t)
    # What was measured so far survives a failure of a later step.
    (TARGET / "bench" / "bench.json").write_text(json.dumps(result, indent=2))
    log("baseline: the same playbook with stock Ansible settings")
    result["baseline_configure_s"] = round(baseline(), 1)
    for n in [int(x) for x in os.environ.get("BENCH_SCALE", "1,2,4").split(",") if x]:
        log(f"scale: {n} env(s) at once")
        result["scale"].append(scale(n))
        (TARGET / "bench" / "bench.json").write_text(json.dumps(result, indent=2))

    def med(rows, key):
        return median([r["phases"].get(key, 0.0) for r in rows])

    base_conf = med(result["base"], "configure")
    result["median"] = {
        "up_s": median([r["total_s"] for r in result["full"]]),
        "up_phases": {k: med(result["full"], k) for k in ["vars", "provision", "handoff", "configure", "migrate", "pipeline", "lease"]},
        "reup_s": median([r["total_s"] for r in result["reup"]]),
        "base_up_s": median([r["total_s"] for r in result["base"]]),
        "base_configure_s": base_conf,
        "destroy_s": median(result["destroy"]),
        "destroy_base_s": median(result["destroy_base"]),
        "driver_cpu_s": median([r["driver_cpu_s"] for r in result["full"]]),
        "machine_cpu_s": median([r["machine_cpu_s"] for r in result["full"]]),
        "airflow_healthy_after_play_s": median([r["airflow_healthy_after_play_s"] for r in result["full"] if r["airflow_healthy_after_play_s"] is not None]),
        "pipeline_own_s": median([r["phases"].get("pipeline", 0.0) - r["pipeline_waiting_for_airflow_s"] for r in result["full"]]),
        "peak_rss_mib": round(max(result["rss_kib"]) / 1024, 1),
    }
    result["configure_speedup_vs_stock"] = round(result["baseline_configure_s"] / base_conf, 2) if base_conf else None
    one = next((r["wall_s"] for r in result["scale"] if r["envs"] == 1), None)
    for r in result["scale"]:
        r["wall_vs_one"] = round(r["wall_s"] / one, 2) if one else None
    (TARGET / "bench" / "bench.json").write_text(json.dumps(result, indent=2))
    m = result["median"]
    f = result["first"]
    rows = [
        ("first up of the stamp", f["up_s"], "cache existed" if f["cache_existed"] else f"+ bake waited {f.get('cache_wait_after_destroy_s')} s after it"),
        ("up → e-mail, no manual step (median)", m["up_s"], "<= 25 s"),
        ("  provision / configure", f"{m['up_phases']['provision']} / {m['up_phases']['configure']}", ""),
        ("  migrate / pipeline", f"{m['up_phases']['migrate']} / {m['up_phases']['pipeline']}", ""),
        ("  pipeline without waiting for Airflow", m["pipeline_own_s"], "<= 8 s"),
        ("  Airflow healthy after the play", m["airflow_healthy_after_play_s"], "(beside migrate, tests)"),
        ("re-up unchanged env (median)", m["reup_s"], "<= 15 s"),
        ("destroy (median)", m["destroy_s"], "<= 2.5 s"),
        ("up --image base (median)", m["base_up_s"], ""),
        ("  its configure / destroy", f"{m['base_configure_s']} / {m['destroy_base_s']}", ""),
        ("configure, stock baseline", result["baseline_configure_s"], ""),
        ("configure speed-up vs stock", f"{result['configure_speedup_vs_stock']}x", ">= 2x"),
        ("driver peak RSS (MiB)", m["peak_rss_mib"], "< 30"),
        ("driver CPU per up (s)", m["driver_cpu_s"], "< 1"),
        ("machine CPU per up (s, every process)", m["machine_cpu_s"], ""),
    ]
    cores = os.cpu_count() or 1
    for r in result["scale"]:
        per_env = "/".join(str(v) for v in r["env_peak_rss_mib"].values())
        rows.append((f"scale {r['envs']}: wall (x one)", f"{r['wall_s']} ({r['wall_vs_one']}x)", "4 envs <= 2.5x" if r["envs"] == 4 else ""))
        if m["machine_cpu_s"]:
            # n ups' CPU on this machine's cores: no schedule can beat it.
            rows.append((f"  CPU floor (n x CPU per up / {cores} cores)", round(r["envs"] * m["machine_cpu_s"] / cores, 1), ""))
        rows.append((f"  green / destroyed clean", f"{r['all_green']} / {r['all_destroyed']}", ""))
        rows.append((f"  env RSS MiB; machine peak", f"{per_env}; {r['machine_peak_mib']}", f"before {r['machine_idle_mib']}"))
        rows.append((f"  env idle CPU (cores)", "/".join(str(v) for v in r["env_idle_cpu_cores"].values()), ""))
    print(f"{'measure':38} {'value':>24}  target")
    for name, val, goal in rows:
        print(f"{name:38} {str(val):>24}  {goal}")
    print(f"cached: images {len(result['cached']['images'])}, wheelhouse {result['cached']['wheelhouse']}, apt cache {result['cached']['apt_cache']}; runs={RUNS}")
    print(f"json: {TARGET / 'bench' / 'bench.json'}")
    shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
