"""The words of a notification, made when it is shown or mailed so they follow the reader's language."""

from django.utils.translation import gettext as _

from pb.core.notifications.models import Notification, NotificationKind


def notification_text(n: Notification) -> str:
    d = {k: str(v) for k, v in (n.data or {}).items()}
    d.setdefault("code", "")
    d.setdefault("title", "")
    match n.kind:
        case NotificationKind.REVIEWED if (n.data or {}).get("feasible"):
            return _("%(code)s “%(title)s” was reviewed: feasible, it can go on the ballot.") % d
        case NotificationKind.REVIEWED:
            return _("%(code)s “%(title)s” was reviewed: not feasible. Reason: %(reason)s") % {
                **d,
                "reason": d.get("reason", ""),
            }
        case NotificationKind.CHANGED:
            return _("%(code)s “%(title)s” was changed.") % d
        case NotificationKind.MERGED:
            return _("%(code)s “%(title)s” was merged into %(into)s.") % {**d, "into": d.get("into", "")}
        case NotificationKind.ON_BALLOT:
            return _("%(code)s “%(title)s” is on the ballot: voting is open.") % d
        case NotificationKind.FUNDED:
            return _("%(code)s “%(title)s” will be funded.") % d
        case NotificationKind.NOT_FUNDED:
            return _("%(code)s “%(title)s” was not funded this time.") % d
        case NotificationKind.PROGRESS:
            return _("%(code)s “%(title)s”, funded: %(what)s") % {**d, "what": d.get("what", "")}
        case NotificationKind.COMMENT:
            return _("New comment by %(author)s on %(code)s “%(title)s”.") % {
                **d,
                "author": d.get("author", ""),
            }
    return _("Something changed on %(code)s.") % d
