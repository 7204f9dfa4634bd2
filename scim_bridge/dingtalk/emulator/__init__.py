"""A faithful, stateful DingTalk emulator for the sandbox, the tests and the benchmarks.

It serves both API families of dingtalk-api.md on one host — oapi (``/gettoken``, ``/topapi/*``,
``/role/*``) and v1.0 (``/v1.0/*``) — with their envelopes, token rules, QPS limits and error codes,
plus deterministic fault injection and control endpoints under ``/__emulator__/``::

    with start_emulator(EmulatorConfig(qps=0)) as running:
        requests.get(f"{running.url}/gettoken", params={"appkey": ..., "appsecret": ...})
        running.emulator.users()

Modules: ``config`` (EmulatorConfig), ``state`` (the org), ``users``/``departments``/``roles``/
``contact_v1`` (the endpoints), ``limits`` (tokens, QPS, IP bans, faults), ``wire`` (envelopes
and parameters), ``app`` (the WSGI app and control endpoints), ``server`` (threads and sockets),
``sandbox_read`` (the paged tree and people reads the console's sandbox makes; ``read_api`` is
its HTTP reader, ``sandbox_model`` the answers' types).
"""

from scim_bridge.dingtalk.emulator.app import CONTROL_PREFIX, Emulator
from scim_bridge.dingtalk.emulator.config import FAULT_KINDS, EmulatorConfig
from scim_bridge.dingtalk.emulator.server import RunningEmulator, serve_emulator, start_emulator

__all__ = [
    "CONTROL_PREFIX",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorConfig",
    "RunningEmulator",
    "serve_emulator",
    "start_emulator",
]
