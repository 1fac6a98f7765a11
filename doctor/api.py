"""The one endpoint manage.py doctor needs: the client's address as Locker computed it.

Staff only: it would tell anyone else the proxy's internal address when the proxy is set up
wrong, and confirm to an attacker that a forged X-Forwarded-For is believed."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import TokenScopes
from locker.network import client_ip


class ClientAddressView(APIView):
    permission_classes = [permissions.IsAuthenticated, permissions.IsAdminUser, TokenScopes]
    required_scopes = {"GET": "admin"}

    @extend_schema(
        operation_id="doctor_client_address",
        summary="Your address as Locker sees it (staff only)",
        description=(
            "The client address every throttle and the audit log use, computed from the "
            "connection and, behind LOCKER_PROXY_COUNT proxies, X-Forwarded-For. "
            "`manage.py doctor` compares it with its own."
        ),
        responses=inline_serializer(
            "ClientAddress",
            {"client_ip": serializers.CharField(allow_null=True, help_text="Null when unknown.")},
        ),
    )
    def get(self, request):
        response = Response({"client_ip": client_ip(request)})
        response["Cache-Control"] = "no-store"
        return response
