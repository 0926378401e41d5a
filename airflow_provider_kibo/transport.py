"""HTTP to Kibo with timeouts, bounded retries and typed errors."""

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


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """
    How often and how long to retry one Kibo request.

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
    ) -> requests.Response:
        """
        Send one request, retrying 429, 5xx, timeouts and dropped connections within the policy.

        :param method: the HTTP method
        :param endpoint: the path relative to ``/api``, e.g. ``/platform/developer/authtickets``
        :param params: query parameters
        :param json: the JSON body
        :raises KiboAuthError: on a final 401 or 403
        :raises KiboApiError: on any other final error
        :return: the successful (2xx) response
        """
        summary = f"{method} {endpoint}"
        policy = self.retry_policy
        for attempt in range(1, policy.max_attempts + 1):
            last_attempt = attempt == policy.max_attempts
            try:
                response = self.session.request(method, endpoint, params=params, json=json)
            except (requests.ConnectionError, requests.Timeout) as err:
                # The exception text holds the URL and its query, which may carry a token: never show it.
                reason = type(err).__name__
                if last_attempt:
                    raise KiboApiError(f"{summary} failed after {attempt} attempts ({reason})") from None
                wait = policy.backoff(attempt)
                log.warning("%s: %s; retry %d in %.1f s", summary, reason, attempt, wait)
                self._sleep(wait)
                continue
            if response.ok:
                return response
            error = _api_error(summary, response)
            if response.status_code not in RETRYABLE_STATUSES or last_attempt:
                raise error
            asked = policy.wait_before_retry(response, attempt)
            if asked is None:
                raise error
            log.warning("%s: %s; retry %d in %.1f s", summary, error, attempt, asked)
            self._sleep(asked)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _retry_after_seconds(header: str | None, default: float) -> float:
    try:
        return max(0.0, float(header)) if header is not None else default
    except ValueError:
        return default  # an HTTP date: Kibo documents seconds, so fall back to the default wait


def _api_error(summary: str, response: requests.Response) -> KiboApiError:
    """Kibo's error body (which may be empty, as on a 429) as a typed error."""
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
