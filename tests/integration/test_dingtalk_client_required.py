"""A missing required field of user/create is named by the client, not read from errmsg."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, start_emulator
from scim_bridge.errors import DingTalkInvalid


@pytest.fixture
def client() -> Iterator[DingTalkClient]:
    running = start_emulator(EmulatorConfig(qps=0))
    cfg = running.emulator.config
    dingtalk = DingTalkClient(
        app_key=cfg.app_key, app_secret=cfg.app_secret, oapi_url=running.url, api_url=running.url
    )
    yield dingtalk
    dingtalk.close()
    running.stop()


def test_create_without_mobile_names_the_mobile_field(client: DingTalkClient) -> None:
    with pytest.raises(DingTalkInvalid) as caught:
        client.create_user({"userid": "nomobile", "name": "No Mobile", "dept_id_list": [1]})
    assert caught.value.reason == "40035"
    assert caught.value.field == "mobile"


def test_a_40035_on_a_field_that_was_sent_names_no_field(client: DingTalkClient) -> None:
    fields = {
        "userid": "baddate",
        "name": "Bad Date",
        "mobile": "13900001111",
        "dept_id_list": [1],
        "hired_date": -5,
    }
    with pytest.raises(DingTalkInvalid) as caught:
        client.create_user(fields)
    assert caught.value.reason == "40035"
    assert caught.value.field is None
