from django import forms

from pb.core.notifications.models import NotificationSettings


class NotificationSettingsForm(forms.ModelForm):
    class Meta:
        model = NotificationSettings
        fields = ["email_events", "email_digest", "ballot_reminders"]
