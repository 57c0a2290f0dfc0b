# Runs ON an env's host, as root: trigger shadow_pipeline over the REST API,
# poll every 50 ms, and print one JSON line: the run (queued to end), the
# scheduling gaps (queued to start of the run, then between a task's end and
# the next one queued, then the last end to the run's end) and each task from
# queued to end. The admin password comes on stdin:
#   shadowops ssh --env ENV -- "cat > /tmp/t.py" < bench/dag-run-timeline.py
#   shadowops ssh --env ENV -- sudo python3 /tmp/t.py TAG < $SHADOWOPS_HOME/envs/ENV/secrets/airflow-admin-password
import json, sys, time, urllib.request, subprocess
pw = sys.stdin.readline().strip(); tag = sys.argv[1] if len(sys.argv) > 1 else "x"
B = "http://127.0.0.1:8080"
def call(m, p, body=None, tok=None):
    r = urllib.request.Request(B + p, method=m, data=json.dumps(body).encode() if body is not None else None,
                               headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + tok} if tok else {})})
    return json.load(urllib.request.urlopen(r))
tok = call("POST", "/auth/token", {"username": "admin", "password": pw})["access_token"]
rid = f"bench_{tag}_{int(time.time()*1000)}"
t0 = time.time()
call("POST", "/api/v2/dags/shadow_pipeline/dagRuns", {"dag_run_id": rid, "logical_date": None, "conf": {}}, tok)
while True:
    st = call("GET", f"/api/v2/dags/shadow_pipeline/dagRuns/{rid}", None, tok)["state"]
    if st in ("success", "failed"): break
    time.sleep(0.05)
t1 = time.time()
q = f"""select extract(epoch from queued_at), extract(epoch from start_date), extract(epoch from end_date) from dag_run where run_id='{rid}';
select task_id, extract(epoch from queued_dttm), extract(epoch from start_date), extract(epoch from end_date) from task_instance where run_id='{rid}' order by start_date;"""
out = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-F", " ", "-d", "airflow", "-c", q], capture_output=True, text=True).stdout.split("\n")
dr = [float(x) for x in out[0].split()]
tis = [l.split() for l in out[1:] if l.strip()]
prev_end = dr[1]; gaps = [dr[1] - dr[0]]; durs = []
for name, qd, sd, ed in tis:
    qd, sd, ed = float(qd), float(sd), float(ed)
    if name != tis[0][0]: gaps.append(qd - prev_end)
    durs.append((name, ed - qd)); prev_end = ed
gaps.append(dr[2] - prev_end)
print(json.dumps({"state": st, "trigger_to_seen": round(t1 - t0, 2), "run": round(dr[2] - dr[0], 2),
                  "gaps": [round(g, 2) for g in gaps], "gaps_sum": round(sum(gaps), 2),
                  "tasks": {n: round(d, 2) for n, d in durs}, "tasks_sum": round(sum(d for _, d in durs), 2)}))
