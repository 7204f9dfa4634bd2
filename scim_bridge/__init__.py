"""scim-bridge: a SCIM 2.0 service provider that projects the directory onto DingTalk."""

__version__ = "0.1.0"
