# Django's Vietnamese formats leave NUMBER_GROUPING unset, so budgets read "240000"; Vietnamese: 240.000.
from django.conf.locale.vi.formats import *  # noqa: F403

NUMBER_GROUPING = 3
