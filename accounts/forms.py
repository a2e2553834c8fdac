from django import forms

from .models import User


class NotificationForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["notification_mode"]
        widgets = {"notification_mode": forms.RadioSelect}
        help_texts = {
            "notification_mode": "Emails about requests you raised or follow, your team's inbox "
            "and, for product roles, new escalations."
        }
