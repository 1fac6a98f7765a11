"""The OpenAPI schema view (`/api/v1/schema/`), built once per process and language."""

import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response

_schemas: dict[str, dict] = {}
_schemas_lock = threading.Lock()


@receiver(setting_changed)
def _forget_schemas(**kwargs) -> None:
    """Tests change settings (URLconfs, limits): the next request builds the schema again."""
    with _schemas_lock:
        _schemas.clear()


class SchemaView(SpectacularAPIView):
    """`/api/v1/schema/`: the OpenAPI document, built once per process and language.

    drf-spectacular's generator is not thread-safe (it hangs the view being inspected on a
    class-level descriptor and resets module-level counters), so two requests generating at
    once on a threaded server failed with "Schema generation REQUIRES a view instance". The
    document only changes with the code: it is built under a lock, without the caller's request
    (so it is the same for everyone, as `manage.py spectacular` writes it), and kept. The cache
    holds one entry per configured language, whatever `?lang=` asks for.
    """

    def _get_schema_response(self, request):
        try:
            language = translation.get_supported_language_variant(translation.get_language())
        except LookupError:
            language = settings.LANGUAGE_CODE
        schema = _schemas.get(language)
        if schema is None:
            with _schemas_lock:
                schema = _schemas.get(language)
                if schema is None:
                    with translation.override(language):
                        generator = self.generator_class(
                            urlconf=self.urlconf, api_version=self.api_version
                        )
                        schema = generator.get_schema(request=None, public=self.serve_public)
                    _schemas[language] = schema
        return Response(
            data=schema,
            headers={
                "Content-Disposition": f'inline; filename="{self._get_filename(request, None)}"'
            },
        )
