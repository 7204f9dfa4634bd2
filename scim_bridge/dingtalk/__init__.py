"""The only door to DingTalk (client.py) and its faithful stand-in (emulator.py)."""
