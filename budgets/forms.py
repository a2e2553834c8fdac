from django import forms

from .services import MAX_CAPACITY


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(
        min_value=1,
        max_value=MAX_CAPACITY,
        label="Engineering capacity (story points)",
        error_messages={"invalid": "Enter a whole number of story points."},
    )
    percentage = forms.IntegerField(
        min_value=1,
        max_value=100,
        label="Sales share (%)",
        error_messages={"invalid": "Enter a whole percentage between 1 and 100."},
    )
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason (optional)",
        widget=forms.TextInput(attrs={"placeholder": "e.g. two engineers join in May"}),
    )
