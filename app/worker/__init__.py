"""The worker side of the service: the job queue (queue.py), one run's execution
(runner.py) and the process pool (pool.py)."""
