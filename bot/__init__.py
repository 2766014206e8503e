"""CensorWire: a Telegram news bot about messenger blocking and internet censorship."""

__version__ = "0.1.0"
