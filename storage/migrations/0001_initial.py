# The Blob model comes from the files app with its table: files_blob, created and shaped by the
# files migrations up to 0008, is taken over as it is (state only, no database operation).
# files/migrations/0009 then removes Blob from the files app's state.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("files", "0008_blob_reservation_plain_column"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Blob",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("storage_key", models.CharField(max_length=80, unique=True)),
                        ("master_key_id", models.CharField(db_index=True, max_length=32)),
                        ("wrapped_key", models.BinaryField()),
                        ("segment_size", models.PositiveIntegerField()),
                        (
                            "size",
                            models.BigIntegerField(
                                default=0, help_text="Plaintext size in bytes."
                            ),
                        ),
                        (
                            "state",
                            models.CharField(
                                choices=[("writing", "being written"), ("complete", "complete")],
                                default="writing",
                                max_length=16,
                            ),
                        ),
                        (
                            "created_at",
                            models.DateTimeField(
                                db_index=True, default=django.utils.timezone.now
                            ),
                        ),
                        ("completed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "holder",
                            models.BigIntegerField(
                                blank=True, db_column="reservation_id", db_index=True, null=True
                            ),
                        ),
                    ],
                    options={
                        "db_table": "files_blob",
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
