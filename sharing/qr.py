"""QR codes of links, drawn on the server as SVG with `qrcode` (as the two-factor enrolment's):
no outside service ever sees a link."""

from io import BytesIO


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
