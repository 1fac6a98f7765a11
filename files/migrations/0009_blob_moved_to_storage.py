# Blob now belongs to the storage app (storage/migrations/0001_initial.py), table unchanged: the
# relations to it point at storage.Blob and files forgets the model. State only: the columns and
# foreign key constraints of files_file, files_thumbnail and files_tusupload stay as they are.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0008_blob_reservation_plain_column"),
        ("storage", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="file",
                    name="blob",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="file",
                        to="storage.blob",
                    ),
                ),
                migrations.AlterField(
                    model_name="thumbnail",
                    name="blob",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="thumbnail",
                        to="storage.blob",
                    ),
                ),
                migrations.AlterField(
                    model_name="tusupload",
                    name="blob",
                    field=models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tus_upload",
                        to="storage.blob",
                    ),
                ),
                migrations.DeleteModel(name="Blob"),
            ],
            database_operations=[],
        ),
    ]
