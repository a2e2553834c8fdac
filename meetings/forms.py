from django import forms
from django.utils.choices import BaseChoiceIterator
from django.utils.safestring import mark_safe

from accounts.models import User

from .html import text
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


class OptionsSelect(forms.Select):
    """forms.Select's HTML with its <option>s joined in Python, not rendered through a template
    each: for the 200 users an action item's owner may be, those templates cost some 7 ms a
    page. Choices in groups are left to forms.Select."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen, has_selected, options = self.format_value(value), False, []
        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):
                return super().render(name, value, attrs, renderer)
            option_value = "" if option_value is None else str(option_value)
            selected = not has_selected and option_value in chosen
            has_selected |= selected
            options.append(
                f'\n  <option value="{text(option_value)}"'
                f"{' selected' if selected else ''}>{text(label)}</option>\n"
            )
        # The markup of Django's select.html, select_option.html and attrs.html.
        attrs_html = "".join(
            f" {text(key)}" + ("" if attr is True else f'="{text(attr)}"')
            for key, attr in self.build_attrs(self.attrs, attrs).items()
            if attr is not False
        )
        return mark_safe(  # noqa: S308 (every name and value above is escaped)
            f'<select name="{text(name)}"{attrs_html}>{"".join(options)}\n</select>'
        )


class ActionItemForm(forms.Form):
    title = forms.CharField(max_length=300)
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True), widget=OptionsSelect
    )
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, owners=None, **kwargs):
        """owners: the active users (the owner queryset's rows, in its order) when the page has
        read them already; the choices are built from them instead of a second query. A posted
        owner is still checked against the queryset."""
        super().__init__(*args, **kwargs)
        if owners is not None:
            field = self.fields["owner"]
            blank = [] if field.empty_label is None else [("", field.empty_label)]
            field.choices = _Built(blank + [(u.pk, field.label_from_instance(u)) for u in owners])


class _Built(BaseChoiceIterator):
    """Choices already in Django's (value, label) form. Handed over as a list, the field and
    then its widget would each normalize all 200 again (about 1 ms a page)."""

    def __init__(self, choices):
        self.choices = choices

    def __iter__(self):
        return iter(self.choices)
