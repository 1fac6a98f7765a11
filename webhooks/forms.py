from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks.models import Event, Webhook


class WebhookForm(forms.Form):
    url = forms.CharField(
        label=_("URL"),
        max_length=4000,
        help_text=_("An https:// address on the public internet; Locker POSTs the events to it."),
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/locker-events"}),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(Event.values),
    )
    scope = forms.ChoiceField(label=_("Whose events"), choices=Webhook.Scope.choices)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not user.is_staff:
            del self.fields["scope"]
