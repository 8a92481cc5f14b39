"""Sending mail: ``send_mail()``, backends chosen by ``MAIL_URL``, templates, sending later.

Replaces Flask-Mail (and the "write mail to a folder" fakes apps use in tests)::

    from batteries.mail import send_mail

    send_mail(user.email, "Welcome", template="mail/welcome", context={"user": user})
    send_mail("ops@example.com", "Report", "See attached.",
              attachments=[("report.csv", data, "text/csv")], later=True)

- ``template="mail/welcome"`` renders ``mail/welcome.txt`` (the text part) and, when it exists,
  ``mail/welcome.html`` (the HTML alternative) with ``context``.
- A CR or LF in any header value (subject, addresses, attachment names) raises ``ValueError``:
  no header injection, whatever the user typed.
- ``later=True`` hands the message (as JSON) to a Celery task, ``app.celery``, that sends it
  with retries and backoff; a slow or down SMTP server never holds the request.

Backends, by ``MAIL_URL``:

- ``smtp://user:pass@host:port`` (``?starttls=true``, ``?timeout=10``, ``?cafile=/path``),
  ``smtps://...`` (TLS from the first byte, port 465 by default);
- ``console:`` (each message logged on ``app.logger``), ``file:///path`` (one ``.eml`` per
  message), ``memory:`` (kept in :func:`outbox`; the ``mail_outbox`` pytest fixture).

Unset, it is ``memory:`` under ``TESTING``, ``console:`` in debug, and otherwise ``send_mail``
raises :class:`MailError` naming ``MAIL_URL``. ``batteries check --deploy`` reports a
``console:`` or ``memory:`` backend (E030).

Config: ``MAIL_URL``, ``MAIL_DEFAULT_SENDER``, ``MAIL_TIMEOUT``.
"""

from __future__ import annotations

import logging
import os
import typing as t
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app

from .checks import Check, Found
from .config import Setting
from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from email.message import EmailMessage

    from flask import Flask

log = logging.getLogger(__name__)

MAIL_URL = Setting(
    "MAIL_URL",
    None,
    (str, type(None)),
    "where mail goes: smtp://user:pass@host:port, smtps://..., console:, file:///path, memory:",
    shown="memory: under TESTING, console: in debug, else unset (send_mail raises)",
)
MAIL_DEFAULT_SENDER = Setting(
    "MAIL_DEFAULT_SENDER",
    None,
    (str, type(None)),
    "From address of send_mail() when no sender is given",
)
MAIL_TIMEOUT = Setting(
    "MAIL_TIMEOUT", 10.0, (float, int), "seconds an SMTP server may take to answer"
)
CONFIG = (MAIL_URL, MAIL_DEFAULT_SENDER, MAIL_TIMEOUT)

#: Celery task name of ``send_mail(later=True)``.
TASK_NAME = "batteries.mail.send"
#: Retries of a message sent later, with exponential backoff (capped at ``RETRY_BACKOFF_MAX``).
MAX_RETRIES = 8
RETRY_BACKOFF_MAX = 600

Attachment: t.TypeAlias = "tuple[str, bytes | str] | tuple[str, bytes | str, str] | str | os.PathLike[str]"


class MailError(RuntimeError):
    """A message could not be sent (no backend configured, server down, refused...)."""


@dataclass
class MailState:
    """The ``memory:`` backend's outbox of one app."""

    outbox: list[EmailMessage] = field(default_factory=list)


def init_app(app: Flask) -> None:
    """Nothing to build: the backend is chosen from ``MAIL_URL`` at each send."""


def outbox(app: Flask | None = None) -> list[EmailMessage]:
    """The messages the ``memory:`` backend kept for ``app`` (default: the current app)."""
    if app is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    return state_of(app, MailState).outbox


# -- building a message ----------------------------------------------------------------------


def _clean(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"send_mail: the {name} must not contain a line break (CR or LF)")
    return value


def _addresses(name: str, value: str | t.Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [_clean(name, str(item)) for item in items if item]


def _attach(message: EmailMessage, item: t.Any) -> None:
    import mimetypes

    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        with open(path, "rb") as f:
            data: bytes | str = f.read()
        filename, mimetype = os.path.basename(path), None
    elif isinstance(item, tuple) and len(item) in (2, 3):
        filename, data = item[0], item[1]
        mimetype = item[2] if len(item) == 3 else None
    else:
        raise TypeError(
            "send_mail: an attachment is a path or a (filename, data[, mimetype]) tuple, "
            f"got {item!r}"
        )
    filename = _clean("attachment name", str(filename))
    mimetype = mimetype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    maintype, _, subtype = _clean("attachment type", mimetype).partition("/")
    if isinstance(data, str):
        if maintype == "text":
            message.add_attachment(data, subtype=subtype or "plain", filename=filename)
            return
        data = data.encode()
    message.add_attachment(
        data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename
    )


def _render(template: str, context: dict[str, t.Any]) -> tuple[str, str | None]:
    from flask import render_template
    from jinja2 import TemplateNotFound

    text = render_template(f"{template}.txt", **context)
    try:
        html: str | None = render_template(f"{template}.html", **context)
    except TemplateNotFound:
        html = None
    return text, html


def build_message(
    to: str | t.Iterable[str],
    subject: str,
    body: str | None = None,
    *,
    html: str | None = None,
    template: str | None = None,
    context: dict[str, t.Any] | None = None,
    sender: str | None = None,
    cc: str | t.Iterable[str] = (),
    bcc: str | t.Iterable[str] = (),
    reply_to: str | None = None,
    attachments: t.Iterable[t.Any] = (),
) -> EmailMessage:
    """The message :func:`send_mail` sends (needs an app context), with its ``Message-ID``."""
    from email import policy
    from email.message import EmailMessage
    from email.utils import formatdate, getaddresses, make_msgid

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if template is not None:
        body, rendered_html = _render(template, context or {})
        html = html if html is not None else rendered_html
    sender = sender or MAIL_DEFAULT_SENDER.get(app)
    if not sender:
        raise MailError(
            "send_mail: no sender; pass sender=... or set MAIL_DEFAULT_SENDER "
            "(e.g. 'Site <noreply@example.com>')."
        )
    recipients = _addresses("'to' address", to)
    if not recipients:
        raise ValueError("send_mail: no recipient ('to' is empty)")
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = _clean("subject", str(subject))
    message["From"] = _clean("sender", str(sender))
    message["To"] = ", ".join(recipients)
    if cc_list := _addresses("'cc' address", cc):
        message["Cc"] = ", ".join(cc_list)
    if bcc_list := _addresses("'bcc' address", bcc):
        message["Bcc"] = ", ".join(bcc_list)
    if reply_to:
        message["Reply-To"] = _clean("reply_to address", str(reply_to))
    message["Date"] = formatdate(localtime=False)
    domain = getaddresses([str(sender)])[0][1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body or "")
    if html is not None:
        message.add_alternative(html, subtype="html")
    for item in attachments:
        _attach(message, item)
    return message


# -- sending -------------------------------------------------------------------------------


def send_mail(
    to: str | t.Iterable[str],
    subject: str,
    body: str | None = None,
    *,
    html: str | None = None,
    template: str | None = None,
    context: dict[str, t.Any] | None = None,
    sender: str | None = None,
    cc: str | t.Iterable[str] = (),
    bcc: str | t.Iterable[str] = (),
    reply_to: str | None = None,
    attachments: t.Iterable[t.Any] = (),
    later: bool = False,
) -> str:
    """Send a message through the app's ``MAIL_URL`` backend; return its ``Message-ID``.

    ``to``, ``cc`` and ``bcc`` take one address or several. ``attachments`` are paths or
    ``(filename, data[, mimetype])`` tuples. ``later=True`` sends from a Celery task (JSON
    message, retried with backoff) and returns at once. Raises :class:`MailError` when the
    message cannot be sent (its text names ``MAIL_URL``), ``ValueError`` for a line break in a
    header value. Example::

        send_mail(user.email, "Reset your password", template="mail/reset",
                  context={"link": link}, later=True)
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    message = build_message(
        to, subject, body, html=html, template=template, context=context, sender=sender,
        cc=cc, bcc=bcc, reply_to=reply_to, attachments=attachments,
    )  # fmt: skip
    url = backend_url(app)  # fail in the request when nothing is configured, even for later
    if later:
        task = mail_task(app)
        task.apply_async(args=[message.as_string()], serializer="json")
    else:
        deliver(app, message, url)
    return str(message["Message-ID"])


def backend_url(app: Flask) -> str:
    """The ``MAIL_URL`` in force: the setting, or the default of the app's mode."""
    url = MAIL_URL.get(app)
    if url:
        return str(url)
    if app.testing:
        return "memory:"
    if app.debug:
        return "console:"
    raise MailError(
        "No mail backend: set MAIL_URL (e.g. 'smtp://user:password@smtp.example.com:587"
        "?starttls=true'; 'console:' to log messages, 'file:///path' to write .eml files)."
    )


def mask(url: str) -> str:
    """``url`` with its password hidden (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def deliver(app: Flask, message: EmailMessage, url: str | None = None) -> None:
    """Send a built ``message`` now, through ``url`` (default: the app's backend)."""
    url = url or backend_url(app)
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        state_of(app, MailState).outbox.append(message)
    elif scheme == "console":
        app.logger.info("Mail (MAIL_URL=console:)\n%s", message.as_string())
    elif scheme == "file":
        _write_file(urlsplit(url).path, message)
    elif scheme in ("smtp", "smtps"):
        _send_smtp(app, url, message)
    else:
        raise MailError(
            f"MAIL_URL {mask(url)!r}: unknown scheme {scheme!r}; use smtp://, smtps://, "
            "console:, file:///path or memory:"
        )


def _write_file(folder: str, message: EmailMessage) -> None:
    from email.utils import formatdate

    folder = unquote(folder)
    os.makedirs(folder, exist_ok=True)
    name = f"{formatdate(usegmt=True)[5:25].replace(' ', '-').replace(':', '')}-{uuid.uuid4().hex}.eml"
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(message.as_bytes())


def _send_smtp(app: Flask, url: str, message: EmailMessage) -> None:
    import smtplib
    import ssl

    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    secure = parts.scheme.lower() == "smtps"
    host = parts.hostname or "localhost"
    try:
        port = parts.port or (465 if secure else 25)
    except ValueError as exc:
        raise MailError(f"MAIL_URL {mask(url)!r}: bad port") from exc
    timeout = float(query.get("timeout") or MAIL_TIMEOUT.get(app))
    context = ssl.create_default_context(cafile=query.get("cafile") or None)
    starttls = query.get("starttls", "").lower() in ("1", "true", "yes", "on")
    where = f"the SMTP server of MAIL_URL ({mask(url)})"
    try:
        client: smtplib.SMTP
        if secure:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if starttls:
                client.starttls(context=context)
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            refused = client.send_message(message)
    except ConnectionRefusedError as exc:
        raise MailError(f"{where} refused the connection: is it running?") from exc
    except TimeoutError as exc:
        raise MailError(f"{where} did not answer within {timeout:g} seconds") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"{where} refused the user name or password: {exc.smtp_code}") from exc
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib rewraps it
            raise MailError(f"{where} did not answer within {timeout:g} seconds") from exc
        raise MailError(f"{where} failed: {exc}") from exc
    if refused:
        log.warning("Mail %s: refused recipients %s", message["Message-ID"], sorted(refused))


# -- sending later --------------------------------------------------------------------------


def _send_later(raw: str) -> str:
    """Body of the Celery task: parse the message back and deliver it in the app's context."""
    from email import policy
    from email.message import EmailMessage
    from email.parser import BytesParser

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    message = BytesParser(_class=EmailMessage, policy=policy.SMTP).parsebytes(raw.encode())
    deliver(app, message)
    return str(message["Message-ID"])


#: Options of the mail task: JSON, retried on MailError with exponential backoff and jitter.
TASK_OPTIONS: dict[str, t.Any] = {
    "name": TASK_NAME,
    "autoretry_for": (MailError,),
    "retry_backoff": True,
    "retry_backoff_max": RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": MAX_RETRIES,
    "serializer": "json",
}
_shared: list[t.Any] = []


def mail_task(app: Flask) -> t.Any:
    """The Celery task of ``send_mail(later=True)`` on ``app.celery``, registered on first use."""
    return register_task(app.celery)  # type: ignore[attr-defined]


def register_task(celery_app: t.Any) -> t.Any:
    """Register the mail task on ``celery_app`` (idempotent); return it.

    On a Celery app not finalized yet the registration waits for its finalization (Celery's
    lazy ``task()``): reading ``celery_app.tasks`` would finalize it, which opens the result
    backend (files, connections) when a Celery app is merely built.
    """
    if celery_app.finalized:
        found = celery_app.tasks.get(TASK_NAME)
        if found is not None:
            return found
    return celery_app.task(**TASK_OPTIONS)(_send_later)


def share_task() -> None:
    """Register the mail task on every Celery app of this process, now and to come.

    A worker must know the task to run it: call this at import time in a module the worker
    imports (the app's ``tasks.py``, next to its ``@shared_task`` functions)::

        from batteries.mail import share_task

        share_task()
    """
    if not _shared:
        from celery import shared_task

        _shared.append(shared_task(**TASK_OPTIONS)(_send_later))


# -- checks --------------------------------------------------------------------------------


def _backend_in_production(app: Flask) -> Found:
    # Unset is not reported: an app that sends no mail needs none, and one that does gets an
    # error naming MAIL_URL at its first send_mail().
    url = MAIL_URL.get(app)
    if not url:
        return None
    scheme = str(url).partition(":")[0].lower()
    if scheme in ("console", "memory"):
        return f"{scheme}: keeps mail on this machine; nobody receives it"
    return None


DEPLOY_CHECKS = (
    Check(
        "batteries.E030",
        "error",
        "MAIL_URL",
        "set MAIL_URL to your SMTP server, e.g. smtp://user:password@smtp.example.com:587"
        "?starttls=true",
        _backend_in_production,
    ),
)

__all__ = [
    "MailError",
    "build_message",
    "deliver",
    "outbox",
    "register_task",
    "send_mail",
    "share_task",
]
