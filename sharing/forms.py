"""Forms of the owner's pages (/shares/…). They validate input; the services decide."""

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from locker.env import MAX_BYTES, SizeTooLarge, parse_size
from locker.formats import size_exact_text
from sharing import services

EXPIRY_CHOICES = [
    ("1h", _("1 hour")),
    ("1d", _("1 day")),
    ("7d", _("7 days")),
    ("30d", _("30 days")),
    ("never", _("Never")),
]

# What "preview only" protects, said where the choice is made (also in the Share dialog).
PREVIEW_ONLY_HELP = _(
    "Off: preview only. Images and PDFs are shown as a reduced image (of a PDF, its first "
    "page), never the file itself; audio, video and text play from the file itself, which a "
    "visitor can still save."
)


def expiry_choices():
    choices = list(EXPIRY_CHOICES)
    if settings.LOCKER_SHARE_MAX_EXPIRY or not settings.LOCKER_SHARE_ALLOW_NEVER:
        choices = [c for c in choices if c[0] != "never"]
    return choices


class LinkForm(forms.Form):
    """What every link form has: the expiry, as a choice (`expires_in`) or a local date and
    time (`expires_at`, which wins), and a password. When editing, the expiry offers
    "Unchanged" first and the password a way to remove it (`remove_password`)."""

    # The fields of this base; a kind's form adds its options (named as its services name them).
    COMMON_FIELDS = ("expires_in", "expires_at", "password", "remove_password")

    expires_in = forms.ChoiceField(label=_("Expires after"), required=False)
    expires_at = forms.DateTimeField(
        label=_("Or expires at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    password = forms.CharField(
        label=_("Password"), required=False, strip=False, widget=forms.PasswordInput
    )

    def __init__(self, *args, editing: bool = False, has_password: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        choices = expiry_choices()
        if editing:
            choices = [("", _("Unchanged")), *choices]
            if has_password:
                # Only a link with a password can lose it; the box sits under the field.
                self.fields["password"].help_text = _(
                    "Leave empty to keep the current password; tick the box below to remove it."
                )
                self.fields["remove_password"] = forms.BooleanField(
                    label=_("Remove the password"), required=False
                )
                self.order_fields(self.field_order)
            else:
                self.fields["password"].help_text = _("Empty: no password.")
        else:
            self.fields["expires_in"].initial = self.initial_expiry()
        self.fields["expires_in"].choices = choices

    def initial_expiry(self) -> str:
        return "7d"

    def options(self) -> dict:
        """The cleaned options of the kind (every field but the common ones)."""
        return {k: v for k, v in self.cleaned_data.items() if k not in self.COMMON_FIELDS}

    def clean_expiry(self):
        data = self.cleaned_data
        if data.get("expires_at"):
            when = data["expires_at"]
            if timezone.is_naive(when):
                when = timezone.make_aware(when)
            return when
        if data.get("expires_in"):
            return services.expiry_resolve(expires_in=data["expires_in"])
        return services.UNSET


class ShareForm(LinkForm):
    field_order = [
        "expires_in",
        "expires_at",
        "max_downloads",
        "password",
        "remove_password",
        "allow_download",
        "notify",
        "label",
    ]

    max_downloads = forms.IntegerField(
        label=_("Maximum downloads"),
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text=_("Empty: no limit."),
    )
    allow_download = forms.BooleanField(
        label=_("Allow downloading"),
        required=False,
        initial=True,
        help_text=PREVIEW_ONLY_HELP,
    )
    notify = forms.BooleanField(label=_("E-mail me about downloads"), required=False)
    label = forms.CharField(label=_("Label"), required=False, max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_at"].help_text = _("A date and time overrides the choice above.")
        self.fields["password"].widget.attrs["autocomplete"] = "new-password"

    def initial_expiry(self) -> str:
        default = settings.LOCKER_SHARE_DEFAULT_EXPIRY
        match = {3600: "1h", 86400: "1d", 7 * 86400: "7d", 30 * 86400: "30d", 0: "never"}
        return match.get(default, "7d")


class UploadLinkForm(LinkForm):
    field_order = [
        "expires_in",
        "expires_at",
        "max_files",
        "max_file_size",
        "password",
        "remove_password",
        "message",
        "label",
        "notify",
    ]

    max_files = forms.IntegerField(
        label=_("Maximum number of files"), required=False, min_value=1, max_value=2**31 - 1
    )
    max_file_size = forms.CharField(
        label=_("Maximum size per file"),
        required=False,
        help_text=_("For example 100M or 2G. Empty: no limit beyond the server's."),
    )
    message = forms.CharField(
        label=_("Message to uploaders"), required=False, max_length=2000, widget=forms.Textarea
    )
    label = forms.CharField(label=_("Label"), required=False, max_length=200)
    notify = forms.BooleanField(
        label=_("E-mail me about new uploads"), required=False, initial=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Shown as a person would type it ("5 MiB"), never as a count of bytes ("5242880").
        current = self.initial.get("max_file_size")
        if isinstance(current, int):
            self.initial["max_file_size"] = size_exact_text(current)

    def clean_max_file_size(self):
        raw = self.cleaned_data.get("max_file_size", "").strip()
        if not raw:
            return None
        try:
            value = parse_size(raw)
        except SizeTooLarge:
            raise forms.ValidationError(
                _("A size can be at most %(max)s bytes (8 EiB).") % {"max": MAX_BYTES}
            ) from None
        except ValueError:
            raise forms.ValidationError(_("Give a size such as 100M or 2G.")) from None
        if value < 1:
            raise forms.ValidationError(_("The size limit must be at least one byte."))
        return value
