"""allauth's forms with our labels (in our catalogue: allauth has none for Vietnamese) and no placeholders
(the labels say it, and a placeholder would stay in English). The sign-in form also accepts Django's field
name `username`, so that sign-in posts written for Django's own form (scripts, habits) keep working."""

from __future__ import annotations

from allauth.account import forms as allauth_forms
from django import forms
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

# Messages allauth's forms raise in its own words: listed here so that they reach our catalogue (the
# translation pass), which Django consults before allauth's (allauth has no Vietnamese one).
ALLAUTH_MESSAGES = (gettext_noop("You must type the same password each time."),)

# RFC 5321's longest address, and the column's length: cut to fit, an address becomes another, invalid one.
EMAIL_MAX_LENGTH = 254


class _Relabelled:
    labels: dict = {}

    def _relabel(self) -> None:
        for name, field in self.fields.items():
            field.widget.attrs.pop("placeholder", None)
            if name in self.labels:
                field.label = self.labels[name]
        if "email" in self.fields:
            self.fields["email"].max_length = EMAIL_MAX_LENGTH
            self.fields["email"].widget.attrs["maxlength"] = str(EMAIL_MAX_LENGTH)
            self.fields["email"].validators.append(MaxLengthValidator(EMAIL_MAX_LENGTH))


class LoginForm(_Relabelled, allauth_forms.LoginForm):
    labels = {
        "login": _("Username or e-mail address"),
        "password": _("Password"),
        "remember": _("Remember me"),
    }

    def __init__(self, *args, **kwargs):
        data = kwargs.get("data")
        if data is not None and "login" not in data and "username" in data:
            data = data.copy()
            data["login"] = data["username"]
            kwargs["data"] = data
        super().__init__(*args, **kwargs)
        self._relabel()
        self.fields["password"].help_text = ""  # the page links to the reset itself, once
        # Longer than any address or username: refused by the form, before any database lookup.
        self.fields["login"].max_length = EMAIL_MAX_LENGTH
        self.fields["login"].validators.append(MaxLengthValidator(EMAIL_MAX_LENGTH))
        self.fields["login"].widget.attrs["maxlength"] = str(EMAIL_MAX_LENGTH)
        self.fields["login"].widget.attrs["autocomplete"] = "username"


class SignupForm(_Relabelled, allauth_forms.SignupForm):
    labels = {"email": _("E-mail address"), "password1": _("Password"), "password2": _("Password again")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._relabel()


class ResetPasswordForm(_Relabelled, allauth_forms.ResetPasswordForm):
    labels = {"email": _("E-mail address")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._relabel()


class ResetPasswordKeyForm(_Relabelled, allauth_forms.ResetPasswordKeyForm):
    labels = {"password1": _("New password"), "password2": _("New password again")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._relabel()


class ChangePasswordForm(_Relabelled, allauth_forms.ChangePasswordForm):
    labels = {
        "oldpassword": _("Current password"),
        "password1": _("New password"),
        "password2": _("New password again"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._relabel()


class AddEmailForm(_Relabelled, allauth_forms.AddEmailForm):
    labels = {"email": _("New e-mail address")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._relabel()


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
