"""What the request says about where it came from: core.net.client_ip (it lives in core so the
domain apps' admin can use it too); kept importable from here."""
from core.net import client_ip

__all__ = ["client_ip"]
