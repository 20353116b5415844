import pytest
from django.urls import reverse

from django_seeclickfix import actions


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_actions_are_listed_searchable_and_read_only(staff_client, make_account):
    account = make_account(access_token="SENTINEL-ACCESS")
    actions.queue_comment(account, 77, "Still there", request_id="form-1")
    actions.queue_comment(account, 78, "Getting worse", request_id="form-2")
    url = reverse("admin:seeclickfix_seeclickfixaction_changelist")

    listing = staff_client.get(url)
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    assert staff_client.get(url, {"q": "form-2"}).context["cl"].result_count == 1
    assert staff_client.get(url, {"q": "78"}).context["cl"].result_count == 1
    assert "SENTINEL" not in listing.content.decode()
    assert staff_client.get(reverse("admin:seeclickfix_seeclickfixaction_add")).status_code == 403
    pk = listing.context["cl"].result_list[0].pk
    change = staff_client.post(
        reverse("admin:seeclickfix_seeclickfixaction_change", args=[pk]), {"status": "failed"}
    )
    assert change.status_code == 403
