"""Outbound alert channels: a DingTalk custom robot, ITSM and escalation webhooks, a command, log.

A port like ``dingtalk/`` (design.md): it knows nothing of SCIM or of our store. A channel takes
notices (plain data, ``message.Notice``) and returns a ``message.Delivery``; it never raises for
a failed delivery and never puts a secret or a webhook's query string into the error it reports.
"""
