"""Remote storage protocols: remote write 1.0 received into a ``Storage`` (``write_receiver``,
over ``decode`` and the message types of ``proto``).  The HTTP endpoint that serves it is
``guardia.web.remote_write``; sending (remote write out) and remote read will live here too."""

from guardia.storage.remote.decode import RemoteWriteError
from guardia.storage.remote.write_receiver import StoreUnavailableError, WriteReceiver

__all__ = ["RemoteWriteError", "StoreUnavailableError", "WriteReceiver"]
