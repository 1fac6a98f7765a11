from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import audit_views, oidc_views, twofactor_views, views
from accounts.forms import ChangePasswordForm, ResetPasswordForm

urlpatterns = [
    # Before Django's own URLs so that these win.
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password_change/",
        auth_views.PasswordChangeView.as_view(form_class=ChangePasswordForm),
        name="password_change",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(form_class=ResetPasswordForm),
        name="password_reset_confirm",
    ),
    path("login/", twofactor_views.LoginView.as_view(), name="login"),
    path("login/code/", twofactor_views.login_2fa, name="login_2fa"),
    path("logout/", oidc_views.LogoutView.as_view(), name="logout"),
    path("oidc/login/", oidc_views.oidc_login, name="oidc_login"),
    path("oidc/callback/", oidc_views.oidc_callback, name="oidc_callback"),
    path("", include("django.contrib.auth.urls")),
    path("2fa/", twofactor_views.two_factor, name="two_factor"),
    path("2fa/setup/", twofactor_views.two_factor_setup, name="two_factor_setup"),
    path("2fa/setup/qr.svg", twofactor_views.two_factor_qr, name="two_factor_qr"),
    path("2fa/disable/", twofactor_views.two_factor_disable, name="two_factor_disable"),
    path("2fa/backup-codes/", twofactor_views.backup_codes_new, name="backup_codes_new"),
    path("2fa/backup-codes/new/", twofactor_views.backup_codes_show, name="backup_codes_show"),
    path("2fa/reset/<int:user_id>/", twofactor_views.two_factor_reset, name="two_factor_reset"),
    path("reauthenticate/", twofactor_views.reauthenticate, name="reauthenticate"),
    path("profile/", views.profile, name="profile"),
    path("activity/", audit_views.activity, name="activity"),
    path("audit/", audit_views.audit_log, name="audit_log"),
    path("audit/export.csv", audit_views.audit_export, name="audit_export"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("invite/", views.invite, name="invite"),
    path("invite/<int:user_id>/resend/", views.invitation_resend, name="invitation_resend"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("signup/", views.signup, name="signup"),
    path("signup/sent/", views.signup_done, name="signup_done"),
    path("signup/<str:token>/", views.signup_complete, name="signup_complete"),
]
