import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_database_is_the_one_this_pass_asked_for(request):
    wanted = {"sqlite": "sqlite", "postgres": "postgresql"}[request.config.getoption("scf_db")]
    assert connection.vendor == wanted
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_redis_server_is_real_and_restartable(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url())
    client.set("k", "v")
    assert client.get("k") == b"v"
    redis_server.restart()
    assert redis.Redis.from_url(redis_server.url()).get("k") is None
