"""Gmail through the Gmail API: Pub/Sub push in, history sync, threaded replies, watch renewal.

`watch_status(conn)` tells when the push watch expires (for `fte doctor` and the like).
"""

from fte.channels.gmail.watch import WatchStatus, watch_status

__all__ = ["WatchStatus", "watch_status"]
