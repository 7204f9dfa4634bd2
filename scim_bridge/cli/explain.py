"""`scim-bridge explain USER`: where one person stands on the way to DingTalk, and why."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from scim_bridge.cli.errors import DINGTALK_URL
from scim_bridge.cli.root import now, opened, settings_of
from scim_bridge.errors import BridgeError
from scim_bridge.settings import Settings

_NONE = "—"


@contextmanager
def _live_reader(ctx: click.Context, settings: Settings, live: bool) -> Iterator[Any]:
    """Yield ``find_user`` of the configured DingTalk, or a reader saying why there is none."""
    if not live:
        yield None
        return
    from scim_bridge.bootstrap import dingtalk_client, dingtalk_target

    try:
        target = dingtalk_target(settings)
    except BridgeError as exc:
        problem = exc

        def unconfigured(_userid: str) -> None:
            raise problem  # explain reports it in the DingTalk section, and goes on

        yield unconfigured
        return
    ctx.meta[DINGTALK_URL] = target.settings.dingtalk_base_url
    with dingtalk_client(target.settings) as client:
        yield client.find_user


@click.command()
@click.argument("user")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--no-live",
    is_flag=True,
    help="Do not read the person from DingTalk; compare with what the bridge last applied.",
)
@click.pass_context
def explain(ctx: click.Context, user: str, fmt: str, no_live: bool) -> None:
    """Explain where USER stands on the way to DingTalk, ending in one verdict.

    USER is a SCIM id, a userName or a DingTalk userid. The sections: the SCIM record, what
    the mapping makes of it, what DingTalk should hold and holds (one live read), the link,
    the pending change, the dead letter and the mass-change guard.

    Exit status: 0 when the person is where the mapping puts them (in DingTalk and up to
    date, removed as a leaver, or out of the mapping's scope); 1 otherwise (waiting,
    blocked, failed, paused, drift, missing, DingTalk unreadable), and for an unknown or
    ambiguous USER.
    """
    from scim_bridge.bootstrap import load_mapping
    from scim_bridge.monitor.explain import explain as explain_person

    settings = settings_of(ctx)
    rules = load_mapping(settings)
    with opened(settings) as database, _live_reader(ctx, settings, not no_live) as reader:
        result = explain_person(database, reader, settings, rules, user, now=now())
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        click.echo(render_text(result.to_dict()))
    if not result.verdict.kind.settled:
        ctx.exit(1)


# --- the text form -------------------------------------------------------------------------------


def _when(value: str | None) -> str:
    if not value:
        return _NONE
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _value(value: Any) -> str:
    if value is None or value == "":
        return _NONE
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _store(s: Mapping[str, Any]) -> list[str]:
    if not s["present"]:
        return [f"  not in the store (deleted in the IdP); SCIM id {s['scim_id']}"]
    active = "active" if s["active"] else "inactive (active=false)"
    return [
        f"  {s['user_name']} ({s['display_name'] or 'no displayName'}), {active}",
        f"  SCIM id {s['scim_id']}, externalId {_value(s['external_id'])}, IdP {s['idp']}",
        f"  created {_when(s['created'])}; last changed {_when(s['last_modified'])} "
        f"by {_value(s['modified_by'])}",
    ]


def _mapping(m: Mapping[str, Any]) -> list[str]:
    if not m["in_scope"]:
        action = m["action"] or "none"
        return [f"  not projected ({action}): {m['reason'] or 'no reason given'}"]
    lines = [f"  projected as DingTalk userid {m['userid']} ({m['action']})"]
    if m["reason"]:
        lines.append(f"  note: {m['reason']}")
    keys = ", ".join(m["departments"]) or "root"
    lines.append(f"  departments: {keys}; manager: {_value(m['manager_scim_id'])}")
    lines.extend(f"  warning: {w}" for w in m["warnings"])
    if m["missing"]:
        lines.append(f"  missing for DingTalk: {', '.join(m['missing'])}")
    return lines


def _dingtalk(d: Mapping[str, Any]) -> list[str]:
    live = d["live"]
    said = {
        "read": "read live from DingTalk",
        "absent": "DingTalk does not know this userid",
        "failed": f"could not read DingTalk: {d['live_error']}",
        "skipped": d["live_error"],
    }[live]
    lines = [f"  userid {_value(d['userid'])}: {said}"]
    should: Mapping[str, Any] = d["should"]
    if not should:
        return lines
    holds: Mapping[str, Any] = d["holds"] or {}
    differ = {x["field"]: x for x in d["differences"]}
    against = d["compared_with"] or "nothing to compare with"
    lines.append(f"  {'field':<16} {'should hold':<32} holds ({against})")
    for name in sorted(set(should) | set(differ)):
        if name in d["unknown"]:
            mark, held = "  (not created yet)", _NONE
        elif name in differ:
            mark, held = "  <- differs", _value(differ[name]["holds"])
        elif live == "read":
            mark, held = "", _value(holds.get(name))
        else:
            mark, held = "", "(same)" if d["compared_with"] else _NONE
        lines.append(f"  {name:<16} {_value(should.get(name)):<32} {held}{mark}")
    return lines


def _link(k: Mapping[str, Any] | None) -> list[str]:
    if k is None:
        return ["  none: the bridge never placed this person"]
    return [
        f"  userid {_value(k['userid'])}, state {k['state']}, last synced "
        f"{_when(k['last_synced_at'])}, attempts {k['attempts']}",
        f"  last error: {_value(k['last_error'])}",
    ]


def _pending(p: Mapping[str, Any] | None) -> list[str]:
    if p is None:
        return ["  none"]
    return [
        f"  change #{p['seq']} queued {_when(p['changed_at'])} by {_value(p['actor'])}; "
        f"first unapplied {_when(p['first_changed_at'])}",
        f"  attempts {p['attempts']} of {p['max_attempts']}; next attempt at "
        f"{_when(p['next_attempt_at'])}; waiting because: {p['why']}"
        + (f" (worker {p['worker']})" if p["worker"] else ""),
    ]


def _dead_letter(x: Mapping[str, Any] | None) -> list[str]:
    if x is None:
        return ["  none"]
    lines = [
        f"  #{x['id']} since {_when(x['created_at'])} after {x['attempts']} attempt(s), "
        f"code {_value(x['code'])}",
        f"  reason: {x['reason']}",
    ]
    if x["fix"]:
        lines.append(f"  fix: {x['fix']}")
    if x["detail"]:
        lines.append(f"  DingTalk said: {x['detail']}")
    return lines


def _guard(g: Mapping[str, Any]) -> list[str]:
    if not g["paused"]:
        return ["  not paused"]
    held = "holds this person back" if g["holds_person"] else "does not hold this person"
    return [
        f"  PAUSED since {_value(g['since'])}: {_value(g['reason'])}; {held}",
        f"  release with: scim-bridge guard confirm {g['token']}",
    ]


def render_text(e: Mapping[str, Any]) -> str:
    """Render an explanation (its to_dict form) as readable sections, the verdict last."""
    store = e["store"]
    title = store["user_name"] or store["scim_id"]
    sections = [
        (f"{title} (matched {e['asked']!r} by {e['matched_by']})", []),
        ("In the store", _store(store)),
        ("In the mapping", _mapping(e["mapping"])),
        ("In DingTalk", _dingtalk(e["dingtalk"])),
        ("Link", _link(e["link"])),
        ("Pending change", _pending(e["pending"])),
        ("Dead letter", _dead_letter(e["dead_letter"])),
        ("Mass-change guard", _guard(e["guard"])),
    ]
    out: list[str] = []
    for heading, lines in sections:
        out.append(heading)
        out.extend(lines)
    out.append("")
    out.append(f"Verdict: {e['verdict']['sentence']}")
    return "\n".join(out)


COMMANDS = (explain,)
