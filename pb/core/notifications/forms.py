from django import forms

from pb.core.notifications.models import NotificationSettings


class NotificationSettingsForm(forms.ModelForm):
    class Meta:
        model = NotificationSettings
        # ballot_reminders is not offered until the ballots app sends the reminder it stands for.
        fields = ["email_events", "email_digest"]
