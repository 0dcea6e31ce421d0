"""Remote storage protocols: remote write 1.0 received into a ``Storage`` (``write_receiver``,
over ``decode`` and the message types of ``proto``), and sent from the WAL to every
``remote_write`` endpoint (``write_storage`` → ``queue_manager`` over ``wal_watcher`` and
``encode``).  The HTTP endpoint that receives is ``guardia.web.remote_write``."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardia.storage.remote.decode import RemoteWriteError
    from guardia.storage.remote.write_receiver import StoreUnavailableError, WriteReceiver

__all__ = ["RemoteWriteError", "StoreUnavailableError", "WriteReceiver"]


def __getattr__(name: str) -> Any:
    """The receiving side on first use: a process that only sends (an agent) never loads the
    protobuf library the receiver decodes with."""
    if name == "RemoteWriteError":
        from guardia.storage.remote import decode

        return decode.RemoteWriteError
    if name in ("StoreUnavailableError", "WriteReceiver"):
        from guardia.storage.remote import write_receiver

        return getattr(write_receiver, name)
    raise AttributeError(f"module 'guardia.storage.remote' has no attribute {name!r}")
