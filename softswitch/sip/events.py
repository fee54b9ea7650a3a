"""Outputs of the sans-IO transaction layer (RFC 3261 §17): a command to send a message and
the events the transaction user (TU) acts on. All are immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .message import Message, Request, Response

if TYPE_CHECKING:
    from .transaction import (
        ClientTransaction,
        Peer,
        ServerInviteTransaction,
        ServerTransaction,
        Transaction,
    )

__all__ = [
    "SendMessage",
    "RequestReceived",
    "ResponseReceived",
    "AckReceived",
    "CancelReceived",
    "TransactionTimedOut",
    "TransactionTerminated",
    "StrayResponse",
    "Output",
]


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Command: put `message` on the wire towards `peer` (already serialised when it is
    `bytes`: a stored final response re-sent by a transaction)."""

    message: Message | bytes
    peer: Peer


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request (not ACK, not CANCEL) created `transaction`; the TU must answer it."""

    transaction: ServerTransaction
    request: Request


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A provisional or final response for a client transaction (RFC 6026: 2xx
    retransmissions are passed up too, unless the TU registered its ACK)."""

    transaction: ClientTransaction
    response: Response


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for a 2xx we sent (`transaction` is that INVITE server transaction), or an ACK
    that matched nothing (`transaction` None)."""

    request: Request
    transaction: ServerInviteTransaction | None


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL arrived (already answered: 200, or 481 when `transaction` is None). When
    `transaction` is set and still unanswered, the TU answers it with 487 (§9.2)."""

    request: Request
    transaction: ServerInviteTransaction | None


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """A timer ran out: "B"/"F" (no final response: the TU treats it as 408), "H" (no ACK
    for our non-2xx final), "L" (no ACK for our 2xx: the TU should end the dialog)."""

    transaction: Transaction
    timer: str


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The transaction reached Terminated and was removed from the layer."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response that matched no client transaction (e.g. a late 2xx retransmission)."""

    response: Response
    peer: Peer


Output = (
    SendMessage
    | RequestReceived
    | ResponseReceived
    | AckReceived
    | CancelReceived
    | TransactionTimedOut
    | TransactionTerminated
    | StrayResponse
)
