"""batteries.mail against a real SMTP server on loopback (aiosmtpd), and its other backends."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
import ssl
import subprocess
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from batteries import Batteries
from batteries.app import DEPLOY_CHECKS
from batteries.checks import run
from batteries.mail import MailError, outbox, register_task, send_mail


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping what it receives; ``delay`` makes DATA answer slowly."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, self.delay)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        self.arrived.set()
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


@pytest.fixture
def smtp():
    """Start an SMTP server on a free port: ``smtp(**controller_options) -> (inbox, port)``."""
    started: list[tuple[Controller, Inbox]] = []

    def start(delay: float = 0.0, **options) -> tuple[Inbox, int]:
        inbox = Inbox(delay)
        port = spare_port()
        controller = Controller(inbox, hostname=options.pop("hostname", "127.0.0.1"), port=port,
                                **options)  # fmt: skip
        controller.start()
        started.append((controller, inbox))
        return inbox, port

    yield start
    for controller, inbox in started:
        inbox.release.set()
        controller.stop()


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for localhost: (cert path, key path)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def mail_app(app):
    app.config["MAIL_DEFAULT_SENDER"] = "Site <noreply@example.com>"
    return app


def test_memory_backend_under_testing_keeps_the_message(mail_app, mail_outbox):
    with mail_app.app_context():
        message_id = send_mail("ann@example.com", "Hello", "Body text", cc=["cc@example.com"],
                               bcc="hidden@example.com", reply_to="help@example.com")  # fmt: skip
    [message] = mail_outbox
    assert message is outbox(mail_app)[0]
    assert message["Message-ID"] == message_id and message_id.endswith("@example.com>")
    assert message["To"] == "ann@example.com"
    assert message["Cc"] == "cc@example.com"
    assert message["Reply-To"] == "help@example.com"
    assert message["From"] == "Site <noreply@example.com>"
    assert message.get_content().strip() == "Body text"


def test_templates_give_text_and_html_parts(mail_app, tmp_path, mail_outbox):
    folder = tmp_path / "templates" / "mail"
    folder.mkdir(parents=True)
    (folder / "welcome.txt").write_text("Hi {{ name }}, welcome.")
    (folder / "welcome.html").write_text("<p>Hi {{ name }}, welcome.</p>")
    (folder / "plain.txt").write_text("Only text for {{ name }}.")
    with mail_app.app_context():
        send_mail("ann@example.com", "Welcome", template="mail/welcome", context={"name": "<Ann>"})
        send_mail("ann@example.com", "Plain", template="mail/plain", context={"name": "Ann"})
    rich, plain = mail_outbox
    assert rich.get_body(("plain",)).get_content().strip() == "Hi <Ann>, welcome."
    # The HTML part is autoescaped, like every .html template.
    assert rich.get_body(("html",)).get_content().strip() == "<p>Hi &lt;Ann&gt;, welcome.</p>"
    assert not plain.is_multipart()
    assert plain.get_content().strip() == "Only text for Ann."


def test_attachments(mail_app, tmp_path, mail_outbox):
    path = tmp_path / "notes.txt"
    path.write_text("from a file")
    with mail_app.app_context():
        send_mail("ann@example.com", "Files", "See attached.",
                  attachments=[("data.bin", b"\x00\x01\x02"), ("r.csv", "a,b\n1,2\n", "text/csv"),
                               path])  # fmt: skip
    parts = {p.get_filename(): p for p in mail_outbox[0].iter_attachments()}
    assert parts["data.bin"].get_content() == b"\x00\x01\x02"
    assert parts["data.bin"].get_content_type() == "application/octet-stream"
    assert parts["r.csv"].get_content_type() == "text/csv"
    assert parts["r.csv"].get_content().replace("\r\n", "\n") == "a,b\n1,2\n"
    assert parts["notes.txt"].get_content() == "from a file"


@pytest.mark.parametrize(
    "options",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"to": "ann@example.com\nBcc: victim@example.com"},
        {"cc": ["ok@example.com", "x@example.com\rBcc: v@example.com"]},
        {"reply_to": "a@example.com\nX: y"},
        {"sender": "a@example.com\r\nX: y"},
        {"attachments": [("a\r\nX-Evil: 1.txt", b"x")]},
    ],
)
def test_a_line_break_in_any_header_is_refused(mail_app, mail_outbox, options):
    options = {"to": "ann@example.com", "subject": "Hi", **options}
    with mail_app.app_context(), pytest.raises(ValueError, match="line break"):
        send_mail(options.pop("to"), options.pop("subject"), "body", **options)
    assert mail_outbox == []


def test_no_sender_and_no_recipient_are_clear_errors(app):
    with app.app_context():
        with pytest.raises(MailError, match="MAIL_DEFAULT_SENDER"):
            send_mail("ann@example.com", "Hi", "body")
        with pytest.raises(ValueError, match="no recipient"):
            send_mail([], "Hi", "body", sender="a@example.com")


def test_defaults_by_mode(tmp_path, caplog):
    app = Batteries("mode_app", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["MAIL_DEFAULT_SENDER"] = "a@example.com"
    with app.app_context(), pytest.raises(MailError, match="MAIL_URL"):
        send_mail("b@example.com", "Hi", "body")
    app.debug = True
    with app.app_context(), caplog.at_level(logging.INFO, logger=app.logger.name):
        send_mail("b@example.com", "Console subject", "body")
    assert "Console subject" in caplog.text
    assert not [p for p in run(app, DEPLOY_CHECKS) if p.key == "MAIL_URL"]  # it may send none
    for url, word in (("console:", "console"), ("memory:", "memory")):
        app.config["MAIL_URL"] = url
        [problem] = [p for p in run(app, DEPLOY_CHECKS) if p.key == "MAIL_URL"]
        assert problem.id == "batteries.E030" and word in problem.message
    app.config["MAIL_URL"] = "smtp://mail.example.com:587?starttls=true"
    assert not [p for p in run(app, DEPLOY_CHECKS) if p.key == "MAIL_URL"]


def test_file_backend_writes_one_eml_per_message(mail_app, tmp_path):
    folder = tmp_path / "sent mail"
    mail_app.config["MAIL_URL"] = f"file://{folder}"
    with mail_app.app_context():
        first = send_mail("a@example.com", "One", "1")
        second = send_mail("a@example.com", "Two", "2")
    files = sorted(folder.iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)
    ids = {email.message_from_bytes(f.read_bytes())["Message-ID"] for f in files}
    assert ids == {first, second}


def test_unknown_scheme_names_mail_url(mail_app):
    mail_app.config["MAIL_URL"] = "pigeon://coop"
    with mail_app.app_context(), pytest.raises(MailError, match="MAIL_URL.*pigeon"):
        send_mail("a@example.com", "Hi", "x")


# -- a real SMTP server ----------------------------------------------------------------------


def test_smtp_delivers_with_envelope_recipients(mail_app, smtp):
    inbox, port = smtp()
    mail_app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
    with mail_app.app_context():
        message_id = send_mail(["a@example.com", "b@example.com"], "Über", "Grüße ✓",
                               cc="c@example.com", bcc="secret@example.com",
                               attachments=[("x.bin", b"\xff" * 10)])  # fmt: skip
    [(mail_from, rcpt, message)] = inbox.received
    assert mail_from == "noreply@example.com"
    assert sorted(rcpt) == ["a@example.com", "b@example.com", "c@example.com", "secret@example.com"]
    assert message["Bcc"] is None  # the envelope has it, the headers do not
    assert message["Message-ID"] == message_id
    assert str(message["Subject"]) == "Über"
    assert message.get_body(("plain",)).get_content().strip() == "Grüße ✓"


def test_smtp_starttls_with_login(mail_app, smtp, certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = smtp(hostname="localhost", tls_context=context, require_starttls=True,
                       authenticator=authenticate, auth_require_tls=True)  # fmt: skip
    base = f"smtp://mailer:s3cret@localhost:{port}"
    mail_app.config["MAIL_URL"] = f"{base}?starttls=true&cafile={cert}"
    with mail_app.app_context():
        send_mail("a@example.com", "Secure", "over TLS")
    assert len(inbox.received) == 1
    # Without STARTTLS the server refuses the login.
    mail_app.config["MAIL_URL"] = base
    with mail_app.app_context(), pytest.raises(MailError, match="MAIL_URL"):
        send_mail("a@example.com", "Plain", "refused")
    # An untrusted certificate is refused.
    mail_app.config["MAIL_URL"] = f"{base}?starttls=true"
    with mail_app.app_context(), pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
        send_mail("a@example.com", "Untrusted", "x")
    assert len(inbox.received) == 1


def test_smtps(mail_app, smtp, certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = smtp(hostname="localhost", ssl_context=context)
    mail_app.config["MAIL_URL"] = f"smtps://localhost:{port}?cafile={cert}"
    with mail_app.app_context():
        send_mail("a@example.com", "TLS", "from the first byte")
    assert len(inbox.received) == 1


def test_smtp_down_is_a_clear_error_naming_mail_url(mail_app):
    mail_app.config["MAIL_URL"] = f"smtp://user:hunter2@127.0.0.1:{spare_port()}"
    with mail_app.app_context(), pytest.raises(MailError) as info:
        send_mail("a@example.com", "Hi", "x")
    text = str(info.value)
    assert "MAIL_URL" in text and "refused the connection" in text
    assert "hunter2" not in text and "***" in text


def test_slow_smtp_times_out(mail_app, smtp):
    inbox, port = smtp(delay=30)
    mail_app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}?timeout=0.5"
    with mail_app.app_context(), pytest.raises(MailError, match="did not answer within 0.5"):
        send_mail("a@example.com", "Hi", "x")


def test_later_with_a_slow_server_returns_at_once(mail_app, smtp, tmp_path):
    """The request only enqueues: the slow server is not contacted while it runs."""
    inbox, port = smtp(delay=30)
    mail_app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}?timeout=0.5"

    @mail_app.post("/signup")
    def signup():
        return send_mail("a@example.com", "Welcome", "x", later=True)

    response = mail_app.test_client().post("/signup")
    assert response.status_code == 200 and response.text.startswith("<")
    assert inbox.received == [] and not inbox.arrived.is_set()


def test_later_eager_sends_and_retries(mail_app, smtp, celery_eager, mail_outbox):
    with mail_app.app_context():
        message_id = send_mail("a@example.com", "Eager", "x", later=True)
    assert [m["Message-ID"] for m in mail_outbox] == [message_id]
    task = register_task(mail_app.celery)
    assert task.max_retries > 0 and task.retry_backoff and MailError in task.autoretry_for
    mail_app.config["MAIL_URL"] = f"smtp://127.0.0.1:{spare_port()}"
    with mail_app.app_context(), pytest.raises(Exception) as info:
        send_mail("a@example.com", "Down", "x", later=True)
    assert "MAIL_URL" in str(info.value)


WORKER_APP = '''
import os
from batteries import Batteries
from batteries.mail import share_task

share_task()  # as a tasks.py would: the worker's Celery app gets the mail task
app = Batteries(__name__, instance_path=os.environ["MAIL_INSTANCE"])
app.config["MAIL_URL"] = os.environ["MAIL_TEST_URL"]
app.config["MAIL_DEFAULT_SENDER"] = "worker@example.com"
app.config["CELERY"] = {"task_default_queue": os.environ["MAIL_QUEUE"]}
'''


@pytest.mark.slow
def test_later_real_worker_delivers_and_retries(tmp_path, smtp, monkeypatch):
    """A real worker on the embedded broker: the message is sent after the server comes up."""
    import importlib
    import sys
    import time
    import uuid

    port = spare_port()
    queue = f"mail-{uuid.uuid4().hex[:8]}"
    module = f"mailapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(WORKER_APP)
    env = {"MAIL_INSTANCE": str(tmp_path / "instance"),
           "MAIL_TEST_URL": f"smtp://127.0.0.1:{port}?timeout=2", "MAIL_QUEUE": queue}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = importlib.import_module(module).app
    with app.app_context():
        first = send_mail("a@example.com", "First try fails", "x", later=True)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "batteries", "--app", module, "worker", "-c", "1",
             "--without-mingle", "--without-gossip", "--without-heartbeat", "-Q", queue,
             "--loglevel", "INFO"],
            cwd=tmp_path, env={**__import__("os").environ}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"Retry in" not in log_path.read_bytes():  # refused: retried with backoff
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        # The server comes up on the port: the retry delivers it.
        controller = Controller(inbox := Inbox(), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert inbox.arrived.wait(90), log_path.read_text()[-3000:]
        finally:
            controller.stop()
        assert [m["Message-ID"] for _, _, m in inbox.received] == [first]
    finally:
        import os
        import signal

        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        sys.modules.pop(module, None)


def test_app_celery_knows_the_mail_task_without_share_task(mail_app):
    """A worker of app.celery runs send_mail(later=True)'s task with nothing to register."""
    assert "batteries.mail.send" in mail_app.celery.tasks
