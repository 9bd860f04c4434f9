"""Election statistics (issue #13, part 3): turnout by district, channel, day and age band, proposals per
category and district, support and comment activity, and the proportionality figures of the certified count.

- which cells of a table to hide: ballots.casting.cells.table_hidden, the rule every published turnout
  table follows (rows, column groups and columns until nothing changes, so no small cell is read or
  subtracted out).
- `services`: the snapshot computed when voting closes (a phase hook): the turnout tables at 100,000 voters
  are aggregated once, not on every page view.
- `selectors`: what the page may show at the election's phase; `charts`: server-side SVG; `views`: the page.
"""
