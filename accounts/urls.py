from django.urls import include, path

from accounts import audit_views, views

urlpatterns = [
    # Before Django's own URLs so that this one wins.
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("", include("django.contrib.auth.urls")),
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
