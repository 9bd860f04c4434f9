# Django's Simplified Chinese formats group by 4 with no separator ("240000"); amounts of money in mainland
# China are written with a comma every three digits (240,000).
from django.conf.locale.zh_Hans.formats import *  # noqa: F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
