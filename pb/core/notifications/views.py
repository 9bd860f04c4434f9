from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from pb.core.errorpages import domain_error_page
from pb.core.notifications import preferences, selectors, services
from pb.core.notifications.forms import NotificationSettingsForm
from pb.core.notifications.text import notification_text


@login_required
@require_http_methods(["GET", "POST"])
def notification_list(request):
    prefs = preferences.notification_settings_of(request.user)
    form = NotificationSettingsForm(request.POST or None, instance=prefs)
    if request.method == "POST" and form.is_valid():
        preferences.notification_settings_update(
            actor=request.user, ballot_reminders=prefs.ballot_reminders, **form.cleaned_data
        )
        messages.success(request, _("Your e-mail choices were saved."))
        return redirect("notifications:list")
    items = [(n, notification_text(n)) for n in selectors.notifications_of(user=request.user)]
    ctx = {"items": items, "form": form, "unread": sum(1 for n, _t in items if n.read_at is None)}
    return render(request, "notifications/notification_list.html", ctx, status=400 if form.errors else 200)


@login_required
@require_POST
def notifications_read(request):
    services.notifications_mark_read(actor=request.user)
    return redirect("notifications:list")


# No CSRF token: mail programs POST here themselves (RFC 8058 one-click), without a session. The signed
# token is the proof, and all the link can do is switch e-mails off for the person it was made for.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    try:
        _user_id, scope = preferences.unsubscribe_check(token)
        if request.method == "POST":
            preferences.unsubscribe(token=token)
    except preferences.BadUnsubscribeLink as exc:
        return domain_error_page(request, exc)
    ctx = {"scope": scope, "done": request.method == "POST", "token": token}
    return render(request, "notifications/unsubscribe.html", ctx)
