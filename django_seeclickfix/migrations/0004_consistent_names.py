"""0.2 names: ``SeeClickFixAccount.user_scf_id`` (was ``scf_user_id``) beside the other
``*_scf_id`` columns, and ``SeeClickFixAreaFeed`` (was ``AreaFeed``) beside the other models."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("seeclickfix", "0003_area_feed"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="seeclickfixaccount", name="seeclickfix_account_unique_scf_user"
        ),
        migrations.RenameField(
            model_name="seeclickfixaccount", old_name="scf_user_id", new_name="user_scf_id"
        ),
        migrations.AddConstraint(
            model_name="seeclickfixaccount",
            constraint=models.UniqueConstraint(
                fields=("environment", "user_scf_id"), name="seeclickfix_account_unique_scf_user"
            ),
        ),
        migrations.RenameModel(old_name="AreaFeed", new_name="SeeClickFixAreaFeed"),
    ]
