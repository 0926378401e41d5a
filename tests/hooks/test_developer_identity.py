"""A ticket belongs to the identity that obtained it: credential changes in the Connection take effect.

Each test states the Kibo calls it expects and checks, with the emulator's call log, that no request
after the change carries the previous identity's credentials other than the log-out of its tickets.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests

from airflow_provider_kibo.errors import KiboAccountAccessError, KiboAuthError, KiboConfigError
from airflow_provider_kibo.stores import LATEST_SLOT, MemoryTicketStore
from airflow_provider_kibo.testing import KiboEmulator
from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.values import KiboDeveloperTicket
from tests.support import (
    EMAIL,
    OTHER_EMAIL,
    OTHER_PASSWORD,
    PASSWORD,
    TENANT_ROUTES_UNUSED,
    TWO_USERS,
    set_connection,
)


@pytest.fixture
def kibo_emulator():
    """The emulator with two users: the demo user (accounts 1001-1003) and another (account 2001)."""
    with KiboEmulator(TWO_USERS) as emulator:
        yield emulator


def connect(monkeypatch, conn_id, emulator, *, login=EMAIL, password=PASSWORD, **extra):
    set_connection(monkeypatch, conn_id, host=emulator.base_url, login=login, password=password,
                   extra={"developer_account_id": 1001, **extra})


def calls_by(emulator, email, since=0):
    return [call["route"] for call in emulator.calls()[since:] if call["user"] == email]


def refresh_token_works(emulator, refresh_token):
    return requests.put(f"{emulator.base_url}/api/platform/developer/authtickets",
                        json={"refreshToken": refresh_token}, timeout=5).ok


def test_login_change_logs_in_once_as_the_new_user_and_logs_out_the_old_one(
        monkeypatch, kibo_emulator, make_hook, conn_id, store, caplog):
    old = make_hook(developer_account_id=1001).get_ticket()
    make_hook(developer_account_id=1002).get_ticket()
    changed_at = len(kibo_emulator.calls())

    connect(monkeypatch, conn_id, kibo_emulator, login=OTHER_EMAIL, password=OTHER_PASSWORD)
    with caplog.at_level(logging.INFO):
        new = make_hook(developer_account_id=2001).get_ticket()
        again = make_hook(developer_account_id=2001).get_ticket()

    assert kibo_emulator.counters() == {"create": 2, "refresh": 1, "delete": 1, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}
    assert calls_by(kibo_emulator, EMAIL, since=changed_at) == ["delete"]
    assert calls_by(kibo_emulator, OTHER_EMAIL, since=changed_at) == ["create"]
    assert new.issued_to == KiboIdentity.of(kibo_emulator.base_url, OTHER_EMAIL)
    assert again.access_token == new.access_token
    assert not refresh_token_works(kibo_emulator, old.refresh_token)
    assert store.read("1001") is None and store.read("1002") is None
    assert store.read(LATEST_SLOT) == new
    changed = [r.getMessage() for r in caplog.records if "now logs in as" in r.getMessage()]
    assert changed == [f"Connection {conn_id} now logs in as other.developer@example.com at "
                       f"{kibo_emulator.base_url}; logged out and removed the Kibo tickets issued to "
                       f"developer@example.com at {kibo_emulator.base_url}"]
    for secret in (old.refresh_token, old.access_token, new.refresh_token, PASSWORD, OTHER_PASSWORD):
        assert secret not in caplog.text


def test_account_of_the_old_user_fails_for_the_new_one_listing_the_new_users_accounts(
        monkeypatch, kibo_emulator, make_hook, conn_id):
    make_hook(developer_account_id=1001).get_ticket()
    connect(monkeypatch, conn_id, kibo_emulator, login=OTHER_EMAIL, password=OTHER_PASSWORD)
    changed_at = len(kibo_emulator.calls())

    with pytest.raises(KiboAccountAccessError) as raised:
        make_hook(developer_account_id=1001).get_ticket()

    assert raised.value.available_account_ids == (2001,)
    assert calls_by(kibo_emulator, EMAIL, since=changed_at) == ["delete"]


def test_host_change_logs_in_at_the_new_host_and_logs_out_at_the_old_one(
        monkeypatch, kibo_emulator, make_hook, conn_id, store):
    old = make_hook(developer_account_id=1001).get_ticket()
    with KiboEmulator(TWO_USERS) as new_host:
        connect(monkeypatch, conn_id, new_host)

        new = make_hook(clock=new_host.clock.now, developer_account_id=1001).get_ticket()

        assert new_host.counters() == {"create": 1, "refresh": 0, "delete": 0, "apppackages": 0, **TENANT_ROUTES_UNUSED}
        assert all(call["user"] == EMAIL for call in new_host.calls())
        assert [c["route"] for c in kibo_emulator.calls()] == ["create", "delete"]
        assert not refresh_token_works(kibo_emulator, old.refresh_token)
        assert new.issued_to == KiboIdentity.of(new_host.base_url, EMAIL)
        assert store.read("1001") == new


def test_password_change_keeps_the_stored_tickets_of_the_same_user(monkeypatch, kibo_emulator, make_hook, conn_id):
    old = make_hook(developer_account_id=1001).get_ticket()

    connect(monkeypatch, conn_id, kibo_emulator, login=EMAIL.upper(), password="a-new-password")
    reused = make_hook(developer_account_id=1001).get_ticket()
    switched = make_hook(developer_account_id=1002).get_ticket()

    assert reused.access_token == old.access_token
    assert switched.refresh_token == old.refresh_token
    assert kibo_emulator.counters() == {"create": 1, "refresh": 1, "delete": 0, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}


def test_seed_refresh_token_of_a_new_user_wins_over_the_old_users_tickets(
        monkeypatch, kibo_emulator, make_hook, conn_id, store):
    old = make_hook(developer_account_id=1001).get_ticket()
    seed = requests.post(f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
                         json={"emailAddress": OTHER_EMAIL, "password": OTHER_PASSWORD}, timeout=5).json()
    changed_at = len(kibo_emulator.calls())

    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url,
                   extra={"developer_account_id": 2001, "refresh_token": seed["refreshToken"]})
    ticket = make_hook().get_ticket()

    assert ticket.user_email.lower() == OTHER_EMAIL.lower()
    assert calls_by(kibo_emulator, OTHER_EMAIL, since=changed_at) == ["refresh"]
    assert calls_by(kibo_emulator, EMAIL, since=changed_at) == ["delete"]
    assert not refresh_token_works(kibo_emulator, old.refresh_token)
    assert store.read("2001") == ticket


def test_seed_ticket_of_a_new_user_is_used_from_the_next_call_without_calling_kibo(
        monkeypatch, kibo_emulator, make_hook, conn_id):
    make_hook(developer_account_id=1001).get_ticket()
    seed = requests.post(f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
                         json={"emailAddress": OTHER_EMAIL, "password": OTHER_PASSWORD}, timeout=5).json()
    changed_at = len(kibo_emulator.calls())

    set_connection(monkeypatch, conn_id, host=kibo_emulator.base_url, login=OTHER_EMAIL,
                   extra={"developer_account_id": 2001, "seed_ticket": seed})
    ticket = make_hook().get_ticket()

    assert ticket.access_token == seed["accessToken"]
    assert kibo_emulator.calls()[changed_at:] == []


def test_seed_ticket_of_another_user_than_the_login_is_a_config_error(monkeypatch, kibo_emulator, make_hook, conn_id):
    seed = requests.post(f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
                         json={"emailAddress": OTHER_EMAIL, "password": OTHER_PASSWORD}, timeout=5).json()
    connect(monkeypatch, conn_id, kibo_emulator, seed_ticket=seed)

    with pytest.raises(KiboConfigError) as raised:
        make_hook().get_ticket()

    assert raised.value.field == "extra.seed_ticket"
    assert "issued to other.developer@example.com, not to the login developer@example.com" in str(raised.value).lower()
    assert seed["accessToken"] not in str(raised.value)


@pytest.mark.parametrize("rotate", [False, True], ids=["kept", "rotating"])
def test_revoke_all_tickets_logs_out_every_stored_ticket_and_empties_the_store(
        kibo_emulator, make_hook, store, rotate):
    kibo_emulator.rotate_refresh_tokens = rotate
    hook = make_hook()
    tickets = [hook.for_account(account).get_ticket() for account in (1001, 1002, 1003)]
    refresh_tokens = {t.refresh_token for t in tickets}

    make_hook().revoke_all_tickets()

    assert kibo_emulator.counters()["delete"] == len(refresh_tokens) == (3 if rotate else 1)
    assert not any(refresh_token_works(kibo_emulator, token) for token in refresh_tokens)
    assert all(store.read(slot) is None for slot in (LATEST_SLOT, "1001", "1002", "1003"))
    make_hook(developer_account_id=1002).get_ticket()
    assert kibo_emulator.counters()["create"] == 2


def test_force_login_logs_in_with_the_password_and_logs_out_every_earlier_ticket(kibo_emulator, make_hook, store):
    earlier = [make_hook(developer_account_id=account).get_ticket() for account in (1001, 1002)]
    logged_in_at = len(kibo_emulator.calls())

    ticket = make_hook(developer_account_id=1001).force_login()

    assert [c["route"] for c in kibo_emulator.calls()[logged_in_at:]] == ["create", "delete"]
    assert ticket.refresh_token != earlier[0].refresh_token
    assert not refresh_token_works(kibo_emulator, earlier[0].refresh_token)
    assert refresh_token_works(kibo_emulator, ticket.refresh_token)
    assert store.read("1001") == store.read(LATEST_SLOT) == ticket
    assert store.read("1002") is None


def test_force_login_with_a_wrong_password_keeps_the_earlier_tickets(
        monkeypatch, kibo_emulator, make_hook, conn_id, store):
    earlier = make_hook(developer_account_id=1001).get_ticket()
    connect(monkeypatch, conn_id, kibo_emulator, password="not-the-password")

    with pytest.raises(KiboAuthError):
        make_hook().force_login()

    assert kibo_emulator.counters()["delete"] == 0
    assert store.read("1001") == earlier
    assert refresh_token_works(kibo_emulator, earlier.refresh_token)


def test_force_login_without_a_password_is_a_config_error(monkeypatch, kibo_emulator, make_hook, conn_id):
    connect(monkeypatch, conn_id, kibo_emulator, password=None, refresh_token="some-refresh-token")

    with pytest.raises(KiboConfigError) as raised:
        make_hook().force_login()

    assert raised.value.field == "password"
    assert kibo_emulator.calls() == []


def test_ticket_stored_without_identity_is_replaced_with_one_warning(kibo_emulator, make_hook, store, caplog):
    document = requests.post(f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
                             params={"developerAccountId": 1001},
                             json={"emailAddress": EMAIL, "password": PASSWORD}, timeout=5).json()
    unbound = KiboDeveloperTicket.from_api(document)
    for slot in ("1001", LATEST_SLOT):
        store.write(slot, unbound)
    kibo_emulator.reset_counters()

    with caplog.at_level(logging.WARNING):
        ticket = make_hook(developer_account_id=1001).get_ticket()

    assert ticket.access_token != unbound.access_token
    assert kibo_emulator.counters() == {"create": 1, "refresh": 0, "delete": 0, "apppackages": 0,
                                        **TENANT_ROUTES_UNUSED}
    assert store.read("1001") == store.read(LATEST_SLOT) == ticket
    assert ticket.issued_to == KiboIdentity.of(kibo_emulator.base_url, EMAIL)
    warnings = [r for r in caplog.records if "earlier version" in r.getMessage()]
    assert len(warnings) == 1
    assert unbound.refresh_token not in caplog.text


def test_stored_json_says_whom_the_ticket_was_issued_to_without_secrets(kibo_emulator, make_hook, store):
    ticket = make_hook(developer_account_id=1001).get_ticket()

    stored = ticket.to_stored()

    assert next(iter(stored)) == "issuedTo"
    assert stored["issuedTo"] == {"baseUrl": kibo_emulator.base_url, "login": EMAIL}
    assert KiboDeveloperTicket.from_stored(json.loads(json.dumps(stored))) == ticket
    assert ticket.summary()["issued_to"] == f"{EMAIL} at {kibo_emulator.base_url}"
    assert ticket.access_token not in repr(ticket)


def test_write_back_store_prefers_the_identitys_ticket_over_a_longer_lived_foreign_one(kibo_emulator, make_hook):
    from airflow_provider_kibo.connection_store import WriteBackStore

    current = make_hook(developer_account_id=1001).get_ticket()
    kibo_emulator.clock.advance(600)
    foreign = make_hook(developer_account_id=1001).refresh_ticket().issued(KiboIdentity.of("https://home.mozu.com", EMAIL))
    connection, variables = MemoryTicketStore(), MemoryTicketStore()
    connection.write("1001", foreign)
    variables.write("1001", current)

    assert foreign.access_token_expires_at > current.access_token_expires_at
    assert WriteBackStore(connection, variables, current.issued_to).read("1001") == current


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTPS://Home.Mozu.com:443/api/", "https://home.mozu.com"),
        ("https://home.mozu.com", "https://home.mozu.com"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
    ],
)
def test_identity_normalises_host_and_login(url, normalised):
    assert KiboIdentity.of(url, " Me@Example.COM ") == KiboIdentity(normalised, "me@example.com")


def test_refresh_token_only_connection_has_an_identity_without_the_token():
    identity = KiboIdentity.of_refresh_token("https://home.mozu.com", "secret-refresh-token")

    assert "secret-refresh-token" not in str(identity)
    assert identity == KiboIdentity.of_refresh_token("https://home.mozu.com/api", "secret-refresh-token")
    assert identity != KiboIdentity.of_refresh_token("https://home.mozu.com", "another-refresh-token")


def test_logging_out_at_a_previous_host_that_does_not_answer_is_one_short_attempt(
        monkeypatch, kibo_emulator, make_hook, conn_id, sleeps, caplog):
    make_hook(developer_account_id=1001).get_ticket()
    kibo_emulator.inject("delete", "drop", times=4)
    with KiboEmulator(TWO_USERS) as new_host:
        connect(monkeypatch, conn_id, new_host)

        with caplog.at_level(logging.WARNING):
            new = make_hook(clock=new_host.clock.now, developer_account_id=1001).get_ticket()

        assert new.issued_to == KiboIdentity.of(new_host.base_url, EMAIL)
    assert kibo_emulator.status_counts()["delete"] == {0: 1}, "one attempt, dropped"
    assert sleeps == [], "no backoff before going on"
    assert "Could not log out a Kibo ticket issued to developer@example.com" in caplog.text


def test_revoke_all_tickets_reaches_the_ticket_of_an_account_the_user_has_lost(kibo_emulator, make_hook, store):
    hook = make_hook()
    hook.get_ticket()
    document = requests.post(f"{kibo_emulator.base_url}/api/platform/developer/authtickets",
                             params={"developerAccountId": 1002}, json={"emailAddress": EMAIL, "password": PASSWORD},
                             timeout=5).json()
    lost = KiboDeveloperTicket.from_api(document).issued(KiboIdentity.of(kibo_emulator.base_url, EMAIL))
    store.write("1002", lost)  # as another task stored it
    kibo_emulator.remove_access(EMAIL, account_id=1002)
    assert 1002 not in hook.refresh_ticket().available_account_ids, "no stored ticket names account 1002 now"

    make_hook().revoke_all_tickets()

    assert not refresh_token_works(kibo_emulator, lost.refresh_token)
    assert kibo_emulator.live_refresh_tokens() == 0
    assert [slot for slot in store.slots() if store.read(slot)] == []


def test_revoke_all_tickets_counts_a_refresh_token_kibo_no_longer_knows_as_logged_out(kibo_emulator, make_hook):
    kibo_emulator.rotate_refresh_tokens = True
    hook = make_hook()
    for account in (1001, 1002):
        hook.for_account(account).get_ticket()  # the switch retires the refresh token 1001's ticket holds

    make_hook().revoke_all_tickets()

    assert kibo_emulator.status_counts()["delete"] == {404: 1, 200: 1}
    assert kibo_emulator.live_refresh_tokens() == 0
