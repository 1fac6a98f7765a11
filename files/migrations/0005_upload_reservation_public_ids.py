import datetime
import uuid

import django.utils.timezone
from django.db import migrations


def fill_public_ids_and_shorten_leases(apps, schema_editor):
    """Give each reservation its own public id; a form upload's reservation (no tus upload)
    made before leases existed counts two more minutes at most, like a lapsed lease would."""
    reservation_model = apps.get_model("files", "UploadReservation")
    tus_model = apps.get_model("files", "TusUpload")
    with_tus = set(tus_model.objects.exclude(reservation=None).values_list("reservation_id", flat=True))
    cap = django.utils.timezone.now() + datetime.timedelta(minutes=2)
    for reservation in reservation_model.objects.all():
        reservation.public_id = uuid.uuid4()
        if reservation.pk not in with_tus and reservation.expires_at > cap:
            reservation.expires_at = cap
        reservation.save(update_fields=["public_id", "expires_at"])


class Migration(migrations.Migration):
    """Its own migration (transaction): data changes and the unique index that follows them
    do not share one on PostgreSQL."""

    dependencies = [("files", "0004_upload_leases")]

    operations = [
        migrations.RunPython(fill_public_ids_and_shorten_leases, migrations.RunPython.noop),
    ]
