"""Figures of the background jobs: a pass over many accounts with real Celery workers.

    .venv/bin/python benchmarks/jobs_pass.py                       # 200 accounts, 2 pool procs
    .venv/bin/python benchmarks/jobs_pass.py --accounts 500 --concurrency 4 --issues 10

Starts a throwaway PostgreSQL and Redis (``tests/servers.py``), the emulator in this process
with its rate limit raised (``--emulator-limit``, requests per minute; the client's shared budget
is set to the same), links ``--accounts`` emulator users with ``--issues`` issues each, and a
prefork ``celery worker`` (``tests/workers.py``). Then:

1. **Cold pass**: ``sync_all_accounts`` queues every account; wall time until every account has
   synced (profile + issues), and the requests the emulator served.
2. **Unchanged passes**: the accounts are made due again twice and the pass repeated; requests
   per account (1.0 expected: one short page after the cold pass, then one 304).
3. **Queries per page**: a sync of one page of 10, then of 100 new issues, in this process;
   all its database queries (the same for both expected: token re-read, one bulk upsert, one
   cursor update, plus the sync's fixed account reads and final update).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import PostgresServer, RedisServer  # noqa: E402


def setup_django(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE scf")
    os.environ["SCF_TEST_DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def link_accounts(emulator: Any, accounts: int, issues: int) -> list[int]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_seeclickfix.models import SeeClickFixAccount

    ids = []
    now = timezone.now()
    for scf_user in emulator.generate_users(accounts, prefix="bench"):
        for n in range(issues):
            emulator.add_issue(
                scf_user,
                summary=f"Issue {n}",
                created_at=now - timedelta(days=60, minutes=n),
                updated_at=now - timedelta(days=30, minutes=n),
            )
        token = emulator.issue_token(scf_user)
        user = get_user_model().objects.create_user(f"bench-{scf_user.id}")
        account = SeeClickFixAccount.objects.create(
            user=user,
            environment="emulator",
            scf_user_id=scf_user.id,
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=now + timedelta(seconds=token.expires_in or 7200),
        )
        ids.append(account.pk)
    return ids


def timed_pass(emulator: Any, expected: int, timeout: float) -> tuple[float, int]:
    """Queue a pass; seconds until ``expected`` accounts have synced since, and requests."""
    from django.utils import timezone

    from django_seeclickfix import tasks
    from django_seeclickfix.models import SeeClickFixAccount

    emulator.clear_log()
    started_at = timezone.now()
    started = time.perf_counter()
    tasks.sync_all_accounts.delay()
    deadline = started + timeout
    while True:
        done = SeeClickFixAccount.objects.filter(last_synced_at__gte=started_at).count()
        if done >= expected:
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"Only {done}/{expected} accounts synced in {timeout:g} s.")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    return elapsed, len(emulator.requests("/api/v2"))


def make_due() -> None:
    from django.utils import timezone

    from django_seeclickfix.models import SeeClickFixAccount

    SeeClickFixAccount.objects.update(last_synced_at=timezone.now() - timedelta(days=1))


def queries_for_one_page(emulator: Any, size: int) -> int:
    """Database queries of a sync that reads one page of ``size`` new issues (profile fresh)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from django_seeclickfix import sync
    from django_seeclickfix.models import SeeClickFixAccount

    (account_id,) = link_accounts(emulator, 1, size)
    SeeClickFixAccount.objects.filter(pk=account_id).update(profile_synced_at=timezone.now())
    account = SeeClickFixAccount.objects.select_related("user").get(pk=account_id)
    with CaptureQueriesContext(connection) as captured:
        result = sync.sync_account(account)
    assert (result.pages, result.issues) == (1, size)
    return len(captured.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--issues", type=int, default=5, help="issues per account")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument(
        "--emulator-limit", type=int, default=60000, help="emulator requests per minute"
    )
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    postgres = PostgresServer().start()
    redis = RedisServer().start()
    try:
        setup_django(postgres.url)
        from django.conf import settings

        from django_seeclickfix.testing.configure import emulator_settings
        from django_seeclickfix.testing.emulator import Emulator
        from tests.workers import CeleryWorker, worker_settings

        emulator = Emulator(port=0, seed="empty", rate_limit=(args.emulator_limit, 60.0)).start()
        for name, value in emulator_settings(
            emulator, RATE_LIMIT_REQUESTS=args.emulator_limit, RATE_LIMIT_PERIOD=60
        ).items():
            setattr(settings, name, value)
        values = worker_settings(
            redis,
            visibility_timeout=3600,
            seeclickfix={
                "TASK_TIME_LIMIT": 300,
                "TASK_SOFT_TIME_LIMIT": 240,
                "RATE_LIMIT_REQUESTS": args.emulator_limit,
                "RATE_LIMIT_PERIOD": 60,
            },
        )
        for name, value in values.items():
            setattr(settings, name, value)
        from celery import Celery

        producer = Celery("bench", broker=values["CELERY_BROKER_URL"], set_as_current=True)
        producer.conf.broker_transport_options = values["CELERY_BROKER_TRANSPORT_OPTIONS"]

        ids = link_accounts(emulator, args.accounts, args.issues)
        import json
        import tempfile

        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCF_TEST_DATABASE_URL": postgres.url,
            "SCF_WORKER_SETTINGS": json.dumps(values),
        }
        worker = CeleryWorker(
            env=env,
            concurrency=args.concurrency,
            log_dir=Path(tempfile.mkdtemp(prefix="scf-bench-")),
            loglevel="INFO",  # the harness waits for its "ready." line
        )
        worker.start()
        try:
            print(
                f"{len(ids)} accounts x {args.issues} issues, {args.concurrency} prefork pool "
                f"processes, emulator and budget at {args.emulator_limit}/min"
            )
            cold, cold_requests = timed_pass(emulator, len(ids), args.timeout)
            print(
                f"cold pass:       {cold:7.2f} s  {cold_requests} requests "
                f"({cold_requests / len(ids):.2f}/account, {len(ids) / cold:.1f} accounts/s)"
            )
            for label in ("unchanged pass:", "unchanged pass:"):
                make_due()
                took, requests = timed_pass(emulator, len(ids), args.timeout)
                print(
                    f"{label:16} {took:7.2f} s  {requests} requests "
                    f"({requests / len(ids):.2f}/account)"
                )
        finally:
            worker.stop()
        for size in (10, 100):
            queries = queries_for_one_page(emulator, size)
            print(f"one-page sync of {size:3} issues: {queries} database queries")
        emulator.stop()
    finally:
        redis.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
