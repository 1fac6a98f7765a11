import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("files", "0005_upload_reservation_public_ids")]

    operations = [
        migrations.AlterField(
            model_name='uploadreservation',
            name='public_id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='tusupload',
            name='reservation',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='tus_upload', to='files.uploadreservation'),
        ),
        migrations.AlterField(
            model_name='uploadreservation',
            name='expires_at',
            field=models.DateTimeField(db_index=True, help_text='The lease: counted until then.'),
        ),
    ]
