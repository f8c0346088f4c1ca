"""One SMTP transaction of a letter and what its ending means (SPEC §11, §17).

:func:`transmit` sends a letter to some of its recipients over a reused session and turns
every way it can end into an :class:`Outcome`: sent, deferred (try again later), failed, or
failed as «возможно, отправлено» when the final "." went out and the server's verdict never
came back — such a letter is never sent again on its own.
"""
from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..models import OutboxStatus
from ..services.limits import is_limit_reply
from ..services.transports import Transport
from ..smtp.check import failure_result, server_reply
from ..smtp.connection import ReplyTooLong, Watchdog
from ..smtp.settings import SmtpSettings
from .connections import Connections

#: Codes of connection failures worth retrying later.
TEMPORARY_CODES = {"dns", "refused", "timeout"}
#: The letter's end went out, the connection ended before the server's verdict (SPEC §11).
ENDED_AFTER_DOT = ("Письмо передано серверу целиком, но соединение прервалось до его ответа: "
                   "письмо могло быть доставлено. Чтобы не отправить его дважды, оно не "
                   "отправляется повторно само; проверьте у получателя и при необходимости "
                   "нажмите «Повторить».")


@dataclass
class Outcome:
    """How one transaction ended."""

    #: SENT, DEFERRED or FAILED.
    status: OutboxStatus
    error: str = ""
    reply: str = ""
    smtp_code: int | None = None
    refused: dict[str, str] = field(default_factory=dict)
    #: The connection itself failed: the transport's other letters in the batch wait.
    connect_failure: bool = False
    #: Failed after the final "." (SPEC §11); logged as ``possibly_sent``.
    possibly_sent: bool = False
    #: The server said a sending limit was hit (SPEC §17): the transport pauses.
    limit_hit: bool = False


class ClaimLost(Exception):
    """Another worker took the letter over (its lease expired): leave it alone."""


class Marking(Protocol):
    """The «sending» mark of a transaction (see :class:`.bookkeeping.Mark`)."""

    def steps(self) -> list[Callable[[], None]]: ...

    def ensure(self) -> None: ...


def _deadline(transport: Transport, size: int) -> float:
    """Wall-clock budget for one letter: three steps' timeouts plus time for its size."""
    return transport.settings.timeout * 3 + size / (100 * 1024)


def _possibly_sent(detail: str, reply: str = "") -> Outcome:
    return Outcome(OutboxStatus.FAILED, f"{ENDED_AFTER_DOT} {detail}", reply, possibly_sent=True)


def _reply_outcome(code: int, text: bytes | str, what: str, settings: SmtpSettings) -> Outcome:
    reply = server_reply(code, text, settings)
    status = OutboxStatus.DEFERRED if 400 <= code < 500 else OutboxStatus.FAILED
    return Outcome(status, f"{what} Ответ сервера: {reply}", reply, code,
                   limit_hit=is_limit_reply(code, reply))


def _all_refused(refused: dict, settings: SmtpSettings) -> Outcome:
    lines = {a: server_reply(code, text, settings) for a, (code, text) in refused.items()}
    temporary = all(400 <= code < 500 for code, _ in refused.values())
    detail = "; ".join(f"{address}: {reply}" for address, reply in lines.items())
    code = next(iter(refused.values()))[0]
    return Outcome(OutboxStatus.DEFERRED if temporary else OutboxStatus.FAILED,
                   f"Сервер отклонил всех получателей: {detail}", detail, code, lines,
                   limit_hit=any(is_limit_reply(c, r) for (c, _), r in
                                 zip(refused.values(), lines.values(), strict=True)))


def transmit(connections: Connections, transport: Transport, envelope_from: str,
             recipients: Sequence[str], raw: bytes, mark: Marking) -> Outcome:
    """Send ``raw`` to ``recipients`` through ``transport``; reconnect once if a reused
    connection died before the letter's text went out.

    ``mark``'s steps run while the server answers the envelope, and ``mark.ensure()`` after
    its go-ahead to DATA — the text goes out only once the «sending» mark is durable;
    :class:`ClaimLost` from it propagates, the session dropped.
    """
    key = (transport.type, transport.id)
    settings = transport.settings
    options = [] if envelope_from.isascii() and all(r.isascii() for r in recipients) \
        else ["SMTPUTF8"]
    for _ in range(2):
        try:
            session, reused = connections.get(transport)
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            result = failure_result(error, Watchdog(), settings)
            # A drop before any letter text went out (SPEC §11) is as temporary as a timeout.
            temporary = result.code in TEMPORARY_CODES or result.reply[:1] == "4" \
                or isinstance(error, smtplib.SMTPServerDisconnected)
            status = OutboxStatus.DEFERRED if temporary else OutboxStatus.FAILED
            return Outcome(status, result.message, result.reply, connect_failure=True,
                           limit_hit=is_limit_reply(_code(result.reply), result.reply))
        smtp = session.smtp
        session.watchdog.arm(_deadline(transport, len(raw)))
        try:
            refused = smtp.send_letter(envelope_from, list(recipients), raw, options,
                                       while_waiting=mark.steps(), before_text=mark.ensure)
        except ClaimLost:
            connections.drop(key)  # the server waits for the text: the dialogue is lost
            raise
        except smtplib.SMTPRecipientsRefused as error:
            return _all_refused(error.recipients, settings)
        except smtplib.SMTPSenderRefused as error:
            if error.smtp_code == 421 and reused:  # "closing": nothing was sent, go again
                connections.drop(key)
                continue
            return _reply_outcome(error.smtp_code, error.smtp_error,
                                  "Сервер отклонил адрес отправителя.", settings)
        except smtplib.SMTPDataError as error:
            if smtp.data_sent_dot and not 400 <= error.smtp_code < 600:
                connections.drop(key)  # not a verdict on the letter: the dialogue is lost
                reply = server_reply(error.smtp_code, error.smtp_error, settings)
                return _possibly_sent(f"Сервер ответил не по протоколу SMTP: {reply}", reply)
            return _reply_outcome(error.smtp_code, error.smtp_error,
                                  "Сервер не принял письмо.", settings)
        except smtplib.SMTPNotSupportedError:
            return Outcome(OutboxStatus.FAILED, "Сервер не поддерживает SMTPUTF8: адреса с "
                                               "не-ASCII символами через него отправить нельзя.")
        except ReplyTooLong as error:  # the session is closed already
            connections.drop(key)
            result = failure_result(error, session.watchdog, settings)
            if smtp.data_sent_dot:
                return _possibly_sent(result.message)
            return Outcome(OutboxStatus.FAILED, result.message)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            connections.drop(key)
            if reused and not session.watchdog.expired and not smtp.data_started:
                continue  # closed before the letter's text went out: one fresh try is safe
            result = failure_result(error, session.watchdog, settings)
            if smtp.data_sent_dot:
                return _possibly_sent(result.message, result.reply)
            # Before the final "." the server discards the unfinished letter: try again later.
            return Outcome(OutboxStatus.DEFERRED, "Соединение с сервером прервалось во время "
                           "отправки. " + result.message, result.reply)
        except smtplib.SMTPResponseException as error:
            return _reply_outcome(error.smtp_code, error.smtp_error, "Ошибка SMTP.", settings)
        except Exception:  # a database error in a mark step: the dialogue is out of step
            connections.drop(key)
            raise
        finally:
            session.watchdog.disarm()
            session.used_at = time.monotonic()
        code, text = smtp.last_data_reply or (None, b"")
        return Outcome(OutboxStatus.SENT, reply=server_reply(code, text, settings), smtp_code=code,
                       refused={address: server_reply(code, text, settings)
                                for address, (code, text) in refused.items()})
    return Outcome(OutboxStatus.DEFERRED, "Не удалось восстановить соединение с сервером.")


def _code(reply: str) -> int | None:
    return int(reply[:3]) if reply[:3].isdigit() else None

