# Blob moves to the storage app (storage/migrations/0001_initial.py, then 0009 here). The storage
# engine's model must not point at the uploads domain, so its reference to the upload
# reservation writing it becomes a plain column first: same column, same index, no foreign key
# constraint. No data changes; a reservation's row being gone now counts as no reservation
# (storage.cleanup.cleanup_abandoned_blobs), as SET_NULL used to make it.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0007_merge_processing_and_leases"),
    ]

    operations = [
        migrations.AlterField(
            model_name="blob",
            name="reservation",
            field=models.BigIntegerField(
                blank=True, db_column="reservation_id", db_index=True, null=True
            ),
        ),
    ]
