"""The Method of Equal Shares (Peters & Skowron), its Add1 completion and the comparison step.

Sources: Peters & Skowron 2020, "Proportionality and the limits of welfarism" (EC 2020); Peters, Pierczyński
& Skowron 2021, "Proportional participatory budgeting with additive utilities" (NeurIPS 2021);
equalshares.net (Add1, the comparison step), as certified in Wieliczka 2023 and Świecie 2023.

The package reads like the papers, one step a module:

- `data`        the election as MES needs it: supporters and their utilities (`prepare`, `MesData`, `MesRun`)
- `definition`  the rule itself as in the papers, in plain exact rationals (`mes_reference`, `_exact_price`)
- `exact`       the same arithmetic made fast: classes of voters, integer numerators (`_ExactState`)
- `fast`        the float fast path whose error bounds prove every decision it takes (`mes_run`)
- `chain`       MES at a stretch of consecutive budgets, each run given the certificates of the run above
- `add1`        the Add1 search (`add1`), which jumps over budgets where `add1_jump` proves the outcome stays
- `comparison`  the comparison step against greedy and the utilitarian completion
- `explain`     rounds and unfunded reasons of a run, every figure exact, as structured data
- `rules`       the registered rules: `equalshares`, `equalshares/add1`, `equalshares/add1u`,
                `equalshares/add1-comparison`

Importing the package registers the rules (`tally.engine.registry` loads it by name). The names below are
what code outside the package uses.
"""

from tally.engine.mes.add1 import ADD1_METHODS, Add1Result, add1
from tally.engine.mes.comparison import comparison_counts
from tally.engine.mes.data import (
    APPROVAL_TYPES,
    MES_VOTE_TYPES,
    POINTS_TYPES,
    MesData,
    MesRun,
    _prepare_loop,
    prepare,
)
from tally.engine.mes.definition import _exact_price, mes_reference
from tally.engine.mes.exact import _ExactState, _int_price
from tally.engine.mes.explain import explain
from tally.engine.mes.fast import _FastMes, mes_run
from tally.engine.mes.rules import (
    equalshares,
    equalshares_add1,
    equalshares_add1_comparison,
    equalshares_add1u,
)

__all__ = [
    "ADD1_METHODS",
    "APPROVAL_TYPES",
    "MES_VOTE_TYPES",
    "POINTS_TYPES",
    "Add1Result",
    "MesData",
    "MesRun",
    "_ExactState",
    "_FastMes",
    "_exact_price",
    "_int_price",
    "_prepare_loop",
    "add1",
    "comparison_counts",
    "equalshares",
    "equalshares_add1",
    "equalshares_add1_comparison",
    "equalshares_add1u",
    "explain",
    "mes_reference",
    "mes_run",
    "prepare",
]
