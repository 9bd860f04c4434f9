"""The sign-in form: allauth's (username or e-mail address), also accepting Django's field name `username`,
so that sign-in posts written for Django's own form (scripts, the admin's habits) keep working."""

from __future__ import annotations

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _


class LoginForm(AllauthLoginForm):
    def __init__(self, *args, **kwargs):
        data = kwargs.get("data")
        if data is not None and "login" not in data and "username" in data:
            data = data.copy()
            data["login"] = data["username"]
            kwargs["data"] = data
        super().__init__(*args, **kwargs)
        login = self.fields["login"]
        login.label = _("Username or e-mail address")
        login.max_length = 254
        login.widget.attrs.update(autocomplete="username", placeholder="")


class SignupForm(AllauthSignupForm):
    """allauth's, with the address refused above 254 characters (RFC 5321's limit, the column's length):
    cut to fit, it would become another, invalid address and no confirmation could ever reach it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].max_length = 254
        self.fields["email"].widget.attrs["maxlength"] = "254"
        self.fields["email"].validators.append(MaxLengthValidator(254))


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.BooleanField(
        label=_("I understand that my account is deleted for good and cannot be restored."),
    )
