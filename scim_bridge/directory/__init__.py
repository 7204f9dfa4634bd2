"""The source of truth: models, the services that change users and groups, queries, migrations."""
