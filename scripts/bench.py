#!/usr/bin/env python3
"""make bench: the full local cycle, measured, against a plain baseline.

Runs in one go, on one machine (ratios, not absolute times, are what travel):
  * `up` to a green DAG and the success e-mail, then `destroy`, N times
    (medians per phase from each run's summary.json);
  * re-`up` of an env that is already up (converges, changes nothing);
  * `up --image baked` after `shadowops bake` (configure only converges);
  * the baseline: the same playbook against the same kind of fresh host
    (provisioned by the same module), from a hand-written inventory, with
    stock Ansible settings (bench/ansible-stock.cfg: facts gathered, no
    pipelining, no ControlPersist) — compared with our configure phase;
  * the driver's own peak RSS (VmHWM sampled from /proc) and CPU time per `up`.
Prints a table and writes target/bench/bench.json. States what was cached.
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


def summary(env):
    runs = sorted((HOME / "envs" / env / "runs").iterdir())
    ups = [r for r in runs if r.name.endswith("-up")]
    return json.loads((ups[-1] / "summary.json").read_text())


def phases(s):
    return {p["phase"]: p["duration_s"] for p in s["phases"]}


def cached():
    images = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], env=dict(ENV, CONTAINERS_CONF=str(REPO / "podman/containers.conf")),
                            stdout=subprocess.PIPE, text=True).stdout.split()
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
    timed(["up", "--env", env, "--until", "provision", "--ttl", "1h"])
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


def main():
    if not BIN.exists():
        raise SystemExit(f"bench: {BIN} missing (make build)")
    (TARGET / "bench").mkdir(parents=True, exist_ok=True)
    result = {"runs": RUNS, "cached_before": cached(), "full": [], "destroy": [], "reup": [], "baked": [], "destroy_baked": [], "rss_kib": []}
    log(f"cache before: {result['cached_before']}")
    # A warm-up cycle so every figure below is on a warm machine.
    log("warm-up cycle (fills images, apt cache, wheelhouse if missing)")
    t, _, _ = timed(["up", "--env", "bench-warm", "--ttl", "1h"])
    result["warmup_s"] = round(t, 1)
    timed(["destroy", "--env", "bench-warm"])
    result["cached"] = cached()
    for i in range(RUNS):
        env = f"bench-{i}"
        log(f"full cycle {i + 1}/{RUNS}")
        t, rss, _ = timed(["up", "--env", env, "--ttl", "1h"])
        s = summary(env)
        result["full"].append({"total_s": t, "phases": phases(s), "driver_cpu_s": s["driver_overhead_s"]})
        result["rss_kib"].append(rss)
        t, rss, _ = timed(["up", "--env", env, "--ttl", "1h"])
        result["reup"].append({"total_s": t, "phases": phases(summary(env))})
        result["rss_kib"].append(rss)
        t, rss, _ = timed(["destroy", "--env", env])
        result["destroy"].append(t)
    log("baseline: the same playbook with stock Ansible settings")
    result["baseline_configure_s"] = round(baseline(), 1)
    log("bake, then up --image baked")
    t, _, _ = timed(["bake"])
    result["bake_s"] = round(t, 1)
    for i in range(RUNS):
        env = f"bench-baked-{i}"
        t, rss, _ = timed(["up", "--env", env, "--ttl", "1h", "--image", "baked"])
        result["baked"].append({"total_s": t, "phases": phases(summary(env))})
        result["rss_kib"].append(rss)
        t, _, _ = timed(["destroy", "--env", env])
        result["destroy_baked"].append(t)

    def med(rows, key):
        return median([r["phases"].get(key, 0.0) for r in rows])

    ours_conf = med(result["full"], "configure")
    result["median"] = {
        "up_s": median([r["total_s"] for r in result["full"]]),
        "up_phases": {k: med(result["full"], k) for k in ["vars", "provision", "handoff", "configure", "pipeline", "lease"]},
        "reup_s": median([r["total_s"] for r in result["reup"]]),
        "baked_up_s": median([r["total_s"] for r in result["baked"]]),
        "baked_configure_s": med(result["baked"], "configure"),
        "destroy_s": median(result["destroy"]),
        "destroy_baked_s": median(result["destroy_baked"]),
        "driver_cpu_s": median([r["driver_cpu_s"] for r in result["full"]]),
        "peak_rss_mib": round(max(result["rss_kib"]) / 1024, 1),
    }
    result["configure_speedup_vs_stock"] = round(result["baseline_configure_s"] / ours_conf, 2) if ours_conf else None
    (TARGET / "bench" / "bench.json").write_text(json.dumps(result, indent=2))
    m = result["median"]
    rows = [
        ("up → e-mail (median)", m["up_s"], "<= 120 s"),
        ("  vars / provision / handoff", f"{m['up_phases']['vars']} / {m['up_phases']['provision']} / {m['up_phases']['handoff']}", ""),
        ("  configure / pipeline", f"{m['up_phases']['configure']} / {m['up_phases']['pipeline']}", ""),
        ("up --image baked (median)", m["baked_up_s"], "<= 45 s"),
        ("re-up unchanged env (median)", m["reup_s"], "<= 15 s"),
        ("destroy (median)", m["destroy_s"], "<= 5 s"),
        ("  of a baked env (median)", m["destroy_baked_s"], ""),
        ("configure, stock baseline", result["baseline_configure_s"], ""),
        ("configure speed-up vs stock", f"{result['configure_speedup_vs_stock']}x", ">= 2x"),
        ("driver peak RSS (MiB)", m["peak_rss_mib"], "< 30"),
        ("driver CPU per up (s)", m["driver_cpu_s"], "< 1"),
    ]
    print(f"{'measure':34} {'value':>22}  target")
    for name, val, goal in rows:
        print(f"{name:34} {str(val):>22}  {goal}")
    print(f"cached: images {len(result['cached']['images'])}, wheelhouse {result['cached']['wheelhouse']}, apt cache {result['cached']['apt_cache']}; runs={RUNS}")
    print(f"json: {TARGET / 'bench' / 'bench.json'}")
    shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
