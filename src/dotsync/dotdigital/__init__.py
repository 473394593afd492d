"""dotsync's DotDigital API client (httpx): region discovery, typed models, errors mapped to
actions, retries with backoff and jitter, rate-limit waits and a throttle, call statistics."""

from dotsync.dotdigital.client import DotDigitalClient
from dotsync.dotdigital.core import DEFAULT_API_URL
from dotsync.dotdigital.models import (
    AccountInfo,
    AddressBook,
    Contact,
    ContactFailure,
    ContactsImport,
    ContactsPage,
    ContactSummary,
    DataField,
    Deletion,
    DeletionStatus,
    ImportedContact,
    ImportProgress,
    ImportStatus,
    ImportSummary,
    Suppression,
)
from dotsync.dotdigital.responses import Action, classify
from dotsync.dotdigital.retry import PollPolicy, RetryPolicy
from dotsync.dotdigital.stats import CallStats, CallStatsSnapshot

__all__ = [
    "DEFAULT_API_URL",
    "AccountInfo",
    "Action",
    "AddressBook",
    "CallStats",
    "CallStatsSnapshot",
    "Contact",
    "ContactFailure",
    "ContactSummary",
    "ContactsImport",
    "ContactsPage",
    "DataField",
    "Deletion",
    "DeletionStatus",
    "DotDigitalClient",
    "ImportProgress",
    "ImportStatus",
    "ImportSummary",
    "ImportedContact",
    "PollPolicy",
    "RetryPolicy",
    "Suppression",
    "classify",
]
