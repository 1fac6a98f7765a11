from django.urls import path

from doctor.api import ClientAddressView

urlpatterns = [
    path("client-address/", ClientAddressView.as_view(), name="api-doctor-client-address"),
]
