"""Progress of a long job (a voter-roll or proposal import), kept in a small file beside the uploaded one.

A file, atomically replaced, and not a database row: the import writes everything in one transaction, and the
page that polls the progress (another request, maybe another process) must see it while those rows are still
uncommitted. The file's modification time is also the job's last sign of life: a job that shows none for
PB_ROLL_JOB_STALL_SECONDS is marked failed (its worker died, or the server restarted) and can be retried."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _


class ProgressFiles:
    """`<PB_VAR_DIR>/<folder>/<job id>.progress.json` for the jobs of one kind."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def directory(self) -> Path:
        d = Path(settings.PB_VAR_DIR) / self.folder
        d.mkdir(parents=True, exist_ok=True)
        return d

    def path(self, job_id) -> Path:
        return self.directory() / f"{job_id}.progress.json"

    def read(self, job_id) -> dict:
        try:
            return json.loads(self.path(job_id).read_text())
        except (OSError, ValueError):
            return {}

    def write(self, job_id, **data) -> None:
        path = self.path(job_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    def clear(self, job_id) -> None:
        self.path(job_id).unlink(missing_ok=True)

    def last_sign_of_life(self, job_id, created_at: dt.datetime) -> dt.datetime:
        """When the job last showed progress (the file is rewritten as rows are read), else its creation."""
        try:
            mtime = self.path(job_id).stat().st_mtime
        except OSError:
            return created_at
        return max(created_at, dt.datetime.fromtimestamp(mtime, tz=dt.UTC))


def stall_after() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "PB_ROLL_JOB_STALL_SECONDS", 300)))


def stall_reason(*, importing: bool, stall: dt.timedelta) -> str:
    """What an official reads on a job that stopped showing progress, and what to do about it."""
    minutes = max(1, int(stall.total_seconds() // 60))
    if importing:
        return _(
            "The import stopped without finishing (no progress for %(m)s minutes; the server may have "
            "restarted). Nothing was imported. Press “Retry” to check the file again, then import it."
        ) % {"m": minutes}
    return _(
        "The check of this file stopped without finishing (no progress for %(m)s minutes; the server "
        "may have restarted). Press “Retry” to check it again."
    ) % {"m": minutes}
