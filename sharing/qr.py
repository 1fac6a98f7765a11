"""QR codes of links, drawn on the server as SVG with `qrcode` (as the two-factor enrolment's):
no outside service ever sees a link."""

from io import BytesIO

from django.http import HttpResponse

from files.responses import content_disposition


def link_qr_svg(url: str) -> bytes:
    """The URL as an SVG QR code (one <path>, no script, no external reference)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(
        url,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    out = BytesIO()
    image.save(out)
    return out.getvalue()


def link_qr_response(url: str, *, filename: str, attachment: bool) -> HttpResponse:
    """The QR code as an answer of its own: SVG, inline (for an <img>) or as an attachment."""
    response = HttpResponse(link_qr_svg(url), content_type="image/svg+xml")
    disposition = "attachment" if attachment else "inline"
    response["Content-Disposition"] = content_disposition(disposition, filename)
    # The drawing is ours (one <path>, no style), but an SVG opened on its own is a document:
    # nothing in it may run, load or be framed.
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
