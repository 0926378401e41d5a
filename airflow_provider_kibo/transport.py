"""HTTP with timeouts and bounded retries that honour ``Retry-After``; Kibo's answers as typed errors."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import requests

from airflow_provider_kibo.errors import KiboApiError, KiboAuthError
from airflow_provider_kibo.session import KiboSession

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""429 waits ``Retry-After``; the 5xx statuses back off. Every other 4xx is final."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods retried after a 5xx, a timeout or a dropped connection without being told they may be.
Any other request may have changed something before it failed (an order created twice), so it is
retried only after a 429, which Kibo answers before doing anything, unless its caller says it is
idempotent."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """
    How often and how long to retry one request.

    :param max_attempts: attempts in all, the first included
    :param backoff_base: seconds before the first retry after a 5xx, a timeout or a dropped connection;
        doubled on each further retry, with full jitter
    :param backoff_max: cap of one backoff, in seconds
    :param retry_after_default: seconds to wait on a 429 without a usable ``Retry-After``
    :param retry_after_max: cap of one ``Retry-After`` wait, in seconds; a longer demand fails at once
    """

    max_attempts: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_default: float = 60.0
    retry_after_max: float = 120.0

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based) after a 5xx or a network error."""
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (retry_number - 1)))

    def wait_before_retry(self, response: requests.Response, retry_number: int) -> float | None:
        """Seconds to wait before retry ``retry_number`` after a retryable status: ``Retry-After`` on a
        429, else :meth:`backoff`; ``None`` when the server asks for more than ``retry_after_max``."""
        if response.status_code != 429:
            return self.backoff(retry_number)
        wait = _retry_after_seconds(response.headers.get("Retry-After"), self.retry_after_default)
        return wait if wait <= self.retry_after_max else None


DEFAULT_RETRY_POLICY = RetryPolicy()
BEST_EFFORT_ATTEMPT = RetryPolicy(max_attempts=1)
"""One attempt and no retry: for calls whose failure is only a warning (logging out a previous
identity's tickets at a host that may no longer answer)."""
BEST_EFFORT_TIMEOUT = 5.0
"""Seconds a best-effort call may take at most."""


def send_with_retries(
    send: Callable[[], requests.Response],
    policy: RetryPolicy,
    *,
    summary: str,
    idempotent: bool,
    sleep: Callable[[float], None] = time.sleep,
    failure: Callable[[requests.Response], str] = lambda response: f"status {response.status_code}",
) -> requests.Response:
    """
    Call ``send`` until it answers with a status that is not worth retrying, or the policy is spent;
    return that last response. A network error (timeout, dropped connection) on the last attempt
    is raised as it is.

    :param send: sends the request once
    :param policy: the retry limits
    :param summary: the request in words, for log lines, e.g. ``GET /commerce/orders``; never a token
    :param idempotent: whether sending twice does no harm: then a 5xx, a timeout or a dropped
        connection is retried too, else only a 429
    :param sleep: waits between attempts
    :param failure: describes a failed response in a log line
    """
    for attempt in range(1, policy.max_attempts + 1):
        last_attempt = attempt == policy.max_attempts
        try:
            response = send()
        except (requests.ConnectionError, requests.Timeout) as err:
            if last_attempt or not idempotent:
                raise
            # The exception text holds the URL and its query, which may carry a token: never show it.
            backoff = policy.backoff(attempt)
            log.warning("%s: %s; retry %d in %.1f s", summary, type(err).__name__, attempt, backoff)
            sleep(backoff)
            continue
        retryable = response.status_code == 429 or (idempotent and response.status_code in RETRYABLE_STATUSES)
        wait = policy.wait_before_retry(response, attempt) if retryable and not last_attempt else None
        if wait is None:
            return response
        log.warning("%s: %s; retry %d in %.1f s", summary, failure(response), attempt, wait)
        sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


class KiboTransport:
    """
    Sends requests through a :class:`KiboSession` and turns failures into typed errors.

    :param session: the session to send with (it may carry an auth that signs requests)
    :param retry_policy: the retry limits
    :param sleep: waits between attempts; tests pass a recorder
    """

    def __init__(
        self,
        session: KiboSession,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session = session
        self.retry_policy = retry_policy
        self._sleep = sleep

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        summary: str | None = None,
    ) -> requests.Response:
        """
        Send one request, retrying within the policy: a 429 always, a 5xx, a timeout or a dropped
        connection only when the request is idempotent.

        :param method: the HTTP method
        :param endpoint: the path relative to ``/api``, e.g. ``/platform/developer/authtickets``
        :param params: query parameters
        :param json: the JSON body
        :param idempotent: whether sending it twice does no harm; by default only for ``GET``,
            ``HEAD`` and ``OPTIONS`` (see :data:`IDEMPOTENT_METHODS`)
        :param summary: the request in words for messages, when ``endpoint`` holds a secret
        :raises KiboAuthError: on a final 401 or 403
        :raises KiboApiError: on any other final error
        :return: the successful (2xx) response
        """
        summary = summary or f"{method} {endpoint}"
        try:
            response = send_with_retries(
                lambda: self.session.request(method, endpoint, params=params, json=json),
                self.retry_policy,
                summary=summary,
                idempotent=method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent,
                sleep=self._sleep,
                failure=lambda failed: str(kibo_error(summary, failed)),
            )
        except (requests.ConnectionError, requests.Timeout) as err:
            raise KiboApiError(f"{summary} failed ({type(err).__name__})") from None
        if not response.ok:
            raise kibo_error(summary, response)
        return response


def _retry_after_seconds(header: str | None, default: float) -> float:
    try:
        return max(0.0, float(header)) if header is not None else default
    except ValueError:
        return default  # an HTTP date: Kibo documents seconds, so fall back to the default wait


def kibo_error(summary: str, response: requests.Response) -> KiboApiError:
    """
    Kibo's error answer (whose body may be empty, as on a 429) as a typed error.

    :param summary: what was asked, e.g. ``PUT /platform/developer/authtickets``
    :param response: the failed response
    """
    error_class = KiboAuthError if response.status_code in (401, 403) else KiboApiError
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    return error_class(
        summary,
        status_code=response.status_code,
        error_code=body.get("errorCode") or None,
        api_message=body.get("message") or None,
        correlation_id=response.headers.get("x-vol-correlation"),
    )
