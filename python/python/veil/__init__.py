"""veil: private two-party neural-network inference, the client's side.

A :class:`Client` connects once to a veil server (``veil-server``) and answers many
queries on that session: the server learns nothing about the inputs, the client learns
the model's outputs. Keys and pins live in the same state folder as ``veil-client``'s
(``$VEIL_HOME``, else ``~/.veil``), so both trust the same servers and dealers.

Answers are dicts with the fields of ``veil-client infer --json`` (CONTRACT.md).
Errors are :class:`UsageError` (bad input or request: the command's exit code 2) or
:class:`PeerError` (a peer, the network or the protocol: exit code 1), both
:class:`VeilError`, with the command's messages.
"""

import io
import json

import numpy as np

from ._veil import Client as _Client
from ._veil import PeerError, UsageError, VeilError

__all__ = ["Client", "VeilError", "UsageError", "PeerError"]


class Client:
    """A session with one server, for one model and backend.

    ``server`` and ``dealer`` are ``host:port``; ``model`` names the model when the
    server hosts several (``None``: its only one); ``backend`` is ``"gmw"`` or ``"gc"``;
    ``dealer`` is the dealer you trust (``None``: the one the server announces, pinned
    on first contact). Connecting runs the session's setup, so a server that cannot be
    reached or does not host the model fails here.

    The first fresh query reports the session's setup; later ones report setup as zero.
    A query made ahead of time (:meth:`precompute`) is spent first, on a connection of
    its own. A failed query ends the session, and the next one opens a new session (as
    does one after the session sat idle for a minute or more: the server gives up on
    an idle client after two). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, server, model=None, backend="gmw", dealer=None):
        self._client = _Client(server, model, backend, dealer)

    def infer(self, array, label_only=False):
        """Runs one private query on ``array`` and returns the answer as a dict.

        ``array``: float32 or float64 values with the model's input shape, or any shape
        with as many elements (C order), checked as ``veil-client infer`` checks a
        ``.npy`` file. ``label_only`` asks for the label alone (no ``"logits"``).
        """
        return json.loads(self._client.infer(_npy_bytes(array), bool(label_only)))

    def precompute(self, queries, label_only=False):
        """Makes ``queries`` queries ahead of time (as ``veil-client precompute``) on
        this session; returns what was made, as a dict. :meth:`infer` spends them first
        (those made with ``label_only`` when it asks for the label alone)."""
        return json.loads(self._client.precompute(queries, bool(label_only)))

    def close(self):
        """Ends the session; the client cannot be used afterwards."""
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _npy_bytes(array):
    """The bytes of ``array`` as a ``.npy`` file, which the Rust side reads as
    ``veil-client`` reads an input file (its dtype, shape and values checked there)."""
    a = np.ascontiguousarray(array)
    if a.dtype.kind == "f" and a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    buf = io.BytesIO()
    try:
        np.save(buf, a, allow_pickle=False)
    except ValueError as e:
        raise UsageError(f"the input is not an array of numbers ({e})") from None
    return buf.getvalue()
