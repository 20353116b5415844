from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from django_seeclickfix.client import RequestType

from .spots import SPOTS


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdField(forms.CharField):
    """A fresh idempotency key per form: submitting the same form twice posts once."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=64, min_length=16, **kwargs)
        self.initial = new_request_id


class CommentForm(forms.Form):
    request_id = RequestIdField()
    comment = forms.CharField(
        label=_("Add a comment"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("Still there this morning…")}),
    )


class WhereWhatForm(forms.Form):
    """Step 1 of a report: the spot and the kind of problem."""

    spot = forms.ChoiceField(label=_("Where is it?"), choices=[(s.key, s.label) for s in SPOTS])
    request_type = forms.ChoiceField(label=_("What is it?"))

    def __init__(self, *args: Any, request_types: list[RequestType], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["request_type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (str(rt.id), rt.title or str(rt.id)) for rt in request_types if rt.id is not None
        ]


class DetailsForm(forms.Form):
    """Step 2: the request type's own questions, then a free description."""

    request_id = RequestIdField()
    description = forms.CharField(
        label=_("Describe the problem"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    summary = forms.CharField(label=_("In a few words"), max_length=120)

    def __init__(self, *args: Any, request_type: RequestType, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if request_type.id != "other":
            # SeeClickFix titles an issue after its request type; only "Other" needs a summary.
            del self.fields["summary"]
        self.question_keys: list[str] = []
        for question in request_type.questions:
            name = f"q__{question.primary_key}"
            label = question.question or question.primary_key
            field: forms.Field
            if question.choices:
                choices = [(c, c) for c in question.choices]
                if not question.required:
                    choices.insert(0, ("", "—"))
                field = forms.ChoiceField(label=label, choices=choices, required=question.required)
            else:
                field = forms.CharField(label=label, max_length=500, required=question.required)
            self.fields[name] = field
            self.question_keys.append(question.primary_key)
        # the description last, after the city's questions
        self.order_fields(["summary", *(f"q__{key}" for key in self.question_keys)])

    def answers(self) -> dict[str, str]:
        return {
            key: self.cleaned_data[f"q__{key}"]
            for key in self.question_keys
            if self.cleaned_data.get(f"q__{key}")
        }
