"""Officials' forms of the election itself."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from pb.core.i18n import content_languages
from pb.core.models import Election


class NamesTranslateForm(forms.Form):
    """One text field per pot or category and language ("pot-<slug>-<language>"); empty: no translation."""

    def __init__(self, *args, election: Election, **kwargs):
        super().__init__(*args, **kwargs)
        self.languages = content_languages(besides=settings.LANGUAGE_CODE)
        self.groups: list[tuple[str, object, list[str]]] = []  # (kind, object, its field names)
        for kind, objects in (("pot", election.pots.all()), ("category", election.categories.all())):
            for obj in objects:
                names = []
                for code, label in self.languages:
                    name = f"{kind}-{obj.slug}-{code}"
                    self.fields[name] = forms.CharField(
                        label=_("%(name)s in %(language)s") % {"name": obj.name, "language": label},
                        max_length=120,
                        required=False,
                        initial=(obj.name_i18n or {}).get(code, ""),
                        widget=forms.TextInput(attrs={"lang": code}),
                    )
                    names.append(name)
                self.groups.append((kind, obj, names))

    def translations(self, kind: str) -> dict[str, dict[str, str]]:
        """{slug: {language: name}} of one kind, from the cleaned data."""
        out: dict[str, dict[str, str]] = {}
        for group_kind, obj, names in self.groups:
            if group_kind == kind:
                out[obj.slug] = {
                    code: self.cleaned_data.get(name, "")
                    for (code, _label), name in zip(self.languages, names, strict=True)
                }
        return out

    def rows(self):
        """(kind, object, bound fields) for the template."""
        return [(kind, obj, [self[n] for n in names]) for kind, obj, names in self.groups]
