"""Masking: tokens masked while they can be used, then dropped; Airflow's whole-ticket masks dropped too."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.sdk._shared.secrets_masker import _secrets_masker, redact
from airflow.sdk.log import mask_secret

from airflow_provider_kibo import airflow_compat, masking
from airflow_provider_kibo.hooks.developer import KiboDeveloperHook
from airflow_provider_kibo.ticket_check import check_ticket


@pytest.fixture
def masker():
    """Airflow's Task SDK masker (the one ``mask_secret`` feeds), emptied before and after."""
    _secrets_masker().reset_masker()
    yield _secrets_masker()
    _secrets_masker().reset_masker()


def test_airflow_masker_internals_are_where_the_adapter_expects(masker):
    """Fails when an Airflow release moves the masker internals; the provider then masks through the
    public ``mask_secret`` only and never unmasks (correct, but the cost grows again)."""
    assert airflow_compat.loaded_maskers() is not None, (
        "airflow_provider_kibo.masking: Airflow's secrets masker internals changed; update _AirflowMaskers"
    )


def test_tokens_are_masked_until_they_expire_then_dropped(make_hook, kibo_emulator, masker):
    hook = make_hook()
    old = hook.refresh_ticket()
    line = f"old {old.access_token} {old.jwt_access_token} {old.refresh_token}"
    assert redact(line) == "old *** *** ***"

    kibo_emulator.clock.advance(timedelta(hours=1) + masking.EXPIRY_GRACE + timedelta(seconds=1))
    new = hook.refresh_ticket()

    assert redact(line) == f"old {old.access_token} {old.jwt_access_token} ***", "the refresh token lives a day"
    assert redact(f"new {new.access_token} {new.jwt_access_token}") == "new *** ***"


def test_an_expired_token_stays_masked_within_the_grace(make_hook, kibo_emulator, masker):
    hook = make_hook()
    old = hook.refresh_ticket()

    kibo_emulator.clock.advance(timedelta(hours=1) + masking.EXPIRY_GRACE - timedelta(seconds=30))
    hook.refresh_ticket()

    assert redact(old.access_token) == "***"


def test_the_mask_count_stays_flat_over_many_rotations(make_hook, kibo_emulator, masker):
    hook = make_hook()
    counts = []
    for _ in range(30):
        hook.refresh_ticket()
        counts.append(len(masker.patterns))
        kibo_emulator.clock.advance(timedelta(minutes=30))

    assert min(counts[3:]) == max(counts[3:]) < 10, counts  # the live tickets' tokens, the password


@pytest.mark.usefixtures("airflow_db")
def test_airflow_mask_of_a_whole_stored_ticket_is_dropped_while_its_tokens_stay_masked(conn_id, masker):
    """Airflow masks a 0.2.0 ticket Variable whole when the migration reads it (and a Connection's extra)."""
    ticket = KiboDeveloperHook(conn_id).refresh_ticket()
    raw = json.dumps(ticket.to_api())
    mask_secret(raw, f"kibo_developer_token__{conn_id}__1001")  # as a task's read of that Variable does
    assert redact(raw) == "***"

    KiboDeveloperHook(conn_id).stored_ticket()

    shown = redact(raw)
    assert shown != "***", "the whole-ticket mask is gone"
    assert '"accessTokenExpiration"' in shown and '"accessToken": "***"' in shown
    assert not [s for s in ticket.secrets if s in shown]


def test_a_reset_masker_gets_the_tokens_of_a_known_ticket_back(make_hook, masker):
    hook = make_hook()
    ticket = hook.refresh_ticket()
    masker.reset_masker()

    masking.mask_ticket(ticket, hook.now())

    assert redact(" ".join(ticket.secrets)) == "*** *** ***"


@pytest.mark.usefixtures("airflow_db")
def test_a_store_only_check_after_each_rotation_adds_no_mask(conn_id):
    """What a sensor waiting in the triggerer does for weeks: it reads each new ticket's record, which
    holds no secret, so no masker of its process (nor the Airflow process serving it) grows."""
    writer, waiter = KiboDeveloperHook(conn_id), KiboDeveloperHook(conn_id)
    maskers = airflow_compat.loaded_maskers()
    added = []
    for _ in range(3):
        ticket = writer.refresh_ticket()
        before = [set(m.patterns) for m in maskers]

        summary = check_ticket(waiter, timedelta(minutes=5), check_access=False)

        assert summary == ticket.summary()
        added.append(sum(len(m.patterns - b) for m, b in zip(maskers, before, strict=True)))
    assert added == [0, 0, 0]
