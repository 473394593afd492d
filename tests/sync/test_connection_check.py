"""Connect, check by check: what the console shows passed, and the CLI's message for the one that
failed."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from support.project import Project, profile

from dotsync.connect import CHECKS, Check
from dotsync.connection_check import connect
from dotsync.errors import AuthenticationError, NotFoundError


def test_every_check_passes_in_order(project: Project) -> None:
    project.write_profiles(profile(i) for i in range(3))
    config = project.write_config()
    passed: list[Check] = []

    outcome = connect(config, "dd", on_passed=passed.append)

    assert tuple(passed) == CHECKS
    assert outcome.report.address_book_id == project.book_id
    assert outcome.fields_created_on_export == ["TIER"]  # create_missing_data_fields = true


def test_a_typed_password_is_checked_and_refused_with_the_cli_message(project: Project) -> None:
    config = project.write_config()
    passed: list[Check] = []

    with pytest.raises(AuthenticationError) as refused:
        connect(config, "dd", on_passed=passed.append, password=SecretStr("wrong"))

    assert passed == []
    assert refused.value.message.startswith(
        "DotDigital refused the API user of connection 'dd' (Test account) (HTTP 401): "
        "check `connections.dd.api_user` and the password in the environment variable"
    )
    assert project.api_user not in refused.value.message


def test_an_unknown_book_fails_after_credentials_and_region(project: Project) -> None:
    project.book_id = 999_999
    config = project.write_config()
    passed: list[Check] = []

    with pytest.raises(NotFoundError) as missing:
        connect(config, "dd", on_passed=passed.append)

    assert passed == [Check.CREDENTIALS, Check.REGION]
    assert "the account has no address book 999999" in missing.value.message
