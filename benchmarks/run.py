"""Every figure of the benchmarks (issue 8) in one run, against the SeeClickFix emulator.

    .venv/bin/python benchmarks/run.py            # full run: bigger samples (~5 minutes)
    .venv/bin/python benchmarks/run.py --quick    # under a minute

Starts its own PostgreSQL, Redis, emulator (its own process) and Celery workers on 127.0.0.1,
and stops them at the end. Prints each figure with its goal and the naive approach
(``naive.py``) beside it where the issue asks for it, then a JSON object with the figures on
the last line. Exits 1 when a goal is missed. Figures are counts and ratios measured within
this one run; ``benchmarks/RESULTS.md`` says what each means and what limits it.

1. Requests per account sync: cold (n issues), unchanged, k changed (``sync_figures.py``).
2. Rate-budget use with W worker processes and a shared Redis budget, emulator limited to L
   per period (``jobs_pass.budget_pass``).
3. Database queries per synced page of 100 and of 10 issues (``jobs_pass``).
4. Peak memory, 20,000 issues vs 200: the client's walk (``client_figures``); the full run
   also measures ``sync_account`` with its database writes (``sync_figures``).
5. Client CPU per request vs a bare ``requests.Session`` (``client_figures``).
6. The OAuth callback: outbound requests and database queries (``callback_figure.py``).
7. The area feed (``feed_figures.py``): requests per pass for 1,000 linked users with 50
   changes, feed (anonymous, and as the service account) vs per-user syncs.
8. The outbox under chaos (``chaos_figures.py``): posts stuck or doubled after a chaos run,
   and the time from a lost message to its post.
9. The planner (``planner_figures.py``): a pass's cost from 1,000 to 50,000 accounts, its
   queries, and the share of its capacity it plans.
10. The walk against its minimum (``walk_figures.py``): a cold walk while its issues keep
    changing, and 150 changes in the second a sync starts, with the next sync's rewrites.

The time-scaled steady state of issue 17 runs apart: ``benchmarks/steady_state.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callback_figure import callback_cost
from client_figures import client_overhead, iteration_memory
from common import Stack, running_stack
from jobs_pass import budget_pass, describe_use, queries_for_one_page
from sync_figures import requests_per_sync, sync_memory


@dataclass(frozen=True)
class Plan:
    """Sample sizes of one mode."""

    cold_issues: int  # issues of the cold sync (figure 1)
    changed: int  # issues changed before the last sync (figure 1)
    sweep: tuple[tuple[int, int], ...]  # more (n, k) pairs for figure 1, as a table
    accounts: int  # figure 2
    workers: int
    limit: int
    period: float
    overhead_requests: int  # figure 5, per side
    sync_memory: bool  # figure 4 with the database too
    feed_sample: int | None  # figure 7: per-user syncs measured (None: all 1,000)
    planner_sizes: tuple[int, ...]  # figure 9: linked accounts the pass is planned over
    churn_issues: int  # figure 10: issues of the walk under churn


QUICK = Plan(
    cold_issues=1000,
    changed=250,
    sweep=(),
    accounts=40,
    workers=2,
    limit=20,
    period=1.0,
    overhead_requests=300,
    sync_memory=False,
    feed_sample=250,  # 10 s for all 1,000 on this machine: too much of the minute
    planner_sizes=(1000, 5000),
    churn_issues=1000,
)
FULL = Plan(
    cold_issues=1000,
    changed=250,
    sweep=((100, 1), (200, 100), (2500, 150)),
    accounts=150,
    workers=4,
    limit=20,
    period=5.0,
    overhead_requests=1000,
    sync_memory=True,
    feed_sample=None,
    planner_sizes=(1000, 10000, 50000),
    churn_issues=2500,
)


class Report:
    """Figures as they are measured: a line each (with its goal) now, the JSON at the end."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.missed: list[str] = []
        self.started = time.perf_counter()

    def line(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:5.1f} s] {text}", flush=True)

    def goal(self, name: str, met: bool, text: str) -> None:
        if not met:
            self.missed.append(name)
        self.line(f"{'ok  ' if met else 'MISS'} {text}")


def fresh_token(stack: Stack, prefix: str) -> str:
    """An access token for a new emulator user."""
    (user,) = stack.emulator.generate_users(1, prefix=prefix)
    return str(stack.emulator.issue_token(user["id"]).access_token)


def figure_requests(stack: Stack, plan: Plan, report: Report) -> None:
    n, k = plan.cold_issues, plan.changed
    r = requests_per_sync(stack.emulator, issues=n, changed=k)
    report.figures.update(
        requests_unchanged_sync=max(r.unchanged_first, r.unchanged),
        requests_changed_sync=r.changed_sync,
        requests_cold_sync=r.cold,
        naive_requests_unchanged_sync=r.naive_unchanged,
    )
    report.extra.update(
        naive_requests_cold_sync=r.naive_cold, naive_requests_changed_sync=r.naive_changed
    )
    report.goal(
        "requests_cold_sync",
        r.cold == r.goal_cold,
        f"cold sync of {n} issues: {r.cold} requests (goal {r.goal_cold}); naive {r.naive_cold}",
    )
    report.goal(
        "requests_unchanged_sync",
        r.unchanged_first == r.unchanged == 1,
        f"unchanged sync: {r.unchanged_first} then {r.unchanged} request(s) (goal 1); "
        f"naive {r.naive_unchanged}",
    )
    report.goal(
        "requests_changed_sync",
        r.changed_sync == r.goal_changed,
        f"sync after {k} changes: {r.changed_sync} requests (goal {r.goal_changed}); "
        f"naive {r.naive_changed}",
    )
    for n, k in plan.sweep:
        r = requests_per_sync(stack.emulator, issues=n, changed=k)
        report.extra[f"requests_n{n}_k{k}"] = [
            r.cold,
            r.unchanged_first,
            r.unchanged,
            r.changed_sync,
        ]
        report.goal(
            f"sweep_n{n}_k{k}",
            (r.cold, r.unchanged_first, r.unchanged, r.changed_sync)
            == (r.goal_cold, 1, 1, r.goal_changed),
            f"n={n}, k={k}: cold {r.cold} (goal {r.goal_cold}), unchanged {r.unchanged_first}/"
            f"{r.unchanged} (goal 1), changed {r.changed_sync} (goal {r.goal_changed}); naive "
            f"{r.naive_cold} each",
        )


def figure_budget(stack: Stack, plan: Plan, report: Report) -> None:
    project, naive = budget_pass(
        stack,
        accounts=plan.accounts,
        issues=3,
        workers=plan.workers,
        limit=plan.limit,
        period=plan.period,
    )
    report.figures.update(
        budget_utilisation=round(project.utilisation, 3), responses_429=project.responses_429
    )
    report.extra.update(
        naive_budget_utilisation=round(naive.utilisation, 3),
        naive_responses_429=naive.responses_429,
        budget_most_in_a_window=project.most_in_a_window,
    )
    setup = (
        f"{plan.accounts} accounts, {plan.workers} worker processes, limit {plan.limit} per "
        f"{plan.period:g} s"
    )
    report.goal(
        "budget_utilisation",
        project.utilisation >= 0.95 and project.most_in_a_window <= plan.limit,
        f"budget use ({setup}): {project.utilisation:.3f} of the limit (goal >= 0.95)",
    )
    report.goal(
        "responses_429",
        project.responses_429 == 0,
        f"429 responses: {project.responses_429} (goal 0); naive {naive.responses_429}",
    )
    for name, use in (("library", project), ("naive  ", naive)):
        report.line(f"     {describe_use(name, use)}")


def figure_queries(stack: Stack, report: Report) -> None:
    per_100 = queries_for_one_page(stack.emulator, 100)
    per_10 = queries_for_one_page(stack.emulator, 10)
    report.figures.update(queries_per_page_100=per_100, queries_per_page_10=per_10)
    report.goal(
        "queries_per_page",
        per_100 == per_10 <= 10,
        f"database queries, sync of one page: {per_100} for 100 issues, {per_10} for 10 "
        "(goal: the same, <= 10)",
    )


def figure_memory(stack: Stack, plan: Plan, report: Report) -> None:
    from django_seeclickfix.client import RateBudget

    walk = iteration_memory(stack.url, budget=RateBudget.from_settings)
    report.figures["memory_ratio_20000_vs_200"] = round(walk.ratio, 3)
    report.goal(
        "memory_ratio_20000_vs_200",
        walk.ratio <= 1.25,
        f"peak memory of the client's walk: {walk.large_peak / 1024:.0f} KiB for "
        f"{walk.large_count} issues vs {walk.small_peak / 1024:.0f} KiB for {walk.small_count}: "
        f"{walk.ratio:.2f}x (goal <= 1.25)",
    )
    if plan.sync_memory:
        whole = sync_memory(stack.emulator)
        report.extra["memory_ratio_sync_20000_vs_200"] = round(whole.ratio, 3)
        report.goal(
            "memory_ratio_sync_20000_vs_200",
            whole.ratio <= 1.25,
            f"peak memory of sync_account (database writes too): {whole.large_peak / 1024:.0f} "
            f"KiB for {whole.large_count} issues vs {whole.small_peak / 1024:.0f} KiB for "
            f"{whole.small_count}: {whole.ratio:.2f}x (goal <= 1.25)",
        )


def figure_overhead(stack: Stack, plan: Plan, report: Report) -> None:
    token = fresh_token(stack, "overhead")
    overhead = client_overhead(stack.url, token, requests=plan.overhead_requests)
    report.figures["client_overhead_ratio"] = round(overhead.ratio, 3)
    report.goal(
        "client_overhead_ratio",
        overhead.ratio <= 1.5,
        f"client CPU per GET /profile: {overhead.client_cpu_ms:.3f} ms vs "
        f"{overhead.bare_cpu_ms:.3f} ms for a bare requests.Session: {overhead.ratio:.2f}x "
        "(goal <= 1.5)",
    )


def figure_callback(stack: Stack, report: Report) -> None:
    cost = callback_cost(stack.emulator)
    report.figures["callback_requests"] = cost.requests
    report.extra["callback_queries"] = cost.queries
    report.goal(
        "callback_requests",
        cost.requests == 2,
        f"OAuth callback: {cost.requests} requests ({', '.join(cost.outbound)}; goal 2), "
        f"{cost.queries} database queries",
    )


def figure_feed(plan: Plan, report: Report) -> None:
    from feed_figures import feed_figures

    result = feed_figures(1000, 50, sample=plan.feed_sample)
    report.figures.update(
        requests_per_pass_feed=result["requests_per_pass_feed"],
        requests_per_pass_feed_service_account=result["requests_per_pass_feed_service_account"],
        requests_per_pass_per_user=result["requests_per_pass_per_user"],
    )
    sampled = " (scaled from a sample)" if result["per_user_sampled"] else ""
    report.goal(
        "requests_per_pass_feed",
        result["requests_per_pass_feed"] <= result["requests_per_pass_feed_goal"],
        f"area feed, 1,000 linked users, 50 changes, anonymous: "
        f"{result['requests_per_pass_feed']:g} request(s) per pass (goal ceil(50/20) = "
        f"{result['requests_per_pass_feed_goal']:g}); per-user syncs "
        f"{result['requests_per_pass_per_user']:g}{sampled}",
    )
    service = result["requests_per_pass_feed_service_account"]
    service_goal = result["requests_per_pass_feed_service_account_goal"]
    report.goal(
        "requests_per_pass_feed_service_account",
        service <= service_goal,
        f"area feed, the same 50 changes, as the service account: {service:g} request(s) per "
        f"pass (goal ceil(50/100) = {service_goal:g})",
    )


def figure_planner(stack: Stack, plan: Plan, report: Report) -> None:
    from planner_figures import claim_figures, describe

    result = claim_figures(stack, list(plan.planner_sizes))
    for line in describe(result):
        report.line(line)
    report.figures.update(
        claim_cost_ratio=result["claim_cost_ratio"], planned_share=result["planned_share"]
    )
    sizes = f"{min(plan.planner_sizes):,} to {max(plan.planner_sizes):,} accounts"
    report.goal(
        "claim_cost_ratio",
        result["claim_cost_ratio"] <= 2 and len(result["queries_per_pass"]) == 1,
        f"a pass's planning, {sizes}: {result['claim_cost_ratio']:g}x the time, queries "
        f"{result['queries_per_pass']} (goal <= 2x, the same queries)",
    )
    report.goal(
        "planned_share",
        result["planned_share"] >= 0.95,
        f"share of a pass's capacity planned with every account due: "
        f"{result['planned_share']:.3f} (goal >= 0.95)",
    )


def figure_walk(stack: Stack, plan: Plan, report: Report) -> None:
    from walk_figures import burst_sync, churn_walk

    churn = churn_walk(stack, issues=plan.churn_issues)
    burst = burst_sync(stack, changes=150)
    report.figures.update(
        requests_churn_walk_vs_minimum=round(churn.ratio, 3),
        requests_burst_150_changes=burst.requests,
    )
    report.extra.update(
        churn_walk_requests=churn.requests,
        churn_stopped=churn.churn_stopped,
        requests_after_burst=burst.next_requests,
        rows_rewritten_after_burst=burst.rows_rewritten,
    )
    stopped = ", the churn stopped at its bound" if churn.churn_stopped else ""
    report.goal(
        "requests_churn_walk_vs_minimum",
        churn.ratio <= 1.1,
        f"cold walk of {churn.issues} issues, one changing after each answer: {churn.requests} "
        f"requests against ceil({churn.issues}/100) = {churn.minimum}: {churn.ratio:.2f}x "
        f"(goal <= 1.1){stopped}",
    )
    report.goal(
        "requests_burst_150_changes",
        burst.requests <= burst.goal,
        f"150 changes in the second a sync starts: {burst.requests} requests (goal "
        f"ceil(150/100) = {burst.goal})",
    )
    report.goal(
        "rows_rewritten_after_burst",
        burst.next_requests <= 1 and burst.rows_rewritten == 0,
        f"the next sync, nothing changed: {burst.next_requests} request(s) (goal 1), "
        f"{burst.rows_rewritten} rows rewritten (goal 0)",
    )


def figure_emulator(stack: Stack, report: Report) -> None:
    from emulator_throughput import measure

    token = fresh_token(stack, "throughput")
    rate = measure(stack.url, token, clients=16, duration=2.0, processes=1, kind="http.client")
    report.extra["emulator_requests_per_second"] = round(rate)
    report.goal(
        "emulator_throughput",
        rate >= 500,
        f"emulator: {rate:.0f} authenticated requests/s from 16 keep-alive clients (goal >= 500: "
        "never the limit of a figure)",
    )


def figure_chaos(report: Report) -> None:
    """On a stack of its own: the chaos run needs every account in the database to be its own."""
    from chaos_figures import chaos_run, lost_message_recovery

    with running_stack() as stack:
        chaos = chaos_run(stack)
        recovery = lost_message_recovery(stack)
    report.figures.update(
        chaos_stuck_after_settle=chaos["stuck"],
        chaos_duplicates=chaos["duplicates"],
        recovery_after_lost_message_s=recovery["recovery_after_lost_message_s"],
    )
    report.extra.update(chaos=chaos, recovery_bound_s=recovery["recovery_bound_s"])
    report.goal(
        "chaos_stuck_after_settle",
        chaos["stuck"] == 0 and chaos["failed_but_posted"] == 0,
        f"chaos ({chaos['posts']} posts, {chaos['faults_fired']} faults, kills, a Redis "
        f"restart): {chaos['stuck']} stuck after settling in {chaos['settle_seconds']:g} s "
        f"(goal 0), {chaos['failed_but_posted']} shown failed though posted (goal 0)",
    )
    report.goal(
        "chaos_duplicates",
        chaos["duplicates"] == 0 and chaos["duplicate_rows"] == 0,
        f"chaos: {chaos['duplicates']} posts doubled at SeeClickFix, "
        f"{chaos['duplicate_rows']} duplicate mirror rows (goal 0 each)",
    )
    bound = recovery["recovery_bound_s"]
    report.goal(
        "recovery_after_lost_message_s",
        recovery["recovery_after_lost_message_s"] <= bound + 1,
        f"a lost message recovered and posted in {recovery['recovery_after_lost_message_s']:g} s "
        f"(goal: OUTBOX_REQUEUE_AFTER + OUTBOX_SWEEP_INTERVAL = {bound:g} s, plus the post)",
    )


def machine() -> str:
    import os

    return (
        f"{platform.node()}: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples, under a minute")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    report = Report()
    report.line(f"{'quick' if args.quick else 'full'} run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    report.line(machine())
    steps: list[Callable[[Stack], None]] = [
        # First: it links users of its own emulator (ids from 1001, like ours) and rolls back.
        lambda stack: figure_feed(plan, report),
        lambda stack: figure_requests(stack, plan, report),
        lambda stack: figure_queries(stack, report),
        lambda stack: figure_callback(stack, report),
        lambda stack: figure_overhead(stack, plan, report),
        lambda stack: figure_memory(stack, plan, report),
        lambda stack: figure_budget(stack, plan, report),
        lambda stack: figure_walk(stack, plan, report),
        # Last: it leaves thousands of accounts in the database.
        lambda stack: figure_planner(stack, plan, report),
    ]
    if not args.quick:
        steps.append(lambda stack: figure_emulator(stack, report))
    with running_stack() as stack:
        report.line(f"PostgreSQL, Redis and the emulator ({stack.url}) are up")
        for step in steps:
            step(stack)
    figure_chaos(report)
    report.line(f"done; goals missed: {', '.join(report.missed) or 'none'}")
    if not args.quick:
        print(json.dumps({**report.figures, **report.extra}))
    print(json.dumps(report.figures))
    return 1 if report.missed else 0


if __name__ == "__main__":
    sys.exit(main())
