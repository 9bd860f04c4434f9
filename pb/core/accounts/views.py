"""The account pages of our own: the overview, the data download, deletion. Sign-up, sign-in, confirmation,
password and e-mail changes are allauth's views (templates in templates/account/ and templates/allauth/)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from pb.core.accounts.forms import AccountDeleteForm
from pb.core.accounts.selectors import account_export
from pb.core.accounts.services import account_deletable, account_delete
from pb.core.exceptions import DomainError


@login_required
def account_home(request):
    ctx = {"deletable": account_deletable(request.user)}
    return render(request, "account/account_home.html", ctx)


@login_required
@require_GET
def account_data(request):
    body = json.dumps(account_export(user=request.user), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="pb-account-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request):
    user = request.user
    form = AccountDeleteForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        # Through authenticate(): a wrong password counts towards the same sign-in lock-out (axes).
        checked = authenticate(request, username=user.get_username(), password=form.cleaned_data["password"])
        if checked is None or checked.pk != user.pk:
            form.add_error("password", _("That is not your password."))
        else:
            try:
                account_delete(actor=user, user=user)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                logout(request)
                messages.success(request, _("Your account has been deleted."))
                return redirect("core:home")
    ctx = {"form": form, "deletable": account_deletable(user)}
    return render(request, "account/account_delete.html", ctx, status=400 if form.errors else 200)
