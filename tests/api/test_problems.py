"""`api.problems.problem_of`: what a client is told about each kind of failure, and what the
log keeps (never what an upstream service said). With the SDKs' own exception classes."""

from __future__ import annotations

import logging

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.cosmos.exceptions import CosmosHttpResponseError

from agent.memory.leases import ThreadBusy
from agent.ownership import ThreadNotFound
from api.problems import Problem, problem_of

SECRET = "Bearer sk-upstream-7d1e"


@pytest.mark.parametrize("error", [
    CosmosHttpResponseError(status_code=503, message=f"Service unavailable {SECRET}"),
    HttpResponseError(message=f"AI Search said {SECRET}"),
    ServiceRequestError(f"connection to {SECRET} failed"),
], ids=["cosmos 503", "search", "no connection"])
def test_an_azure_sdk_failure_is_a_502_without_what_the_service_said(
        error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        problem = problem_of(error, "run r-1")
    assert problem.status == 502
    assert problem.detail == f"A backing service failed ({type(error).__name__}); see the " \
                             "server log."
    assert "run r-1 failed" in caplog.text and type(error).__name__ in caplog.text
    assert "sk-upstream" not in caplog.text and "Traceback" not in caplog.text


def test_our_own_failure_is_a_500_with_its_traceback_in_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        with caplog.at_level(logging.INFO):
            problem = problem_of(exc, "run r-2")
    assert (problem.status, problem.detail) == (500, "The run failed (KeyError); see the "
                                                     "server log.")
    assert "Traceback" in caplog.text


def test_busy_and_foreign_threads() -> None:
    busy = problem_of(ThreadBusy("t-1", 2.2), "run r-3")
    assert (busy.status, busy.headers, busy.retry_after) == (409, {"Retry-After": "3"}, 3)
    missing = problem_of(ThreadNotFound("t-2"), "run r-4")
    assert (missing.status, missing.detail) == (404, "No thread with thread_id 't-2'.")
    already = Problem(422, "x: bad")
    assert problem_of(already, "run r-5") is already
