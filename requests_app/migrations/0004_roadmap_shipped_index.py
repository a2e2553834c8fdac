from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0003_list_and_agenda_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="featurerequest",
            index=models.Index(
                condition=models.Q(("status", "shipped")),
                fields=["shipped_at"],
                name="req_recently_shipped",
            ),
        ),
    ]
