from django import forms

from accounts.models import User

from .models import MeetingSeries


class SeriesForm(forms.ModelForm):
    extra_attendees = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="The Head of Sales and the Head of Product always attend.",
    )

    class Meta:
        model = MeetingSeries
        fields = [
            "name",
            "weekday",
            "start_time",
            "time_zone",
            "duration_minutes",
            "digest_lead_hours",
        ]
        widgets = {"start_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}

    def clean_digest_lead_hours(self):
        hours = self.cleaned_data["digest_lead_hours"]
        if not 1 <= hours <= 168:
            raise forms.ValidationError("Send the digest between 1 and 168 hours before.")
        return hours

    def clean_duration_minutes(self):
        minutes = self.cleaned_data["duration_minutes"]
        if not 5 <= minutes <= 480:
            raise forms.ValidationError("A meeting lasts between 5 and 480 minutes.")
        return minutes


class ActionItemForm(forms.Form):
    title = forms.CharField(max_length=300)
    owner = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True))
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, owners=None, **kwargs):
        """owners: the active users (the owner queryset's rows, in its order) when the page has
        read them already; the choices are built from them instead of a second query. A posted
        owner is still checked against the queryset."""
        super().__init__(*args, **kwargs)
        if owners is not None:
            field = self.fields["owner"]
            blank = [] if field.empty_label is None else [("", field.empty_label)]
            field.choices = blank + [(u.pk, field.label_from_instance(u)) for u in owners]
