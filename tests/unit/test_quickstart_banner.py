"""What `make run` prints: the IdP's URL and token, the console, and how to push the sample."""

from __future__ import annotations

from scim_bridge.cli.serve import demo_command, quickstart_banner


def banner(**changes: object) -> list[str]:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 8000,
        "token": "scb_x",
        "dingtalk": "http://127.0.0.1:8900",
        "first_admin": ("admin", "pw"),
        "demo": ".venv/bin/scim-bridge demo",
        **changes,
    }
    return quickstart_banner(**values)  # type: ignore[arg-type]


def test_the_banner_names_the_demo_command_a_newcomer_can_type() -> None:
    lines = banner()
    assert "  Console       : http://127.0.0.1:8000/admin" in lines
    assert "  Console login : admin / pw" in lines
    (push,) = [line for line in lines if line.startswith("  Sample push")]
    assert ".venv/bin/scim-bridge demo" in push and "Sandbox" in push


def test_no_demo_line_beside_a_real_dingtalk_and_no_login_after_the_first_run() -> None:
    lines = banner(demo=None, first_admin=None)
    assert not [line for line in lines if "Sample push" in line or "Console login" in line]


def test_the_demo_command_is_the_program_make_run_started() -> None:
    # `make run` runs .venv/bin/scim-bridge, which is not on a newcomer's PATH.
    assert demo_command(".venv/bin/scim-bridge") == ".venv/bin/scim-bridge demo"
    assert demo_command("/opt/sb/bin/scim-bridge") == "/opt/sb/bin/scim-bridge demo"
    assert demo_command("python -m scim_bridge") == "scim-bridge demo"
