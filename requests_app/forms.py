import datetime as dt

from django import forms
from django.utils import timezone

from .models import (
    MAX_PROBLEM_LENGTH,
    Currency,
    Deal,
    FeatureRequest,
    Importance,
    ProductTheme,
    Stage,
    Status,
)

MAX_ARR = 10**11


class RequestForm(forms.ModelForm):
    class Meta:
        model = FeatureRequest
        fields = ["title", "problem", "proposed_solution", "importance", "theme"]
        labels = {
            "problem": "The customer's problem",
            "proposed_solution": "Proposed solution (optional)",
            "theme": "Time horizon",
        }
        widgets = {
            "title": forms.TextInput(
                attrs={
                    "autocomplete": "off",
                    "hx-get": "/requests/similar/",
                    "hx-trigger": "input changed delay:300ms",
                    "hx-target": "#similar",
                    "hx-swap": "innerHTML",
                }
            ),
            "problem": forms.Textarea(attrs={"rows": 5}),
            "proposed_solution": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["theme"].queryset = ProductTheme.objects.filter(is_active=True)
        self.fields["theme"].empty_label = "Tactical: needed within 12 months"
        self.fields["problem"].max_length = MAX_PROBLEM_LENGTH
        self.fields["problem"].widget.attrs["maxlength"] = MAX_PROBLEM_LENGTH

    def clean_title(self):
        title = " ".join(self.cleaned_data["title"].split())
        if not title:
            raise forms.ValidationError("Give the request a title.")
        return title

    def clean_problem(self):
        problem = self.cleaned_data["problem"].strip()
        if not problem:
            raise forms.ValidationError("Describe the problem the customer has.")
        return problem


class DealForm(forms.ModelForm):
    amount = forms.DecimalField(
        label="ARR at stake",
        min_value=0,
        max_value=MAX_ARR,
        max_digits=14,
        decimal_places=2,
        error_messages={"invalid": "Enter the ARR as a number, e.g. 120000."},
    )
    # The initial values are what the selects show untouched, so an untouched deal form counts
    # as empty and a draft can be saved without a deal.
    currency = forms.ChoiceField(
        choices=Currency.choices,
        initial=Currency.USD,
        error_messages={
            "invalid_choice": "Choose a currency from the list (%(value)s is not one)."
        },
    )
    stage = forms.ChoiceField(choices=Stage.choices, initial=Stage.QUALIFIED)

    class Meta:
        model = Deal
        fields = ["account_name", "amount", "currency", "stage", "expected_close_date", "crm_ref"]
        labels = {"account_name": "Account"}
        widgets = {"expected_close_date": forms.DateInput(attrs={"type": "date"})}

    def clean_account_name(self):
        name = " ".join(self.cleaned_data["account_name"].split())
        if not name:
            raise forms.ValidationError("Name the account.")
        return name

    def clean_expected_close_date(self):
        day = self.cleaned_data["expected_close_date"]
        today = timezone.localdate()
        if day < today - dt.timedelta(days=365) or day > today + dt.timedelta(days=3 * 365):
            raise forms.ValidationError(
                "Pick a close date within a year back and three years ahead."
            )
        return day


DealFormSet = forms.formset_factory(
    DealForm, extra=1, max_num=20, validate_max=True, can_delete=False
)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class EscalateForm(forms.Form):
    # Choices from the quarters the caller already loaded: a ModelChoiceField would query
    # them again each time the select is rendered.
    quarter = forms.ChoiceField()

    def __init__(self, *args, quarters=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["quarter"].choices = [(q.pk, str(q)) for q in quarters]


class RequestFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Status.choices])
    quarter = forms.CharField(required=False)
    team = forms.IntegerField(required=False)
    importance = forms.ChoiceField(
        required=False, choices=[("", "Any importance"), *Importance.choices]
    )
    theme = forms.CharField(required=False)
    account = forms.CharField(required=False, max_length=120)
