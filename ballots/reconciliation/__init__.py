"""Reconciliation: per pot, channel and booth, ballots against participations (issue 9).

`selectors` counts and says what is unresolved; `services` records two officials' resolutions and holds the
guard that closing, the official count and certification call; `views` is the officials' page."""
