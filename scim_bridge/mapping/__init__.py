"""The mapping engine: rules + directory state -> desired DingTalk users and departments (pure)."""
