"""
The life of Kibo tickets, in plain Python without Airflow: ticket values, whom they were issued to,
the kinds of ticket, and the :class:`~airflow_provider_kibo.tickets.manager.TicketManager` that keeps
them fresh in a store. The hooks (:mod:`airflow_provider_kibo.hooks`) wire it to Airflow.
"""

from __future__ import annotations

from airflow_provider_kibo.tickets.identity import KiboIdentity
from airflow_provider_kibo.tickets.values import KiboAuthTicket, KiboDeveloperTicket, KiboTenantTicket, TicketRecord

__all__ = ["KiboAuthTicket", "KiboDeveloperTicket", "KiboIdentity", "KiboTenantTicket", "TicketRecord"]
