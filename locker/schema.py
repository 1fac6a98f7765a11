"""The OpenAPI schema view (`/api/v1/schema/`), built once per process and language."""

import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation
from drf_spectacular.utils import extend_schema
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
    (so it is the same for everyone, as `manage.py spectacular` writes it), and kept: one entry
    per configured language, whatever `?lang=` asks for.
    """

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        # drf-spectacular activates `?lang=` as given, and Django keeps a translation object
        # for every code ever activated: only a configured language may be activated here.
        language = _supported(request.GET.get("lang")) or _supported(translation.get_language())
        language = language or settings.LANGUAGE_CODE
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


def _supported(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code[:20])
    except LookupError:
        return None
