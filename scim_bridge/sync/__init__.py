"""The translator: claim outbox rows, diff, apply to DingTalk, back off, dead-letter."""
