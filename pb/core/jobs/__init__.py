"""Long work as jobs: the job table's services (pb.core.jobs.services: kinds, start, run, retry, progress)
and the one page every job is watched on (pb.core.jobs.views)."""
