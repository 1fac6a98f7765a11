from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    SetPasswordForm,
    SetPasswordMixin,
)
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts import scopes as token_scopes
from accounts.models import User

TOKEN_EXPIRY_CHOICES = [
    ("", _("Never")),
    ("7", _("In 7 days")),
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("365", _("In a year")),
]


class LoginForm(AuthenticationForm):
    """Django's log-in form; when the directory (LDAP) was what failed, it says so."""

    def get_invalid_login_error(self):
        from accounts import ldap

        if ldap.directory_unreachable(self.request):
            return forms.ValidationError(ldap.UNREACHABLE_MESSAGE, code="directory_unreachable")
        if refusal := ldap.directory_refusal(self.request):
            message = (
                ldap.NOT_ALLOWED_MESSAGE if refusal == ldap.NOT_IN_GROUP else ldap.CONFLICT_MESSAGE
            )
            return forms.ValidationError(message, code="directory_refused")
        return super().get_invalid_login_error()


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"),
        max_length=150,
        required=False,
        help_text=_("Shown to people you share with instead of your username."),
    )
    email = forms.EmailField(label=_("E-mail address"))
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        help_text=_("Of the pages and of the e-mails Locker sends you."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each language in its own name: the one who cannot read the current one finds theirs.
        self.fields["language"].choices = [("", _("As your browser"))] + language_choices()


def language_choices() -> list[tuple[str, str]]:
    from django.utils.translation import get_language_info

    return [(code, get_language_info(code)["name_local"]) for code, _name in settings.LANGUAGES]


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the token is for, e.g. “backup script on my laptop”."),
    )
    expires_in_days = forms.TypedChoiceField(
        label=_("Expires"),
        choices=TOKEN_EXPIRY_CHOICES,
        required=False,
        coerce=int,
        empty_value=None,
    )

    scopes = forms.MultipleChoiceField(
        label=_("What it may do"),
        widget=forms.CheckboxSelectMultiple,
        initial=[token_scopes.ALL],
        error_messages={"required": _("Choose at least one scope.")},
    )
    folder = forms.CharField(
        label=_("Only inside the folder"),
        max_length=2000,
        required=False,
        help_text=_(
            "A folder path such as “Invoices/2026”: the token then sees and changes nothing "
            "outside it. Empty: your whole locker."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Scope names are the API's words, shown as code in every language.
        self.fields["scopes"].choices = [
            (token_scopes.ALL, _("Everything you may do")),
            *(
                (name, format_html("<code>{}</code> {}", name, text))
                for name, text in token_scopes.SCOPES.items()
            ),
        ]
        self.fields["scopes"].help_text = mark_safe(  # noqa: S308 - the sentence is escaped
            escape(_("Give a token only what it needs: a script that uploads needs %(scope)s."))
            % {"scope": "<code>files:write</code>"}
        )

    def expires_at(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


class InviteForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[User.username_validator],
        help_text=User._meta.get_field("username").help_text,
    )
    email = forms.EmailField(
        label=_("E-mail address"), help_text=_("The invitation link is sent here.")
    )


class SignupForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[User.username_validator],
        help_text=User._meta.get_field("username").help_text,
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        help_text=_("We send a link to this address to finish signing up."),
    )


class ChoosePasswordForm(SetPasswordForm):
    """Choose a first password; validated against the (possibly unsaved) user it is for.

    The services set the password, so this form's save() is not used.
    """

    new_password1, new_password2 = SetPasswordMixin.create_password_fields(
        label1=_("Password"), label2=_("Password (again)")
    )


def revoke_tokens_field() -> forms.BooleanField:
    return forms.BooleanField(
        label=_("Also revoke my API tokens"),
        required=False,
        initial=True,
        help_text=_(
            "Scripts and apps that use one of your tokens stop working until you give them a "
            "new one. Keep this on if someone else may have known your password."
        ),
    )


class NewPasswordFormMixin:
    """Saving goes through services.password_set, which can revoke the user's API tokens."""

    how = ""

    def save(self, commit=True):
        from accounts.services import password_set

        password_set(
            user=self.user,
            password=self.cleaned_data["new_password1"],
            revoke_tokens=self.cleaned_data["revoke_tokens"],
            how=self.how,
        )
        return self.user


class ChangePasswordForm(NewPasswordFormMixin, PasswordChangeForm):
    how = "change"
    revoke_tokens = revoke_tokens_field()


class ResetPasswordForm(NewPasswordFormMixin, SetPasswordForm):
    how = "reset"
    revoke_tokens = revoke_tokens_field()
