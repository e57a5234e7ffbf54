"""The worker side of the service: the job queue for runs and fits (queue.py), one run's
execution (runner.py), the process pool (pool.py), and the fit worker that every API process and
pool runs (fit_jobs.py)."""
