"""Remote storage protocols: remote write 1.0 received into a ``Storage`` (``write_receiver``,
over ``decode`` and the message types of ``proto``), and sent from the WAL to every
``remote_write`` endpoint (``write_storage`` → ``queue_manager`` over ``wal_watcher`` and
``encode``).  The HTTP endpoint that receives is ``guardia.web.remote_write``."""

from guardia.storage.remote.decode import RemoteWriteError
from guardia.storage.remote.write_receiver import StoreUnavailableError, WriteReceiver

__all__ = ["RemoteWriteError", "StoreUnavailableError", "WriteReceiver"]
