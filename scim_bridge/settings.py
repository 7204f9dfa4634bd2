"""One frozen Settings object: defaults < config file < environment (SCIM_BRIDGE_*).

Settings are read once, by the `scim-bridge` command (``cli/``), and passed to the composition
roots (``app.py``, ``bootstrap.py``) and down from there.
Nothing else in the package reads ``os.environ`` or a configuration file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from scim_bridge.errors import ConfigError

ENV_PREFIX = "SCIM_BRIDGE_"
CONFIG_ENV = "SCIM_BRIDGE_CONFIG"

#: The DingTalk hosts of the two API families (dingtalk-api.md §1).
DINGTALK_OAPI_URL = "https://oapi.dingtalk.com"
DINGTALK_API_URL = "https://api.dingtalk.com"
#: ``SCIM_BRIDGE_DINGTALK_BASE_URL=emulator`` runs the built-in emulator.
EMULATOR = "emulator"

PASSWORD_POLICIES = ("hash", "drop")
PROFILES = ("auto", "okta", "entra", "entra-additive", "strict")


#: How ``config show`` masks a setting, declared on the field as ``metadata={"mask": ...}``:
#: "secret" shows only whether it is set, "url" hides a URL's password and secret query values,
#: "command" shows the program but not its arguments (a token may be one); "plain" says a
#: setting named like a secret holds none (``password_policy``).
MASK = "********"
#: A text setting named like this is masked as a secret even if its field forgot to say so.
_SECRET_NAME = re.compile(r"secret|token|passw|pwd|credential|api_key|dsn", re.IGNORECASE)
#: Query parameters that carry keys (a DingTalk robot webhook's access_token and sign, ...).
_SECRET_QUERY_KEY = re.compile(r"token|secret|sign|sig$|key|pass|pwd|auth|credential", re.I)
#: What the alert command inherits from our environment, and nothing else (issue 9).
ALERT_ENV_NAMES = frozenset({"PATH", "HOME", "LANG", "TZ"})
ALERT_ENV_PREFIXES = ("LC_", "SCIM_BRIDGE_ALERT_")
#: The private directory under $XDG_RUNTIME_DIR for the wake-up socket and the lock.
RUNTIME_SUBDIR = "scim-bridge"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _secret() -> Any:
    return field(default="", repr=False, metadata={"mask": "secret"})


def _url(default: str) -> Any:
    return field(default=default, metadata={"mask": "url"})


def _command() -> Any:
    return field(default="", repr=False, metadata={"mask": "command"})


@dataclass(frozen=True)
class Settings:
    """Every tunable of scim-bridge, with the default an operator gets without configuring it."""

    # Where the directory lives: a SQLite file (the default, one host) or PostgreSQL
    # (postgresql+psycopg://user:password@host/db, for several processes and hosts).
    database_url: str = _url("sqlite:///scim-bridge.db")
    # Address and port the API (and `worker`'s own /metrics) listen on; 0.0.0.0 in a container.
    host: str = "127.0.0.1"
    # The API's TCP port.
    port: int = 8000
    # gunicorn processes x threads. Several processes with few threads each, not one process
    # with many: a thread whose turn it is to write waits for the GIL behind its siblings,
    # which holds up every other writer (bench/scim_load.py: 2 x 8 writes ~20% slower than
    # 4 x 2 on two cores). 2 x CPUs, as gunicorn's documentation advises.
    workers: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1))
    # Threads per gunicorn process (gthread worker class).
    threads: int = 2
    # DEBUG, INFO, WARNING or ERROR; DEBUG also logs the traceback of an unexpected CLI error.
    log_level: str = "INFO"

    # SCIM protocol limits (RFC 7644 §3.4.2.4, §3.7; advertised in /ServiceProviderConfig).
    # The largest request body outside /Bulk, in bytes; larger ones get 413.
    max_body_bytes: int = 1024 * 1024
    # The most resources one list or search page returns (filter.maxResults).
    max_results: int = 1000
    # The page size when a client sends no `count`.
    default_count: int = 100
    # The most operations one /Bulk request may carry (bulk.maxOperations).
    bulk_max_operations: int = 1000
    # The largest /Bulk body, in bytes (bulk.maxPayloadSize).
    bulk_max_payload_bytes: int = 1024 * 1024
    # The longest filter accepted, in characters (query string or SearchRequest); longer ones
    # get 400 invalidFilter. Not advertised: RFC 7643 §5 has no field for it. 8 KiB.
    max_filter_chars: int = 8192
    # What to do with a password an IdP sends: drop it (the default: nothing reads it, people
    # sign in to DingTalk with DingTalk's own credentials), or keep a one-way scrypt hash.
    password_policy: str = field(default="drop", metadata={"mask": "plain"})  # a choice
    # Compatibility profile when a token names none: "auto" reads the User-Agent.
    default_profile: str = "auto"
    # `token rotate`: how long the replaced value keeps working (docs/security.md).
    token_rotation_overlap_hours: float = 24.0

    # DingTalk (dingtalk-api.md). The old-style API host (oapi); `emulator` runs the built-in
    # DingTalk emulator (what `make run` does when no app key is set).
    dingtalk_base_url: str = _url(DINGTALK_OAPI_URL)
    # The new-style API host (api.dingtalk.com); empty: derived from dingtalk_base_url.
    dingtalk_api_url: str = _url("")
    # The DingTalk app's AppKey (developer console, "Credentials and basic information").
    dingtalk_app_key: str = ""
    # The DingTalk app's AppSecret: a secret, keep it in the environment or a private file.
    dingtalk_app_secret: str = _secret()
    # Calls per second the DingTalk app may make (its quota); the client paces itself to it.
    dingtalk_qps: float = 20.0
    # Seconds to wait for DingTalk to accept a connection, and for an answer.
    dingtalk_connect_timeout: float = 3.05
    # Seconds to wait for DingTalk's answer once connected.
    dingtalk_read_timeout: float = 10.0

    # The mapping rules file (docs/mapping.md); empty: the default rules shipped in schemas/.
    mapping_file: str = ""
    # Run on every dead letter with the letter as JSON on stdin (e.g. a paging script). It gets
    # PATH, HOME, LANG, LC_*, TZ and SCIM_BRIDGE_ALERT_* only: none of our secrets.
    alert_command: str = _command()
    # Private (0700) directory of the wake-up socket and the translator lock. Empty: beside
    # the SQLite file, or ./.scim-bridge for PostgreSQL. load_settings() fills in
    # $XDG_RUNTIME_DIR/scim-bridge when that is set.
    runtime_dir: str = ""
    # Refuse (400 invalidValue) a user DingTalk could never accept (no or an invalid mobile,
    # no name), so the IdP's provisioning log shows why; off: accept it and dead-letter it.
    reject_unprojectable: bool = False
    # Append an audit record for every SCIM write (docs/audit.md). Off only to measure what
    # the trail costs (bench/scim_load.py --audit-compare): compliance needs it on.
    audit_enabled: bool = True
    # Issue 11 (auditdt): days the audit trail keeps records; the worker prunes older ones
    # daily, and `audit verify` verifies from the retained start (docs/audit.md, Retention).
    audit_retention_days: int = 400
    # Translator threads per worker: enough in-flight calls to keep DingTalk's quota full
    # (issue 14: a creation holds its thread ~0.3 s, limiter wait and database included, so
    # 20 QPS needs ~6 at work; 16 leaves room for a slow database or a loaded host).
    sync_threads: int = 16
    # Transient failures: attempts before the dead-letter list.
    sync_max_attempts: int = 8
    # Transient failures: the first backoff in seconds, doubling with each attempt (jittered).
    sync_backoff_base: float = 30.0

    # Observability (issue 12). /metrics in Prometheus text format; off: no bookkeeping at all.
    metrics_enabled: bool = True
    # When set, /metrics wants `Authorization: Bearer <metrics_token>` (Prometheus's
    # `authorization` scrape option); empty: open, as /healthz is.
    metrics_token: str = _secret()
    # Where `serve` keeps prometheus-client's per-process files; emptied at start. Empty: a
    # private temporary directory made at start and removed at exit.
    metrics_dir: str = ""
    # `scim-bridge worker` (run apart from `serve`) shows its own /metrics (sync lag, DingTalk
    # calls, token refreshes) on this port of `host`, with metrics_token if set; 0: not shown.
    worker_metrics_port: int = 0
    # /readyz: the translator's heartbeat must be younger than this (it beats every 20 s);
    # 0 means no worker is expected (e.g. DingTalk not configured yet).
    ready_heartbeat_seconds: float = 90.0
    # /readyz: the worker's last token refresh (every minute) must be younger than this.
    ready_token_seconds: float = 300.0

    # DingTalk contact-change events (issue 10; dingtalk-api.md §9): the HTTP push's token
    # from the app's event subscription page. This and the AES key both empty: no endpoint.
    dingtalk_callback_token: str = _secret()
    # The 43-character EncodingAESKey from the same page (a secret).
    dingtalk_callback_aes_key: str = _secret()
    # The receiver id sealed into every push: the corp id, or an internal app's app key;
    # empty: dingtalk_app_key.
    dingtalk_callback_receiver_id: str = ""
    # Refuse a push whose timestamp is further than this from our clock (a replay), seconds.
    dingtalk_callback_max_age: float = 300.0

    # Reconcile (issue 10). When the worker compares DingTalk with the directory and repairs
    # the difference: a cron expression (minute hour day month weekday, UTC); empty: never.
    reconcile_cron: str = field(default="0 2 * * *", metadata={"mask": "plain"})
    # The share of the per-second DingTalk quota a reconcile may use (the translator keeps
    # the rest), from more than 0 to 1.
    reconcile_qps_share: float = 0.5
    # DingTalk calls reconcile may make per calendar month; 0: no budget (dingtalk-api.md §8
    # lists the contacts APIs as exempt from the metered quota, but an org may still cap them).
    reconcile_monthly_call_budget: int = 0
    # How many departments an incremental run reads besides those touched since the last run
    # (a rotating slice, so every department is read in turn).
    reconcile_incremental_slice: int = 20
    # DingTalk availability and the SLA (issue 12; monitor/availability.py, docs/operations.md).
    # Off: no per-minute bookkeeping, no probe (only to measure what it costs, bench/).
    sla_enabled: bool = True
    # The contracted monthly availability, in percent.
    sla_target: float = 99.9
    # A cheap DingTalk read this often (seconds), by one process, so idle minutes are measured.
    sla_probe_seconds: float = 60.0
    # How often each process adds its in-memory counts into the minute rows (seconds).
    sla_flush_seconds: float = 5.0
    # A minute is down when more than this fraction of its DingTalk calls failed DingTalk-side
    # (5xx, timeouts, "system busy"); our own 4xx, throttling and IP ban never count.
    sla_down_ratio: float = 0.5
    # Service credits: a preset ("dingtalk-standard", "none") or "BELOW:CREDIT,..." in percent,
    # e.g. "99.9:10,99:25,95:100". The operator's contract decides, not this default.
    sla_credit_table: str = "dingtalk-standard"
    # Maintenance windows excluded from the SLA, "START/END reason; START/END reason" in ISO
    # 8601 with an offset (also `scim-bridge maintenance add`).
    sla_maintenance_windows: str = ""
    # The time zone of the monthly report the worker renders on the 1st (an IANA name).
    sla_report_tz: str = "UTC"

    # Alerts (issue 12; notify/, monitor/alert_rules.py). A DingTalk custom robot's webhook
    # (the access_token in its query is masked); empty: no robot.
    alert_dingtalk_webhook: str = _url("")
    # The secret of that robot's "sign" security setting (open.dingtalk.com custom robots, 加签).
    alert_dingtalk_secret: str = _secret()
    # A generic JSON webhook for ITSM tools (ServiceNow, ...): one POST per alert event.
    alert_webhook_url: str = _url("")
    # Where month-to-date SLA breaches go: the people who claim service credits.
    alert_escalation_webhook_url: str = _url("")
    # How often the worker evaluates the alert rules (seconds).
    alert_eval_seconds: float = 60.0
    # Oldest unapplied change older than this: warning; three times this: critical.
    alert_lag_seconds: float = 300.0
    # DingTalk availability over the rolling window (percent of measured minutes) below this:
    # a warning.
    sla_warning: float = 95.0
    # ... and below this: critical.
    sla_critical: float = 90.0
    # The rolling window of the availability alert, in minutes.
    sla_window_minutes: int = 60
    # Admin console (issue 13): /admin. Sessions are signed cookies; an idle one ends after
    # this many minutes.
    admin_session_idle_minutes: float = 30.0
    # The key that signs console sessions; empty: one generated at first use and kept in the
    # database (bridge_state), so every process and restart shares it.
    admin_session_secret: str = _secret()
    # Sign-in throttle: the window over which refused attempts are counted, in minutes.
    admin_login_window_minutes: float = 15.0
    # Refused attempts allowed per account within the window; then every attempt on it is
    # refused until the window moves on.
    admin_login_failures_per_account: int = 5
    # Refused attempts allowed per client address within the window.
    admin_login_failures_per_address: int = 20
    # Per-token rate limits (issue 14, docs/security.md): each SCIM token's requests per
    # second (GCRA, directory/rate_limits.py); beyond it, 429 with Retry-After. 0 (the
    # default): no limit; 50 suits one IdP (none provisions faster). Per token: `scim-bridge
    # token limit NAME --rate N`. Shared by every API process on PostgreSQL; per API process
    # on SQLite.
    scim_rate_per_second: float = 0.0
    # Requests a token may send at once after a quiet spell (the bucket's size).
    scim_rate_burst: int = 100
    # Requests of one token in flight at once in one API process; beyond it, 429 with
    # Retry-After: 1. 0 (the default): no cap. Per token: `token limit NAME --max-concurrent N`.
    scim_max_concurrent: int = 0
    # Issue 14 (perf): `serve`'s translator, a process of its own, gives way to the API.
    # Its nice value (0-19): when the cores are short, the kernel runs the API processes first.
    translator_nice: int = 10
    # While the API is answering requests, the translator starts at most one change per this
    # many ms (its threads wait in turn; a leaver never waits); 0: never wait. Idle, nothing
    # waits (the lag stays ~0.1 s).
    translator_yield_ms: float = 50.0

    # Scale-out (issue 14). How long a worker's claim on a change lasts without renewal (it
    # renews every third of it): a killed worker's changes are taken over after this, seconds.
    sync_lease_seconds: float = 60.0
    # How often one worker of the deployment samples the sync lag for the console (seconds).
    lag_sample_seconds: float = 60.0

    def masked(self) -> dict[str, Any]:
        """Return the settings as a dict with every secret masked, for display."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kind = f.metadata.get("mask")
            if kind is None and isinstance(value, str):
                # A setting added without a declaration is still masked by its name.
                if _SECRET_NAME.search(f.name) or "webhook" in f.name:
                    kind = "secret"
                elif f.name.endswith("_url"):
                    kind = "url"
            if kind == "secret":
                value = MASK if value else ""
            elif kind == "url":
                value = mask_url(str(value))
            elif kind == "command":
                value = mask_command(str(value))
            out[f.name] = value
        return out

    @property
    def dingtalk_v1_url(self) -> str:
        """Return the base URL of the new-style API (api.dingtalk.com, or the same host as oapi)."""
        if self.dingtalk_api_url:
            return self.dingtalk_api_url.rstrip("/")
        if self.dingtalk_base_url.rstrip("/") == DINGTALK_OAPI_URL:
            return DINGTALK_API_URL
        # A custom base (an emulator, a proxy) serves both families on one host.
        return self.dingtalk_base_url.rstrip("/")

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (validated like a loaded one)."""
        return _validated(dataclasses.replace(self, **changes))


def mask_url(url: str) -> str:
    """Hide a URL's password (scheme://user:password@host) and its secret query values."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest, qmark, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        creds, _, host = authority.rpartition("@")
        if ":" in creds:
            authority = f"{creds.split(':', 1)[0]}:{MASK}@{host}"
    if query:
        pairs = []
        for pair in query.split("&"):
            key, eq, value = pair.partition("=")
            secret = eq and value and _SECRET_QUERY_KEY.search(key)
            pairs.append(f"{key}={MASK}" if secret else pair)
        query = "&".join(pairs)
    return f"{scheme}://{authority}{slash}{path}{qmark}{query}"


def mask_url_password(url: str) -> str:
    """Hide the password of a database URL (and any secret in its query), for messages."""
    return mask_url(url)


def mask_command(command: str) -> str:
    """Show a command's program but not its arguments (a token may be one of them)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return MASK if command else ""
    if not argv:
        return ""
    return f"{argv[0]} {MASK}" if len(argv) > 1 else argv[0]


def alert_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the allow-listed environment the alert command runs with (no secrets of ours)."""
    env = os.environ if environ is None else environ
    return {
        k: v for k, v in env.items() if k in ALERT_ENV_NAMES or k.startswith(ALERT_ENV_PREFIXES)
    }


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: str | Path | None = None
) -> Settings:
    """Build Settings from defaults, then the config file, then SCIM_BRIDGE_* variables."""
    env = dict(os.environ if environ is None else environ)
    path = config_path or env.get(CONFIG_ENV) or None
    values: dict[str, Any] = {}
    if path:
        values.update(_read_config_file(Path(path)))
    known = {f.name: f for f in fields(Settings)}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in known:
            values[name] = raw
    if not values.get("runtime_dir") and env.get("XDG_RUNTIME_DIR"):
        # The freedesktop base-directory spec's per-user, 0700, tmpfs home of sockets and locks.
        values["runtime_dir"] = str(Path(env["XDG_RUNTIME_DIR"]) / RUNTIME_SUBDIR)
    return _validated(Settings(**{k: _coerce(known[k], k, v) for k, v in values.items()}))


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; fix {CONFIG_ENV} or create the file"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(
            f"config file {path}{where} is not valid YAML ({problem}); fix the syntax there"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of setting: value")
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
            f"known settings are: {', '.join(sorted(known))}"
        )
    return {str(k): v for k, v in data.items()}


def _coerce(f: dataclasses.Field[Any], name: str, value: Any) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ConfigError(
            f"setting {name} must be true or false, got {value!r}; "
            f"set {ENV_PREFIX}{name.upper()} to true or false"
        )
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"setting {name} must be a number, got {value!r}; "
            f"set {ENV_PREFIX}{name.upper()} to a number"
        ) from None
    return "" if value is None else str(value)


def _validated(settings: Settings) -> Settings:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"setting {name} {why} (set {ENV_PREFIX}{name.upper()})")

    if settings.password_policy not in PASSWORD_POLICIES:
        raise bad("password_policy", f"must be one of {', '.join(PASSWORD_POLICIES)}")
    if settings.default_profile not in PROFILES:
        raise bad("default_profile", f"must be one of {', '.join(PROFILES)}")
    for name in (
        "max_body_bytes",
        "max_results",
        "bulk_max_operations",
        "bulk_max_payload_bytes",
        "max_filter_chars",
    ):
        if getattr(settings, name) < 1:
            raise bad(name, "must be at least 1")
    if not 0 <= settings.default_count <= settings.max_results:
        raise bad("default_count", f"must be between 0 and max_results ({settings.max_results})")
    if settings.dingtalk_qps <= 0:
        raise bad("dingtalk_qps", "must be greater than 0")
    for name in ("workers", "threads", "sync_threads", "sync_max_attempts"):
        if getattr(settings, name) < 1:
            raise bad(name, "must be at least 1")
    if settings.sync_backoff_base <= 0:
        raise bad("sync_backoff_base", "must be greater than 0 (seconds)")
    if not 0 <= settings.token_rotation_overlap_hours <= 8760:
        raise bad("token_rotation_overlap_hours", "must be between 0 and 8760 (one year)")
    for name in ("admin_login_failures_per_account", "admin_login_failures_per_address"):
        if getattr(settings, name) < 1:
            raise bad(name, "must be at least 1")
    for name in ("admin_session_idle_minutes", "admin_login_window_minutes"):
        if getattr(settings, name) <= 0:
            raise bad(name, "must be greater than 0 (minutes)")
    if not 0 < settings.port < 65536:
        raise bad("port", "must be between 1 and 65535")
    if settings.dingtalk_callback_max_age <= 0:
        raise bad("dingtalk_callback_max_age", "must be greater than 0 (seconds)")
    _validate_reconcile(settings, bad)
    # SLA (issue 12): the credit table and maintenance windows are checked where they are read.
    if not 0 < settings.sla_target <= 100:
        raise bad("sla_target", "must be a percentage above 0 and at most 100")
    if settings.sla_probe_seconds < 5:
        raise bad("sla_probe_seconds", "must be at least 5 (seconds)")
    if settings.sla_flush_seconds <= 0:
        raise bad("sla_flush_seconds", "must be greater than 0 (seconds)")
    if not 0 <= settings.sla_down_ratio < 1:
        raise bad("sla_down_ratio", "must be a fraction from 0 up to (not including) 1")
    if settings.audit_retention_days < 1:  # issue 11 (auditdt): 0 would prune the whole trail
        raise bad("audit_retention_days", "must be at least 1 (days; the default is 400)")
    _validate_alerts(settings, bad)
    _validate_rate_limits(settings, bad)
    if not 0 <= settings.translator_nice <= 19:  # issue 14 (perf)
        raise bad("translator_nice", "must be between 0 and 19 (Linux nice values)")
    if not 0 <= settings.translator_yield_ms <= 1000:
        raise bad("translator_yield_ms", "must be between 0 and 1000 (milliseconds)")
    # Scale-out (issue 14): the heartbeat renews leases every third; ticks of at least 1 s.
    if settings.sync_lease_seconds < 3:
        raise bad("sync_lease_seconds", "must be at least 3 (seconds; the default is 60)")
    if settings.lag_sample_seconds < 1:
        raise bad("lag_sample_seconds", "must be at least 1 (seconds; the default is 60)")
    return settings


def _validate_rate_limits(settings: Settings, bad: Callable[[str, str], ConfigError]) -> None:
    """Check the per-token rate limits (issue 14)."""
    if not 0 <= settings.scim_rate_per_second <= 1_000_000:
        raise bad("scim_rate_per_second", "must be between 0 (no limit) and 1000000")
    if not 1 <= settings.scim_rate_burst <= 1_000_000:
        raise bad("scim_rate_burst", "must be between 1 and 1000000 (requests)")
    if not 0 <= settings.scim_max_concurrent <= 10_000:
        raise bad("scim_max_concurrent", "must be between 0 (no cap) and 10000")


def _validate_reconcile(settings: Settings, bad: Callable[[str, str], ConfigError]) -> None:
    """Check the reconcile settings (issue 10): a cron line, a share, two counts."""
    # A crontab line: minute hour day month weekday (sync/reconcile_job.py builds the trigger).
    if settings.reconcile_cron.strip() and len(settings.reconcile_cron.split()) != 5:
        raise bad("reconcile_cron", "must be a cron expression of 5 fields, e.g. '0 2 * * *'")
    if not 0 < settings.reconcile_qps_share <= 1:
        raise bad("reconcile_qps_share", "must be greater than 0 and at most 1")
    if settings.reconcile_monthly_call_budget < 0:
        raise bad("reconcile_monthly_call_budget", "must be 0 (no budget) or more")
    if settings.reconcile_incremental_slice < 0:
        raise bad("reconcile_incremental_slice", "must be 0 or more (departments)")


def _validate_alerts(settings: Settings, bad: Any) -> None:
    # Alerts (issue 12): thresholds that cannot be ordered would never fire, or always.
    for name in ("alert_eval_seconds", "alert_lag_seconds"):
        if getattr(settings, name) <= 0:
            raise bad(name, "must be greater than 0 (seconds)")
    if settings.sla_window_minutes < 1:
        raise bad("sla_window_minutes", "must be at least 1")
    for name in ("sla_warning", "sla_critical"):
        if not 0 < getattr(settings, name) <= 100:
            raise bad(name, "must be a percentage above 0 and at most 100")
    if settings.sla_critical > settings.sla_warning:
        raise bad("sla_critical", f"must not be above sla_warning ({settings.sla_warning})")
    for name in ("alert_dingtalk_webhook", "alert_webhook_url", "alert_escalation_webhook_url"):
        url = getattr(settings, name)
        if url and not url.startswith(("http://", "https://")):
            raise bad(name, "must be an http:// or https:// URL")
