"""Flask blueprints: SCIM endpoints, auth, health, metrics; http/errors.py renders SCIM errors."""
