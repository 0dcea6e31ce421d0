"""Certificate metrics from a finished TLS handshake, named and valued as the exporter does.

``probe_ssl_earliest_cert_expiry`` is the earliest ``notAfter`` among the certificates the
server sent; ``probe_ssl_last_chain_expiry_timestamp_seconds`` the latest expiry over the
verified chains (Go's zero time, -62135596800, when nothing was verified, as with
``insecure_skip_verify``); ``probe_ssl_last_chain_info`` describes the leaf.  TLS contexts are
built once per ``tls_config`` (loading the system CAs costs milliseconds; a probe must not).
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from guardia.config.httpclient import TLSConfig, ssl_context
from guardia.probes.result import ProbeResult

if TYPE_CHECKING:  # cryptography (14 MiB resident) loads with the first TLS probe, not at start
    from cryptography import x509

GO_ZERO_TIME = -62135596800.0
_ENCODING_DER = 2  # _ssl.ENCODING_DER: the chain accessors hand out _ssl.Certificate objects
_TLS_NAMES = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}


@lru_cache(maxsize=256)
def client_context(tls: TLSConfig | None, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    """The client context for a module's ``tls_config`` (cached: modules are immutable)."""
    ctx = ssl_context(tls)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def _name(name: x509.Name) -> str:
    return ",".join(attr.rfc4514_string() for attr in reversed(list(name)))


def _sans(cert: x509.Certificate) -> str:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ""
    names: list[str] = [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]
    return ",".join(names)


def _certs(chain: Any) -> list[x509.Certificate]:
    from cryptography import x509

    out = []
    for c in chain or ():
        der = c.public_bytes(_ENCODING_DER) if hasattr(c, "public_bytes") else c
        out.append(x509.load_der_x509_certificate(der))
    return out


def record_tls(sslobj: ssl.SSLObject | ssl.SSLSocket | None, result: ProbeResult) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    """Set the exporter's ``probe_ssl_*`` and ``probe_tls_version_info`` gauges from a handshake."""
    if sslobj is None:
        return
    inner: Any = getattr(sslobj, "_sslobj", sslobj)
    try:
        sent = _certs(inner.get_unverified_chain())
    except (AttributeError, ValueError):
        der = sslobj.getpeercert(binary_form=True)
        sent = [x509.load_der_x509_certificate(der)] if der else []
    try:
        verified = _certs(inner.get_verified_chain()) if sslobj.context.verify_mode != ssl.CERT_NONE else []
    except (AttributeError, ValueError):
        verified = []
    if sent:
        earliest = min(c.not_valid_after_utc for c in sent)
        result.set("probe_ssl_earliest_cert_expiry", earliest.timestamp())
        result.observed["certificate_expiry"] = earliest
        leaf = sent[0]
        result.set("probe_ssl_last_chain_expiry_timestamp_seconds",
                   min(c.not_valid_after_utc for c in verified).timestamp() if verified else GO_ZERO_TIME)
        result.set("probe_ssl_last_chain_info", 1, (
            ("fingerprint_sha256", leaf.fingerprint(hashes.SHA256()).hex()),
            ("issuer", _name(leaf.issuer)),
            ("subject", _name(leaf.subject)),
            ("subjectalternative", _sans(leaf)),
        ))
    version = sslobj.version()
    if version:
        result.set("probe_tls_version_info", 1, (("version", _TLS_NAMES.get(version, version)),))


def describe_ssl_error(e: BaseException, host: str) -> str:
    """A TLS failure in words that say what to fix (expired, wrong name, unknown CA)."""
    if isinstance(e, ssl.SSLCertVerificationError):
        msg = e.verify_message or str(e)
        if e.verify_code == 10:
            return f"TLS certificate of {host} has expired ({msg})"
        if e.verify_code == 62 or "Hostname mismatch" in msg:
            return f"TLS certificate is not valid for {host} ({msg})"
        if e.verify_code in (18, 19, 20, 21):
            return f"TLS certificate of {host} is signed by an unknown authority ({msg}); " \
                   "set tls_config.ca_file to its CA"
        return f"TLS certificate of {host} failed verification: {msg}"
    return f"TLS handshake with {host} failed: {e}"

