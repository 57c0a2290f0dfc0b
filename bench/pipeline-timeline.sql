-- The last DAG run of an env and its task instances, from Airflow's metadata DB:
-- shadowops ssh --env ENV -- sudo -u postgres psql -X -q -d airflow < bench/pipeline-timeline.sql
\pset footer off
select run_id, queued_at::time(3) q, start_date::time(3) s, end_date::time(3) e, state from dag_run order by id desc limit 1;
select ti.task_id, ti.scheduled_dttm::time(3) sched, ti.queued_dttm::time(3) queued, ti.start_date::time(3) started, ti.end_date::time(3) ended, round(ti.duration::numeric,2) dur
 from task_instance ti where ti.run_id=(select run_id from dag_run order by id desc limit 1) order by ti.start_date;
